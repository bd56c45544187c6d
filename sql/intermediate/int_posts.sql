-- One row per item: stg_posts with the community filled in where the platform has none of its own
-- (cascades / communities.detect_platforms, e.g. x and bluesky): the Leiden community of the item's author in the
-- item's ISO week (int_detected_communities, written by pipeline.communities before this layer runs). An explicit
-- community (an X Community id) always wins. Every mart reads items from here, never from stg_posts.
-- node_key is a 64-bit hash of post_id used as a compact join key by the cascade models; week_start is the Monday
-- (UTC) of the item's ISO week.
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
        hash(p.post_id) as node_key,
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
