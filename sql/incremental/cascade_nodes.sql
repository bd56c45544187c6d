-- Every item of a cascade the changes touch: all items of the old cascades of the seed, the seed items that exist,
-- and the items an old build cut below the depth limit of those cascades.
with old_roots as (
    select distinct root_key
    from main.int_cascade_nodes
    where node_key in (select node_key from ripple_delta.cascade_seed)
)
select node_key from main.int_cascade_nodes where root_key in (select root_key from old_roots)
union
select node_key from main.int_posts where node_key in (select node_key from ripple_delta.cascade_seed)
union
select hash(post_id) from main.int_cascade_quality where root_key in (select root_key from old_roots)
