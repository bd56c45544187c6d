-- Keys of the cascade roots whose spread rows an incremental build recomputes (or deletes): every item of a
-- recomputed cascade (old roots among them lose their rows), the cascades in which an author with changed activity
-- took part after the change (membership and home community are as-of lookups at the root's time and at the first
-- engagement), and roots whose affect scores changed (dominant emotion).
with changed_since as (
    select min(changed_from) as changed_from from ripple_delta.activity_authors
)
select node_key as root_key from ripple_delta.cascade_nodes
union
-- items of a changed author created after the change
select nodes.root_key
from main.int_posts as p
inner join ripple_delta.activity_authors as a
    on a.platform = p.platform and a.author_id = p.author_id and p.created_at > a.changed_from
inner join main.int_cascade_nodes as nodes on nodes.node_key = p.node_key
union
-- cascades started after the change that a changed author took part in
select nodes.root_key
from main.fct_cascades as c
inner join main.int_cascade_nodes as nodes on nodes.root_key = hash(c.root_id)
inner join main.int_posts as p on p.node_key = nodes.node_key
inner join ripple_delta.activity_authors as a
    on a.platform = p.platform and a.author_id = p.author_id and c.root_created_at > a.changed_from
where c.root_created_at > (select changed_from from changed_since)
union
select hash(post_id) from ripple_delta.changed_affect_items
