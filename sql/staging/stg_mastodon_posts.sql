-- grain: one row per Mastodon item (a post_id of platform 'mastodon'): statuses, replies, quotes and boosts
-- description: Mastodon rows of stg_posts with Mastodon-specific columns (docs/sources/mastodon.md). Post ids are
--   'mastodon:<uri>', the status's canonical ActivityPub uri, so the same status seen from several instances is one
--   item. A boost always points at the status it boosts, never at a boost it was seen through, so a boost cascade is
--   a star (reshare_tree = 'api_star'). Rebloggers listed by /api/v1/statuses/:id/reblogged_by have no status of
--   their own in that answer: they are synthetic boosts 'mastodon:boost:<uri>:<user@instance>' whose created_at is
--   the time the list was fetched. A parent named only by a local id that could not be resolved is kept as
--   'mastodon:local:<fetching instance>/<local id>'.
-- column uri: the status's ActivityPub uri; null for synthetic boosts
-- column instance: the server the item comes from: the host of its uri (for synthetic boosts: the reblogger's
--   home instance). With community = "instance" this equals community; with "detected" it still names the server.
-- column is_reply: the status replies to another (kind = 'comment')
-- column is_boost: a boost, a reblog wrapper or a synthetic one (share_type = 'boost')
-- column is_quote: the status quotes another (an accepted Mastodon 4.5 quote), whether it is a reply or not
-- column is_reply_quote: a reply that also quotes: it stays in its thread (parent_id) and names the quoted status
--   in shared_id
-- column is_synthetic_boost: a reblogger from the reblogged_by list, not a status (post_id 'mastodon:boost:...')
-- column is_created_at_upper_bound: created_at is only an upper bound (when the reblogger list was fetched)
-- column is_bridged: the item comes from a bridge into the fediverse (bsky.brid.gy, web.brid.gy, fed.brid.gy):
--   a Bluesky or web post mirrored by Bridgy Fed, not written on Mastodon; exclude or follow these
-- column is_parent_unresolved: parent_id is a local id of the fetching instance that could not be resolved to a
--   canonical uri (the parent was deleted, hidden or beyond parent_budget); the thread link is kept but will not
--   join another item
-- column reshare_tree: 'api_star' for boosts: a boost names the original status, so the share tree is a star
with

mastodon_posts as (
    select * from stg_posts
    where platform = 'mastodon'
),

final as (
    select
        mastodon_posts.*,
        case
            when mastodon_posts.post_id not like 'mastodon:boost:%' then substr(mastodon_posts.post_id, 10)
        end as uri,
        lower(
            case
                when mastodon_posts.post_id like 'mastodon:boost:%'
                    then regexp_extract(mastodon_posts.post_id, '@([^@:/]+)$', 1)
                else regexp_extract(mastodon_posts.post_id, '^mastodon:[a-z]+://([^/:]+)', 1)
            end
        ) as instance,
        mastodon_posts.kind = 'comment' as is_reply,
        coalesce(mastodon_posts.share_type = 'boost', false) as is_boost,
        coalesce(mastodon_posts.share_type = 'quote', false) as is_quote,
        mastodon_posts.kind = 'comment' and mastodon_posts.shared_id is not null as is_reply_quote,
        mastodon_posts.post_id like 'mastodon:boost:%' as is_synthetic_boost,
        mastodon_posts.post_id like 'mastodon:boost:%' as is_created_at_upper_bound,
        regexp_extract(mastodon_posts.post_id, '^mastodon:[a-z]+://([^/:]+)', 1)
        in ('bsky.brid.gy', 'web.brid.gy', 'fed.brid.gy') as is_bridged,
        coalesce(mastodon_posts.parent_id like 'mastodon:local:%', false) as is_parent_unresolved,
        case when mastodon_posts.share_type = 'boost' then 'api_star' end as reshare_tree
    from mastodon_posts
)

select * from final
