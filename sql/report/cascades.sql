-- size, depth and completeness of the cascades whose root was posted in the week $week
select platform, root_id, size, depth, is_complete, missing_parents
from fct_cascades
where iso_week = $week
order by platform, root_id
