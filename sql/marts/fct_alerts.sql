-- grain: one row per (ISO week, series) whose value moved beyond the robust threshold that week; a series is
--   (platform, subject_kind, subject, metric): a community's items or escaped cascades (fct_weekly_trends), a
--   community pair's shared members (fct_community_overlap) or an escaped item's outsider engagers against the
--   escaped items of its origin community (fct_item_spread)
-- description: Alerts: what moved beyond its own recent baseline in a complete week. The baseline of a series is
--   its previous alerts.baseline_weeks (8) complete, non-warm-up weeks with data; robust z = (value - median) /
--   scale, scale = max(1.4826 * MAD, sqrt(max(median, 1)), 0.1 * median) (floors: the Poisson noise of a count,
--   so a series that never moved cannot alert on a change of one, and a tenth of the median, so a large steady
--   series does not alert on a change of a few percent). A row needs at least
--   alerts.min_baseline_weeks (4) baseline weeks, |robust z| >= alerts.min_z (3.5) and the value or the median
--   >= alerts.min_count (10). Weeks: only complete weeks (fct_weekly_trends.is_complete_week) out of the membership
--   warm-up (fct_weekly_trends.is_warmup: less than membership.window_days of lake coverage before the week) alert
--   or serve as baseline; the others are left out of both.
-- column iso_week: ISO week of the alert, 'YYYY-Www'
-- column week_start: Monday (UTC) of that week
-- column platform: platform of the series
-- column subject_kind: 'community', 'community_pair' or 'item'
-- column subject: the community, the pair as 'a + b' (names in alphabetical order) or the item's post_id
-- column community: the community, the pair's first community, or the item's origin community
-- column other_community: the pair's second community (null otherwise)
-- column metric: 'items' (items posted), 'escaped' (escaped cascades rooted in the community),
--   'shared_members' (members of both communities) or 'outsider_engagers' (of the item's cascade)
-- column value: the series' value that week
-- column baseline_median: median of the baseline weeks' values (items: of the baseline items' values)
-- column baseline_mad: median absolute deviation of the baseline values from their median
-- column baseline_weeks: baseline weeks with data the median and MAD are taken over
-- column robust_z: (value - baseline_median) / max(1.4826 * baseline_mad, sqrt(max(baseline_median, 1)),
--   0.1 * baseline_median); for items the same on ln(1 + x) of value and baseline, with a floor of 0.5 instead
-- column direction: 'up' or 'down'
with

settings as (
    select
        getvariable('alerts_min_z')::double as min_z,
        getvariable('alerts_baseline_weeks')::integer as baseline_weeks,
        getvariable('alerts_min_baseline_weeks')::integer as min_baseline_weeks,
        getvariable('alerts_min_count')::double as min_count
),

-- the weeks of each platform and whether they can alert / serve as baseline, from the weekly mart: complete
-- (the week ended within the lake's coverage) and out of the membership warm-up (fct_weekly_trends.is_warmup, one
-- value per platform and week)
platform_weeks as (
    select
        platform,
        week_start,
        bool_and(is_complete_week) as is_complete_week,
        bool_or(is_warmup) as is_warmup
    from fct_weekly_trends
    group by platform, week_start
),

series as (
    select platform, 'community' as subject_kind, coalesce(community, '(no community)') as subject,
        community, null::varchar as other_community, 'items' as metric, week_start, items::double as value
    from fct_weekly_trends
    union all
    select platform, 'community', coalesce(community, '(no community)'),
        community, null, 'escaped', week_start, escaped_cascades::double
    from fct_weekly_trends
    union all
    select platform, 'community_pair', community_a || ' + ' || community_b,
        community_a, community_b, 'shared_members', week_start, shared_members::double
    from fct_community_overlap
    where community_a < community_b
),

eligible as (
    select s.*, [s.value] as observed
    from series as s
    inner join platform_weeks as w using (platform, week_start)
    where w.is_complete_week and not w.is_warmup
),

-- items: each escaped root against the escaped roots of its origin community in the baseline weeks
item_weeks as (
    select
        i.platform,
        'community' as subject_kind,
        coalesce(i.origin_community, '(no community)') as subject,
        i.week_start,
        list(i.outsider_engagers::double order by i.root_id) as observed
    from fct_item_spread as i
    inner join platform_weeks as w using (platform, week_start)
    where i.escaped and w.is_complete_week and not w.is_warmup
    group by all
),

item_baselines as (
    select
        platform,
        subject,
        week_start,
        flatten(list(observed) over b) as baseline,
        count(*) over b as baseline_weeks
    from item_weeks
    window b as (
        partition by platform, subject order by week_start
        rows between (select baseline_weeks from settings) preceding and 1 preceding
    )
),

items as (
    select
        i.platform,
        'item' as subject_kind,
        i.root_id as subject,
        i.origin_community as community,
        null::varchar as other_community,
        'outsider_engagers' as metric,
        i.week_start,
        i.outsider_engagers::double as value,
        b.baseline,
        b.baseline_weeks
    from fct_item_spread as i
    inner join item_baselines as b
        on
            b.platform = i.platform
            and b.subject = coalesce(i.origin_community, '(no community)')
            and b.week_start = i.week_start
    where i.escaped
),

series_baselines as (
    select
        platform, subject_kind, subject, community, other_community, metric, week_start, value,
        flatten(list(observed) over b) as baseline,
        count(*) over b as baseline_weeks
    from eligible
    window b as (
        partition by platform, subject_kind, subject, metric order by week_start
        rows between (select baseline_weeks from settings) preceding and 1 preceding
    )
),

-- counts are compared as they are; an item's outsider engagers on a log scale (ln(1 + x)), because the sizes of
-- cascades are heavy-tailed and the largest item of most weeks would otherwise look exceptional
scored as (
    select
        *,
        list_aggregate(baseline, 'median') as baseline_median,
        case when subject_kind = 'item' then ln(1 + value) else value end as z_value,
        case
            when subject_kind = 'item' then list_transform(baseline, lambda v: ln(1 + v)) else baseline
        end as z_baseline
    from (select * from series_baselines union all by name select * from items)
),

robust as (
    select
        *,
        list_aggregate(list_transform(baseline, lambda v: abs(v - baseline_median)), 'median') as baseline_mad,
        list_aggregate(z_baseline, 'median') as z_median,
        list_aggregate(
            list_transform(z_baseline, lambda v: abs(v - list_aggregate(z_baseline, 'median'))), 'median'
        ) as z_mad
    from scored
),

final as (
    select
        strftime(r.week_start, '%G-W%V') as iso_week,
        r.week_start,
        r.platform,
        r.subject_kind,
        r.subject,
        r.community,
        r.other_community,
        r.metric,
        r.value,
        r.baseline_median,
        r.baseline_mad,
        r.baseline_weeks,
        (r.z_value - r.z_median) / greatest(
            1.4826 * r.z_mad,
            case when r.subject_kind = 'item' then 0.5 else greatest(sqrt(greatest(r.z_median, 1)), 0.1 * r.z_median) end
        ) as robust_z
    from robust as r
    cross join settings as c
    where
        r.baseline_weeks >= c.min_baseline_weeks
        and greatest(r.value, r.baseline_median) >= c.min_count
)

select
    f.*,
    case when f.robust_z > 0 then 'up' else 'down' end as direction
from final as f
cross join settings as c
where abs(f.robust_z) >= c.min_z
order by week_start, platform, subject_kind, subject, metric
