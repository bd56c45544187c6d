-- the items of the cascades rooted at the post ids in $roots (a list), each with its tree parent (the cascade
-- walk of int_cascade_nodes: parent_id, else shared_id), depth, kind and community (int_posts), root first
select
    r.post_id as root_id,
    p.post_id,
    pp.post_id as parent_id,
    n.depth,
    p.kind,
    p.community,
    p.created_at
from int_cascade_nodes as n
inner join int_posts as p on p.node_key = n.node_key
inner join int_posts as r on r.node_key = n.root_key
left join int_posts as pp on pp.node_key = n.tree_parent_key
where r.post_id in (select unnest($roots))
order by r.post_id, n.depth, p.created_at, p.post_id
