-- grain: one row per (platform, community, ISO week) from the community's first to its last week with items
--   (weeks without items are present with zeros, so week-over-week changes compare adjacent weeks);
--   community is null for items without a community
-- description: Weekly activity and spread per community: items by kind, authors, cascades started, how many
--   escaped their origin, depth of the week's cascades, and the change against the previous week.
-- column platform: platform
-- column community: community (null = items without one)
-- column week_start: Monday (UTC) of the week
-- column iso_week: ISO week, 'YYYY-Www'
-- column items: items created in the community that week
-- column posts: items of kind post
-- column comments: items of kind comment
-- column shares: items of kind share
-- column unique_authors: distinct non-deleted authors of those items
-- column cascades: cascades whose root was created in the community that week
-- column escaped_cascades: of those, the ones that escaped their origin (fct_item_spread.escaped)
-- column escape_rate: escaped_cascades / cascades; null without cascades
-- column median_depth: median depth of the week's cascades
-- column p90_depth: 90th percentile of the depth of the week's cascades (continuous interpolation)
-- column escaped_median_depth: median depth of the week's escaped cascades
-- column local_median_depth: median depth of the week's cascades that did not escape
-- column items_change: items minus the previous week's items
-- column items_change_pct: items_change / previous week's items; null when the previous week had none
-- column unique_authors_change: unique_authors minus the previous week's
-- column escaped_cascades_change: escaped_cascades minus the previous week's
-- column history_days: days of lake coverage of the platform before week_start (from
--   dim_platform_coverage.coverage_start; 0 for weeks before it)
-- column is_warmup: history_days < membership.window_days: escaped_cascades and escape_rate rest on membership
--   seen over less than a full window (upper bounds); do not compare or rank these weeks as changes
-- column change_is_settled: is_complete_week, and neither this week nor the previous one is in the warm-up: the
--   *_change columns compare settled figures; the only weeks a report may rank as changes
-- column is_complete_week: the week ends (next Monday 00:00 UTC) at or before dim_platform_coverage.coverage_end;
--   false for the running week, whose counts are partial
with

items as (
    select platform, community, week_start, kind, author_id
    from int_posts
),

activity as (
    select
        platform,
        community,
        week_start,
        count(*) as items,
        count(*) filter (where kind = 'post') as posts,
        count(*) filter (where kind = 'comment') as comments,
        count(*) filter (where kind = 'share') as shares,
        count(distinct author_id) as unique_authors
    from items
    group by all
),

spread as (
    select
        platform,
        origin_community as community,
        week_start,
        count(*) as cascades,
        count(*) filter (where escaped) as escaped_cascades,
        median(depth) as median_depth,
        quantile_cont(depth, 0.9) as p90_depth,
        median(depth) filter (where escaped) as escaped_median_depth,
        median(depth) filter (where not escaped) as local_median_depth
    from fct_item_spread
    group by all
),

combined as (
    select
        coalesce(a.platform, s.platform) as platform,
        coalesce(a.community, s.community) as community,
        coalesce(a.week_start, s.week_start) as week_start,
        a.items,
        a.posts,
        a.comments,
        a.shares,
        a.unique_authors,
        s.cascades,
        s.escaped_cascades,
        s.median_depth,
        s.p90_depth,
        s.escaped_median_depth,
        s.local_median_depth
    from activity as a
    full outer join spread as s
        on
            s.platform = a.platform
            and s.community is not distinct from a.community
            and s.week_start = a.week_start
),

calendar as (
    select
        platform,
        community,
        cast(unnest(generate_series(
            cast(min(week_start) as timestamp), cast(max(week_start) as timestamp), interval 7 day
        )) as date) as week_start
    from combined
    group by platform, community
),

filled as (
    select
        cal.platform,
        cal.community,
        cal.week_start,
        coalesce(c.items, 0) as items,
        coalesce(c.posts, 0) as posts,
        coalesce(c.comments, 0) as comments,
        coalesce(c.shares, 0) as shares,
        coalesce(c.unique_authors, 0) as unique_authors,
        coalesce(c.cascades, 0) as cascades,
        coalesce(c.escaped_cascades, 0) as escaped_cascades,
        c.median_depth,
        c.p90_depth,
        c.escaped_median_depth,
        c.local_median_depth
    from calendar as cal
    left join combined as c
        on
            c.platform = cal.platform
            and c.community is not distinct from cal.community
            and c.week_start = cal.week_start
),

covered as (
    select
        f.*,
        greatest(
            0.0, (epoch(cast(f.week_start as timestamp)) - epoch(cov.coverage_start at time zone 'UTC')) / 86400.0
        ) as history_days,
        cast(f.week_start as timestamp) + interval 7 day <= cov.coverage_end at time zone 'UTC' as is_complete_week
    from filled as f
    inner join dim_platform_coverage as cov on cov.platform = f.platform
),

final as (
    select
        platform,
        community,
        week_start,
        strftime(week_start, '%G-W%V') as iso_week,
        items,
        posts,
        comments,
        shares,
        unique_authors,
        cascades,
        escaped_cascades,
        case when cascades > 0 then escaped_cascades / cascades end as escape_rate,
        median_depth,
        p90_depth,
        escaped_median_depth,
        local_median_depth,
        items - lag(items) over w as items_change,
        case
            when lag(items) over w > 0 then (items - lag(items) over w) / lag(items) over w
        end as items_change_pct,
        unique_authors - lag(unique_authors) over w as unique_authors_change,
        escaped_cascades - lag(escaped_cascades) over w as escaped_cascades_change,
        history_days,
        history_days < getvariable('membership_window_days') as is_warmup,
        is_complete_week,
        is_complete_week and history_days - 7 >= getvariable('membership_window_days') as change_is_settled
    from covered
    window w as (partition by platform, community order by week_start)
)

select * from final
