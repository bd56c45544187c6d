-- (platform, week) snapshots of int_membership an incremental build recomputes for every author: the weeks a
-- platform's range gained (a new week, a backfill before the first one)
select n.platform, w.week_start
from ripple_delta.new_platform_weeks as n
cross join lateral (
    select cast(unnest(generate_series(
        cast(n.first_week as timestamp), cast(n.last_week as timestamp), interval 7 day
    )) as date) as week_start
) as w
left join ripple_delta.old_platform_weeks as o using (platform)
where o.platform is null or w.week_start < o.first_week or w.week_start > o.last_week
