-- distinct authors over all platforms in the week [$cur_start, $cur_end) and the week before (from $prev_start)
select
    count(distinct author_id) filter (where created_at >= $cur_start) as cur,
    count(distinct author_id) filter (where created_at < $cur_start) as prev
from stg_posts
where created_at >= $prev_start and created_at < $cur_end
