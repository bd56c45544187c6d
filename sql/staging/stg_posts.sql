-- grain: one row per post_id (the latest fetch of each item across all sources and runs)
-- description: Every item in the lake, normalized to the Post schema and deduplicated. Re-fetches of the same item
--   (nightly revisits, overlapping imports) collapse to the most recent fetch; ties go to the later run_id.
-- column platform: platform the item comes from (reddit, x, demo, ...)
-- column post_id: globally unique id, '<platform>:<native id>'
-- column kind: post (starts a thread), comment (reply inside a thread) or share (crosspost, retweet, quote, boost)
-- column share_type: null, or crosspost / retweet / quote / boost / repost
-- column community: where it was posted (lower-case), null when the platform has none
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
with

source as (
    select * from src_posts
),

ranked as (
    select
        *,
        row_number() over (
            partition by post_id
            order by fetched_at desc, run_id desc
        ) as fetch_rank
    from source
),

final as (
    select
        platform,
        post_id,
        kind,
        share_type,
        lower(trim(community)) as community,
        author_id,
        author_name,
        parent_id,
        root_id,
        shared_id,
        created_at,
        title,
        text,
        url,
        lang,
        score,
        reply_count,
        share_count,
        coalesce(is_deleted, false) as is_deleted,
        coalesce(is_removed, false) as is_removed,
        fetched_at,
        run_id,
        source,
        cast(created_at at time zone 'UTC' as date) as date
    from ranked
    where fetch_rank = 1
)

select * from final
