-- creation time of the newest item before $before (null when there is none)
select max(created_at) as latest
from stg_posts
where created_at < $before
