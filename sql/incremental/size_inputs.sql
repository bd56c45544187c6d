-- The int_posts rows the recomputed int_community_size weeks read: their communities' items from the window
-- before each week to its end
select p.*
from main.int_posts as p
semi join ripple_delta.size_weeks as w
    on
        w.platform = p.platform
        and w.community = p.community
        and cast(p.created_at at time zone 'UTC' as date)
        >= w.week_start - getvariable('membership_window_days')::integer
        and cast(p.created_at at time zone 'UTC' as date) < w.week_start + 7
