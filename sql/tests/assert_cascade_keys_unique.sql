-- node_key (a 64-bit hash of post_id) must identify one item; a collision would merge two items' cascade edges
-- incremental: int_posts by node_key
select node_key, count(*) as items
from int_posts
group by node_key
having count(*) > 1
