-- stg_posts holds exactly one row per post_id
-- incremental: stg_posts by post_id
select post_id, count(*) as n
from stg_posts
group by post_id
having count(*) > 1
