-- grain: one row per X item (a post_id of platform 'x'), tweets and synthetic retweets alike
-- description: X rows of stg_posts with X-specific columns (docs/sources/x.md). Retweets always point at the
--   original tweet, never at the retweet they were seen through, so a retweet cascade from the API is a star
--   (reshare_tree = 'api_star'). Retweeters listed by GET /2/tweets/:id/retweeted_by have no tweet of their own:
--   they are synthetic shares 'x:rt:<tweet id>:<user id>' whose created_at is the time the list was fetched.
-- column tweet_id: X's native tweet id; null for synthetic retweets
-- column tweet_url: link to the tweet on x.com; null for synthetic retweets
-- column is_reply: the tweet replies to another (kind = 'comment')
-- column is_retweet: a retweet, real or synthetic (share_type = 'retweet')
-- column is_quote: the tweet quotes another (share_type = 'quote'), whether it is a reply or not
-- column is_reply_quote: a reply that also quotes: it stays in its thread (parent_id) and names the quoted tweet
--   in shared_id
-- column is_synthetic_retweet: a retweeter from the retweeted_by list, not a tweet (post_id 'x:rt:...')
-- column is_created_at_upper_bound: created_at is only an upper bound (when the retweeter list was fetched),
--   true for synthetic retweets
-- column is_duplicate_retweet: a synthetic retweet whose retweeter also appears as a real retweet of the same
--   tweet; filter these out to count each retweet once
-- column reshare_tree: 'api_star' for retweets: X flattens retweets of retweets onto the original, so the
--   share tree is a star by construction
with

x_posts as (
    select * from stg_posts
    where platform = 'x'
),

real_retweets as (
    -- (retweeter, original) pairs seen as actual retweet tweets
    select distinct
        author_id,
        shared_id
    from x_posts
    where
        share_type = 'retweet'
        and post_id not like 'x:rt:%'
        and author_id is not null
),

final as (
    select
        x_posts.*,
        case when x_posts.post_id not like 'x:rt:%' then substr(x_posts.post_id, 3) end as tweet_id,
        case
            when x_posts.post_id not like 'x:rt:%'
                then 'https://x.com/i/web/status/' || substr(x_posts.post_id, 3)
        end as tweet_url,
        x_posts.kind = 'comment' as is_reply,
        coalesce(x_posts.share_type = 'retweet', false) as is_retweet,
        coalesce(x_posts.share_type = 'quote', false) as is_quote,
        x_posts.kind = 'comment' and x_posts.shared_id is not null as is_reply_quote,
        x_posts.post_id like 'x:rt:%' as is_synthetic_retweet,
        x_posts.post_id like 'x:rt:%' as is_created_at_upper_bound,
        x_posts.post_id like 'x:rt:%' and real_retweets.author_id is not null as is_duplicate_retweet,
        case when x_posts.share_type = 'retweet' then 'api_star' end as reshare_tree
    from x_posts
    left join real_retweets
        on
            x_posts.post_id like 'x:rt:%'
            and x_posts.author_id = real_retweets.author_id
            and x_posts.shared_id = real_retweets.shared_id
)

select * from final
