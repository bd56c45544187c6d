-- for each escaped root of the week $week, the communities other than its origin that its items were posted in
select
    cc.root_id,
    cc.platform,
    coalesce(cc.origin_community, $no_community) as origin_community,
    coalesce(cc.community, $no_community) as community,
    cc.items
from fct_cascade_communities as cc
inner join fct_item_spread as s on s.root_id = cc.root_id
where s.iso_week = $week and s.escaped and not cc.is_origin
order by cc.root_id, cc.items desc, community
