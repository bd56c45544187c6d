-- One row per item: stg_posts with the community filled in where the platform has none of its own
-- (cfg_detect_platforms, e.g. x and bluesky): the Leiden community of the item's author in the
-- item's ISO week (int_detected_communities, written by pipeline.communities before this layer runs). An explicit
-- community (an X Community id) always wins. Every mart reads items from here, never from stg_posts.
-- node_key is a 64-bit hash of post_id used as a compact join key by the cascade models; week_start is the Monday
-- (UTC) of the item's ISO week.
-- grain: one row per item (post_id), as stg_posts
-- description: Every item, with the community filled in from detection where the platform has none; every mart
--   reads items from here.
-- column node_key: 64-bit hash of post_id, the compact join key of the cascade models
-- column platform: platform the item comes from (reddit, x, demo, ...)
-- column post_id: globally unique id, '<platform>:<native id>'
-- column kind: post (starts a thread), comment (reply inside a thread) or share (crosspost, retweet, quote, boost)
-- column share_type: null, or crosspost / retweet / quote / boost / repost
-- column community: where it was posted (lower-case); for platforms without communities of their own, the
--   Leiden community of the author in the item's ISO week (int_detected_communities); null when none
-- column author_id: stable pseudonymous author id (keyed hash) unless pseudonymisation is off; null for deleted authors
-- column author_name: null unless pseudonymisation is off
-- column parent_id: post_id this item replies to
-- column root_id: post_id of the thread root as reported by the platform
-- column shared_id: post_id of the item this share reshares
-- column created_at: creation time (UTC)
-- column title: title (posts that have one)
-- column text: body text
-- column url: linked URL
-- column lang: language code as reported by the platform
-- column score: score as reported at fetch time
-- column reply_count: reply count as reported at fetch time
-- column share_count: share count as reported at fetch time
-- column is_deleted: deleted upstream by its author
-- column is_removed: removed upstream by a moderator or the platform
-- column fetched_at: when this version was fetched (UTC)
-- column run_id: ingest run that wrote this version
-- column source: ripple source that fetched it
-- column date: UTC date of created_at (the lake partition)
-- column is_community_detected: the community comes from Leiden detection, not from the platform
-- column week_start: Monday (UTC) of the item's ISO week
with

posts as (
    select * from stg_posts
),

detected as (
    select platform, week_start, author_id, community
    from int_detected_communities
),

final as (
    select
        md5_number_lower(p.post_id) as node_key,
        p.* replace (coalesce(p.community, d.community) as community),
        p.community is null and d.community is not null as is_community_detected,
        cast(date_trunc('week', p.created_at at time zone 'UTC') as date) as week_start
    from posts as p
    left join detected as d
        on
            d.platform = p.platform
            and d.author_id = p.author_id
            and d.week_start = cast(date_trunc('week', p.created_at at time zone 'UTC') as date)
)

select * from final
