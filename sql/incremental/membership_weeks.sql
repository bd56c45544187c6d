-- (platform, week) snapshots of int_membership an incremental build recomputes: every week whose window holds a
-- changed activity day, and the weeks a platform's first or last week moved over.
select distinct platform, cast(unnest(generate_series(
    cast(date_trunc('week', day) as timestamp),
    cast(date_trunc('week', day + (getvariable('membership_window_days') - 7)::integer) as timestamp),
    interval 7 day
)) as date) as week_start
from (
    select platform, cast(created_at at time zone 'UTC' as date) as day
    from ripple_delta.changed_versions
    where author_id is not null and community is not null
)
union
select n.platform, w.week_start
from ripple_delta.new_platform_weeks as n
cross join lateral (
    select cast(unnest(generate_series(
        cast(n.first_week as timestamp), cast(n.last_week as timestamp), interval 7 day
    )) as date) as week_start
) as w
left join ripple_delta.old_platform_weeks as o using (platform)
where o.platform is null or w.week_start < o.first_week or w.week_start > o.last_week
