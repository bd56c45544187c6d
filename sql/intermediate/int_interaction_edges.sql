-- grain: one row per (platform, week_start, user_a, user_b) of the platforms whose communities are detected
--   (cfg_detect_platforms, registered by the warehouse from pipeline.platforms.detected_platforms)
-- description: The weekly interaction graph community detection partitions (pipeline.communities). A reply,
--   quote or reshare by user a of an item by user b adds 1 to the undirected edge a-b of the week of the
--   interaction; self interactions, deleted authors and configured bots are left out. Reads stg_posts, so it is
--   built before the detection step and before int_posts.
-- column platform: platform whose communities are detected
-- column week_start: Monday (UTC) of the week of the interaction
-- column user_a: the smaller of the two author ids
-- column user_b: the larger of the two author ids
-- column weight: number of interactions between the two users that week
with

items as (
    select platform, post_id, author_id, parent_id, shared_id, created_at
    from stg_posts
    where platform in (select platform from cfg_detect_platforms)
),

humans as (
    select * from items
    where
        author_id is not null
        and not exists (
            select 1 from cfg_bots as b
            where b.platform = items.platform and b.author_id = items.author_id
        )
),

links as (
    -- both the reply edge (parent_id) and the reshare/quote edge (shared_id)
    select platform, author_id, parent_id as target_id, created_at from humans where parent_id is not null
    union all
    select platform, author_id, shared_id as target_id, created_at from humans where shared_id is not null
),

pairs as (
    select
        l.platform,
        cast(date_trunc('week', l.created_at at time zone 'UTC') as date) as week_start,
        least(l.author_id, t.author_id) as user_a,
        greatest(l.author_id, t.author_id) as user_b
    from links as l
    inner join humans as t on l.target_id = t.post_id
    where l.author_id <> t.author_id
),

final as (
    select platform, week_start, user_a, user_b, count(*)::double as weight
    from pairs
    group by all
)

select * from final
