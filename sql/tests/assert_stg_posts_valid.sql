-- every row satisfies the Post contract
-- incremental: stg_posts by post_id
select post_id, kind, share_type, created_at
from stg_posts
where kind not in ('post', 'comment', 'share')
    or (share_type is not null and share_type not in ('crosspost', 'retweet', 'quote', 'boost', 'repost'))
    or created_at is null
    or fetched_at is null
    or not starts_with(post_id, platform || ':')
