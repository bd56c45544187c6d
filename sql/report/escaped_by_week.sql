-- escaped cascades and all cascades per ISO week, from the week starting $start to the one before $end (the
-- summary's baseline); only settled weeks: complete and out of the membership warm-up (fct_weekly_trends), so
-- the baseline never compares with escape figures that rest on a partly filled membership window; weeks without
-- any cascade are left out, so the baseline counts weeks with data only
select
    iso_week,
    sum(escaped_cascades)::bigint as escaped,
    sum(cascades)::bigint as cascades
from fct_weekly_trends
where week_start >= $start and week_start < $end and is_complete_week and not is_warmup
group by iso_week
having sum(cascades) > 0
order by iso_week
