-- One row per item that counts towards community membership (docs/metrics.md, "Membership"): an item with a
-- community and a known author who is not a configured bot (cfg_bots). Posts, comments and shares all count: a
-- crosspost into a community is a post there. kth_latest_at is the creation time of the author's
-- membership.min_items-th most recent item in that community up to and including this one, so "was the author a
-- member at time t" is one as-of lookup: take the author's latest item before t and check
-- kth_latest_at >= t - membership.window_days.
-- grain: one row per item with a community and a known, non-bot author
-- description: The items that count towards community membership, with the as-of key of the membership test.
-- column platform: platform
-- column community: community the item was posted in
-- column author_id: its author
-- column post_id: the item
-- column created_at: creation time (UTC)
-- column kth_latest_at: creation time of the author's membership.min_items-th most recent item in the community
--   up to this one; the author is a member at t when their latest item before t has kth_latest_at >= t - window
with

items as (
    select post_id, platform, community, author_id, created_at
    from int_posts
    where community is not null and author_id is not null
),

humans as (
    select items.*
    from items
    anti join cfg_bots as bots on bots.platform = items.platform and bots.author_id = items.author_id
),

final as (
    select
        platform,
        community,
        author_id,
        post_id,
        created_at,
        lag(created_at, getvariable('membership_min_items') - 1) over (
            partition by platform, community, author_id
            order by created_at, post_id
        ) as kth_latest_at
    from humans
)

select * from final
