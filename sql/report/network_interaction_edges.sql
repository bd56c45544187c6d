-- the edges of the interaction network of the week ($start to $end): author of an item -> author of the item it
-- replies to (parent_id) or shares (shared_id), counted per pair; self-replies and unknown authors left out
select
    i.author_id as source,
    t.author_id as target,
    count(*)::bigint as weight,
    count(*) filter (where i.parent_id is not null)::bigint as replies,
    count(*) filter (where i.parent_id is null)::bigint as shares
from int_posts as i
inner join int_posts as t on t.post_id = coalesce(i.parent_id, i.shared_id)
where
    i.created_at >= $start and i.created_at < $end
    and i.author_id is not null and t.author_id is not null and t.author_id <> i.author_id
group by all
order by source, target
