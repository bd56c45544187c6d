-- grain: one row per platform with items in the lake
-- description: How much of each platform's history the lake covers (docs/metrics.md, "Coverage, warm-up and
--   complete weeks"). history_days and is_warmup of the weekly marts and of fct_item_spread are measured from
--   coverage_start; is_complete_week from coverage_end.
-- column platform: platform
-- column first_item_at: creation time of the platform's earliest item in the lake
-- column last_item_at: creation time of the platform's latest item in the lake
-- column coverage_start: start of the lake's coverage of the platform: the later of first_item_at and the window
--   start (since) of the first run in the run log that published data; first_item_at without a run log
-- column coverage_end: end of the lake's coverage: the later of last_item_at and the window end (until) of the
--   latest run in the run log that published data
-- column coverage_source: 'run_log' when coverage_start / coverage_end use the run log, 'items' when only the items
-- column warmup_until: coverage_start + membership.window_days: before it, membership (and so outsiders and escape)
--   is computed from less history than the membership window
-- column last_complete_week_start: Monday (UTC) of the latest ISO week that ends at or before coverage_end; null
--   when no week of the platform's data is complete
-- column last_complete_iso_week: that week, 'YYYY-Www'
with

runs as (
    select
        min(since) as first_since,
        max(until) as last_until
    from stg_runs
    where status is distinct from 'failed'
),

items as (
    select
        platform,
        min(created_at) as first_item_at,
        max(created_at) as last_item_at
    from int_posts
    group by platform
),

coverage as (
    select
        i.platform,
        i.first_item_at,
        i.last_item_at,
        greatest(i.first_item_at, coalesce(r.first_since, i.first_item_at)) as coverage_start,
        greatest(i.last_item_at, coalesce(r.last_until, i.last_item_at)) as coverage_end,
        case when r.first_since is null then 'items' else 'run_log' end as coverage_source
    from items as i
    cross join runs as r
),

final as (
    select
        platform,
        first_item_at,
        last_item_at,
        coverage_start,
        coverage_end,
        coverage_source,
        coverage_start + to_days(getvariable('membership_window_days')) as warmup_until,
        case
            when
                date_trunc('week', coverage_end at time zone 'UTC') - interval 7 day
                >= date_trunc('week', first_item_at at time zone 'UTC')
                then cast(date_trunc('week', coverage_end at time zone 'UTC') - interval 7 day as date)
        end as last_complete_week_start,
        strftime(last_complete_week_start, '%G-W%V') as last_complete_iso_week
    from coverage
)

select * from final
