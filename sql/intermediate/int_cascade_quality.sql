-- One row per item whose place in a cascade is doubtful: a missing or self-referencing parent (the item is still in
-- a cascade, see int_cascade_links), a parent chain that loops (the item is in no cascade) or a chain deeper than
-- cascades.max_depth (the item is cut off its cascade). Items on a loop are exactly the ones the top-down walk
-- never reaches without being below the depth limit.
-- grain: one row per (item, problem)
-- description: Items whose place in a cascade is doubtful; published as fct_cascade_quality.
-- column post_id: the item
-- column platform: its platform
-- column problem: missing_parent, self_parent, parent_cycle or depth_exceeded
-- column detail: what the build did with the item
-- column declared_parent_id: parent_id, else shared_id
-- column root_id: the cascade the item is in or was cut from; null for parent_cycle
-- column root_key: node_key of that root
with recursive

-- Every item with a tree parent that the walk did not reach is on or below a parent loop, or deeper than the limit.
-- Finding them is an anti join of all items against all reached items; when nothing was left out (the usual case)
-- the materialized one-row check empties both inputs first, so the check costs two counts instead of a join.
reach_check as materialized (
    select (select count(*) from int_cascade_nodes) < (select count(*) from int_cascade_links) as has_unreached
),

unreached as materialized (
    select
        links.node_key,
        links.tree_parent_key
    from (
        select node_key, tree_parent_key
        from int_cascade_links
        semi join reach_check on reach_check.has_unreached
        where tree_parent_key is not null
    ) as links
    anti join (
        select node_key
        from int_cascade_nodes
        semi join reach_check on reach_check.has_unreached
    ) as reached on reached.node_key = links.node_key
),

-- items below the depth limit: walk down from the items at the limit (level 0, dropped below) through the
-- unreached items only
beyond_limit (node_key, root_key, levels_below_limit) as (
    select
        node_key,
        root_key,
        0
    from int_cascade_nodes
    where depth = getvariable('cascades_max_depth')
    union all
    select
        child.node_key,
        beyond_limit.root_key,
        beyond_limit.levels_below_limit + 1
    from beyond_limit
    inner join unreached as child on child.tree_parent_key = beyond_limit.node_key
),

flagged as (
    select node_key, is_self_parent, is_thread_root_fallback
    from int_cascade_links
    where is_missing_parent or is_self_parent
),

problems as (
    select
        flagged.node_key,
        placed.root_key,
        case when flagged.is_self_parent then 'self_parent' else 'missing_parent' end as problem,
        case
            when flagged.is_thread_root_fallback then 'hung under its thread root'
            else 'starts a cascade of its own'
        end as detail
    from flagged
    left join int_cascade_nodes as placed on placed.node_key = flagged.node_key
    union all
    select
        node_key,
        root_key,
        'depth_exceeded' as problem,
        'deeper than cascades.max_depth by ' || levels_below_limit || ' level(s); cut from its cascade' as detail
    from beyond_limit
    where levels_below_limit > 0
    union all
    select
        unreached.node_key,
        null as root_key,
        'parent_cycle' as problem,
        'its parent chain loops (or hangs below a loop); in no cascade' as detail
    from unreached
    anti join beyond_limit on beyond_limit.node_key = unreached.node_key
),

final as (
    select
        posts.post_id,
        posts.platform,
        problems.problem,
        problems.detail,
        coalesce(posts.parent_id, posts.shared_id) as declared_parent_id,
        roots.post_id as root_id,
        problems.root_key
    from problems
    inner join int_posts as posts on posts.node_key = problems.node_key
    left join int_posts as roots on roots.node_key = problems.root_key
)

select * from final
