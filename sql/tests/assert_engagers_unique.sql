-- one row per engager of a cascade in fct_item_engagers
-- incremental: fct_item_engagers by root_id
select root_id, engager_id, count(*) as copies
from fct_item_engagers
group by root_id, engager_id
having count(*) > 1
