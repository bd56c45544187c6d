-- grain: one row per (cascade root, community) for every community that items of the cascade other than the root
--   were posted in; community is null for items without one
-- description: Where each cascade went: how many of its items (replies and reshares, the root left out) were posted
--   in each community, the origin community included and flagged. The weekly report's "went to" column and its
--   escape flows read the rows that are not the origin. Cascade membership is the one of fct_cascades.
-- column root_id: post_id of the cascade root (fct_cascades.root_id)
-- column platform: platform of the root
-- column origin_community: community the root was posted in (null when it has none)
-- column iso_week: ISO week of the root, 'YYYY-Www'
-- column community: community the items were posted in (null = items without one)
-- column is_origin: community is the origin community (both null counts as the same)
-- column items: cascade items, the root left out, posted in community
with

cascades as (
    select
        md5_number_lower(root_id) as root_key,
        root_id,
        platform,
        community as origin_community,
        iso_week
    from fct_cascades
),

cascade_items as (
    select
        nodes.root_key,
        posts.community
    from int_cascade_nodes as nodes
    inner join int_posts as posts on posts.node_key = nodes.node_key
    where nodes.depth > 0
),

final as (
    select
        c.root_id,
        c.platform,
        c.origin_community,
        c.iso_week,
        items.community,
        items.community is not distinct from c.origin_community as is_origin,
        count(*) as items
    from cascade_items as items
    inner join cascades as c on c.root_key = items.root_key
    group by all
)

select * from final
