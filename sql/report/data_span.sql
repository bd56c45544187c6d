-- the first and last item of the warehouse
select min(created_at) as first_item_at, max(created_at) as last_item_at
from stg_posts
