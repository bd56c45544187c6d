-- escaped cascades and all cascades per ISO week, from the week starting $start to the one before $end (the
-- summary's baseline); weeks without any cascade are left out, so the baseline counts weeks with data only
select
    iso_week,
    sum(escaped_cascades)::bigint as escaped,
    sum(cascades)::bigint as cascades
from fct_weekly_trends
where week_start >= $start and week_start < $end
group by iso_week
having sum(cascades) > 0
order by iso_week
