-- The int_community_activity rows the recomputed int_membership snapshots read: every author's days inside the
-- windows of the weeks recomputed for all, and the changed authors' days inside the windows of their weeks
select a.*
from main.int_community_activity as a
semi join ripple_delta.membership_weeks as w
    on
        w.platform = a.platform
        and cast(a.created_at at time zone 'UTC' as date)
        >= w.week_start + 7 - getvariable('membership_window_days')::integer
        and cast(a.created_at at time zone 'UTC' as date) < w.week_start + 7
union
select a.*
from main.int_community_activity as a
semi join ripple_delta.membership_keys as k
    on
        k.platform = a.platform
        and k.community = a.community
        and k.author_id = a.author_id
        and cast(a.created_at at time zone 'UTC' as date)
        >= k.week_start + 7 - getvariable('membership_window_days')::integer
        and cast(a.created_at at time zone 'UTC' as date) < k.week_start + 7
