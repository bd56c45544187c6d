-- the weeks up to $week (included) with items that are in the membership warm-up on some platform
-- (fct_weekly_trends.is_warmup: less than membership.window_days of lake coverage before the week), and the
-- least history of the week $week itself; the report leaves warm-up weeks out of every comparison
select
    count(distinct iso_week) filter (where is_warmup and iso_week < $week)::bigint as earlier_warmup_weeks,
    coalesce(bool_or(is_warmup) filter (where iso_week = $week), false) as week_is_warmup,
    min(history_days) filter (where iso_week = $week) as week_history_days,
    coalesce(bool_and(change_is_settled) filter (where iso_week = $week), false) as week_change_is_settled
from fct_weekly_trends
where iso_week <= $week and items > 0
