-- One row per item that belongs to a cascade: its root, its depth and how many reply and share hops separate it
-- from the root. Built top-down from the roots, one level per step; items on a parent cycle are never reached and
-- the walk stops at cascades.max_depth, so corrupt parent chains cannot make the build hang (they end up in
-- int_cascade_quality instead). Rows come out level by level, which keeps the table ordered by depth (the
-- bottom-up walk in int_cascade_subtrees relies on that for speed, not for correctness).
-- grain: one row per item that belongs to a cascade (node_key)
-- description: Each item's cascade root, depth and reply / share hops from the root (top-down walk).
-- column node_key: the item (int_posts.node_key)
-- column tree_parent_key: node_key of its tree parent; null for the root
-- column root_key: node_key of its cascade root
-- column depth: edges on the path from the root (0 for the root)
-- column reply_hops: reply edges on that path
-- column share_hops: share edges on that path
-- column is_share_link: the edge to its parent is a share edge
-- column is_flat_reshare: that edge is a retweet / boost / repost
-- column is_missing_parent: the declared parent is not in the data (or is the item itself)
-- column created_at: creation time of the item (UTC)
-- column author_key: 64-bit hash of author_id
-- column has_author: the item has a (non-deleted) author
with recursive

walk (
    node_key, tree_parent_key, root_key, depth, reply_hops, share_hops,
    is_share_link, is_flat_reshare, is_missing_parent, created_at, author_key, has_author
) as (
    select
        node_key,
        null::ubigint,
        node_key,
        0,
        0,
        0,
        is_share_link,
        is_flat_reshare,
        is_missing_parent,
        created_at,
        author_key,
        has_author
    from int_cascade_links
    where tree_parent_key is null
    union all
    select
        child.node_key,
        child.tree_parent_key,
        walk.root_key,
        walk.depth + 1,
        walk.reply_hops + (not child.is_share_link)::integer,
        walk.share_hops + child.is_share_link::integer,
        child.is_share_link,
        child.is_flat_reshare,
        child.is_missing_parent,
        child.created_at,
        child.author_key,
        child.has_author
    from walk
    inner join int_cascade_links as child on child.tree_parent_key = walk.node_key
    where walk.depth < getvariable('cascades_max_depth')
),

final as (
    select * from walk
)

select * from final
