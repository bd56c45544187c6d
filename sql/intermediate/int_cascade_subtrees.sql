-- One row per cascade node: the size of its subtree (itself plus all its descendants).
-- Computed bottom-up one level at a time: every child sits exactly one level below its parent, so once level d is
-- final, summing it by parent finalizes level d - 1. Each step touches two levels only, so the total work is
-- linear in the number of nodes: a 5,000-deep chain costs 5,000 small steps instead of the 12.5 million
-- (node, ancestor) pairs an ancestor expansion would produce.
-- grain: one row per cascade node (node_key)
-- description: Subtree size of every cascade node (bottom-up walk), the input of the Wiener index.
-- column node_key: the item (int_posts.node_key)
-- column root_key: node_key of its cascade root
-- column depth: its depth in the cascade
-- column subtree_size: the item plus all its descendants
with recursive

climb (node_key, tree_parent_key, root_key, depth, subtree_size) as (
    select
        node_key,
        tree_parent_key,
        root_key,
        depth,
        1::bigint
    from int_cascade_nodes
    where depth = (select max(depth) from int_cascade_nodes)
    union all
    select
        node.node_key,
        node.tree_parent_key,
        node.root_key,
        node.depth,
        1 + coalesce(below.size_below, 0)::bigint
    from int_cascade_nodes as node
    inner join (select min(depth) - 1 as depth from climb) as level on node.depth = level.depth
    left join (
        select tree_parent_key, sum(subtree_size) as size_below
        from climb
        group by tree_parent_key
    ) as below on below.tree_parent_key = node.node_key
),

final as (
    select node_key, root_key, depth, subtree_size from climb
)

select * from final
