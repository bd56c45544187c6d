-- the edges of the community-flow network of the week $week: origin community -> every other community the items
-- of a cascade rooted that week were posted in (fct_cascade_communities); weight: cascades that travelled that
-- way, items: their items posted there, escaped: how many of those cascades escaped (fct_item_spread)
select
    c.platform || ':' || coalesce(c.origin_community, $no_community) as source,
    c.platform || ':' || coalesce(c.community, $no_community) as target,
    count(*)::bigint as weight,
    sum(c.items)::bigint as items,
    count(*) filter (where s.escaped)::bigint as escaped
from fct_cascade_communities as c
inner join fct_item_spread as s on s.root_id = c.root_id
where c.iso_week = $week and not c.is_origin
group by all
order by source, target
