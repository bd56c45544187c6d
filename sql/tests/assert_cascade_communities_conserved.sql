-- every item of a cascade but its root is counted in exactly one community of fct_cascade_communities
with

placed as (
    select root_id, sum(items) as items
    from fct_cascade_communities
    group by root_id
)

select c.root_id, c.size, coalesce(p.items, 0) as placed_items
from fct_cascades as c
left join placed as p on p.root_id = c.root_id
where c.size - 1 <> coalesce(p.items, 0)
