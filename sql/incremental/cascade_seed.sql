-- The items whose cascade an incremental build recomputes start from here: every changed item (old or new
-- version), the declared parent and thread root of each (a late reply joins its parent's cascade), and every
-- orphan whose missing parent or thread root has just arrived.
select node_key from ripple_delta.changed_nodes
union
select hash(coalesce(parent_id, shared_id)) from ripple_delta.changed_versions
where coalesce(parent_id, shared_id) is not null
union
select hash(root_id) from ripple_delta.changed_versions where root_id is not null
union
select orphans.node_key
from (select node_key from main.int_cascade_links where is_missing_parent) as orphans
inner join main.int_posts as posts on posts.node_key = orphans.node_key
where hash(coalesce(posts.parent_id, posts.shared_id)) in (select node_key from ripple_delta.changed_nodes)
    or hash(posts.root_id) in (select node_key from ripple_delta.changed_nodes)
