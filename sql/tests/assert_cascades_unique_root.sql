-- every cascade root appears once in fct_cascades and in fct_item_spread, and the two marts hold the same roots
select root_id, 'duplicate in fct_cascades' as problem
from fct_cascades
group by root_id
having count(*) > 1
union all
select root_id, 'duplicate in fct_item_spread' as problem
from fct_item_spread
group by root_id
having count(*) > 1
union all
select root_id, 'in fct_cascades only' as problem
from (select root_id from fct_cascades except select root_id from fct_item_spread)
union all
select root_id, 'in fct_item_spread only' as problem
from (select root_id from fct_item_spread except select root_id from fct_cascades)
