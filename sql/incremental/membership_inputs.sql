-- The int_community_activity rows the recomputed int_membership weeks read: the days inside their windows
select a.*
from main.int_community_activity as a
semi join ripple_delta.membership_weeks as w
    on
        w.platform = a.platform
        and cast(a.created_at at time zone 'UTC' as date)
        >= w.week_start + 7 - getvariable('membership_window_days')::integer
        and cast(a.created_at at time zone 'UTC' as date) < w.week_start + 7
