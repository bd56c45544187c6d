-- grain: one row per Bluesky item (a post_id of platform 'bluesky'): posts, replies, quotes and reposts
-- description: Bluesky rows of stg_posts with Bluesky-specific columns (docs/sources/bluesky.md). Post ids are
--   'bluesky:<at-uri>'. A repost always points at the post it reposts (the record's subject), never at the
--   repost it was seen through, so a repost cascade is a star (reshare_tree = 'api_star'). Reposters listed by
--   app.bsky.feed.getRepostedBy (and reposts seen in feeds) have no record of their own in those answers: they
--   are synthetic shares 'bluesky:repost:<subject at-uri>:<did>' whose created_at is the time the list was
--   fetched (for feeds: when the AppView indexed the repost). Reposts read from Jetstream are real records
--   ('bluesky:at://<did>/app.bsky.feed.repost/<rkey>').
-- column at_uri: the item's AT URI; null for synthetic reposts
-- column did: the DID of the repository the item lives in (its author) as written in the AT URI; null for
--   synthetic reposts. Pseudonymisation does not reach into ids: filter on author_id to count people.
-- column rkey: the record key (a TID that encodes the creation time); null for synthetic reposts
-- column is_reply: the post replies to another (kind = 'comment')
-- column is_repost: a repost, real or synthetic (share_type = 'repost')
-- column is_quote: the post quotes another (share_type = 'quote'), whether it is a reply or not
-- column is_reply_quote: a reply that also quotes: it stays in its thread (parent_id) and names the quoted post
--   in shared_id
-- column is_synthetic_repost: a reposter from the getRepostedBy list, not a record (post_id 'bluesky:repost:...')
-- column is_created_at_upper_bound: created_at is only an upper bound (when the reposter list was fetched),
--   true for synthetic reposts
-- column is_duplicate_repost: a synthetic repost whose reposter also appears as a real repost of the same post;
--   filter these out to count each repost once
-- column reshare_tree: 'api_star' for reposts: a repost names the original post, so the share tree is a star
with

bluesky_posts as (
    select * from stg_posts
    where platform = 'bluesky'
),

real_reposts as (
    -- (reposter, original) pairs seen as repost records
    select distinct
        author_id,
        shared_id
    from bluesky_posts
    where
        share_type = 'repost'
        and post_id not like 'bluesky:repost:%'
        and author_id is not null
),

final as (
    select
        bluesky_posts.*,
        case
            when bluesky_posts.post_id not like 'bluesky:repost:%' then substr(bluesky_posts.post_id, 9)
        end as at_uri,
        case
            when bluesky_posts.post_id not like 'bluesky:repost:%'
                then split_part(substr(bluesky_posts.post_id, 14), '/', 1)
        end as did,
        case
            when bluesky_posts.post_id not like 'bluesky:repost:%'
                then split_part(substr(bluesky_posts.post_id, 14), '/', 3)
        end as rkey,
        bluesky_posts.kind = 'comment' as is_reply,
        coalesce(bluesky_posts.share_type = 'repost', false) as is_repost,
        coalesce(bluesky_posts.share_type = 'quote', false) as is_quote,
        bluesky_posts.kind = 'comment' and bluesky_posts.shared_id is not null as is_reply_quote,
        bluesky_posts.post_id like 'bluesky:repost:%' as is_synthetic_repost,
        bluesky_posts.post_id like 'bluesky:repost:%' as is_created_at_upper_bound,
        bluesky_posts.post_id like 'bluesky:repost:%' and real_reposts.author_id is not null as is_duplicate_repost,
        case when bluesky_posts.share_type = 'repost' then 'api_star' end as reshare_tree
    from bluesky_posts
    left join real_reposts
        on
            bluesky_posts.post_id like 'bluesky:repost:%'
            and bluesky_posts.author_id = real_reposts.author_id
            and bluesky_posts.shared_id = real_reposts.shared_id
)

select * from final
