-- items created in [$start, $end)
select count(*) as items
from stg_posts
where created_at >= $start and created_at < $end
