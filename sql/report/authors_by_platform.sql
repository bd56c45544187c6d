-- distinct authors per platform in the week [$cur_start, $cur_end) and the week before (from $prev_start); they do
-- not add up over communities, so they are counted again here
select
    platform,
    count(distinct author_id) filter (where created_at >= $cur_start) as unique_authors,
    count(distinct author_id) filter (where created_at < $cur_start) as unique_authors_prev_week
from int_posts
where created_at >= $prev_start and created_at < $cur_end
group by platform
