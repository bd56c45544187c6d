-- the communities of the community-flow network of the week $week (fct_weekly_trends; $no_community names items
-- without one): items posted, cascades rooted and how many escaped; communities with neither items nor cascades
-- that week are left out unless an edge reaches them (see network_flow_edges.sql)
select
    platform || ':' || coalesce(community, $no_community) as id,
    platform,
    coalesce(community, $no_community) as community,
    items::bigint as items,
    cascades::bigint as cascades,
    escaped_cascades::bigint as escaped_cascades
from fct_weekly_trends
where iso_week = $week and (items > 0 or cascades > 0)
order by id
