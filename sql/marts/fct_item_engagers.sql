-- grain: one row per (cascade root, engaging author): every author of a cascade item other than the root's author
--   (deleted authors and configured bots left out), the same engagers fct_item_spread counts
-- description: Who engaged with each item, when they first did, and where they came from: the engager's home
--   community and membership of the item's origin community, both as of their first engagement
--   (docs/metrics.md, "Engagers").
-- column root_id: post_id of the cascade root (as in fct_cascades)
-- column platform: platform of the root
-- column origin_community: community of the root (null when it has none)
-- column engager_id: author of the engaging items (pseudonymous)
-- column engagements: the engager's items in the cascade
-- column first_engaged_at: creation time of the engager's first item in the cascade (UTC)
-- column minutes_after_root: first_engaged_at - root_created_at, in minutes
-- column home_community: the community of the platform where the engager had the most items in the
--   membership.window_days before first_engaged_at (ties: alphabetical); null without any
-- column is_member: the engager was a member of origin_community at first_engaged_at (docs/metrics.md,
--   "Membership"); null without an origin community
-- column is_outsider: not is_member; null without an origin community
-- column is_warmup: the root is in the membership warm-up (as fct_item_spread.is_warmup): membership rests on less than a full window, so
--   is_outsider is an upper bound
with

roots as (
    select
        md5_number_lower(c.root_id) as root_key,
        c.root_id,
        c.platform,
        c.community as origin_community,
        c.root_author_id,
        c.root_created_at,
        epoch(c.root_created_at) - epoch(cov.coverage_start)
        < getvariable('membership_window_days') * 86400.0 as is_warmup
    from fct_cascades as c
    inner join dim_platform_coverage as cov on cov.platform = c.platform
),

engagements as (
    select
        r.root_key,
        posts.author_id,
        count(*) as engagements,
        min(posts.created_at) as first_engaged_at
    from int_cascade_nodes as nodes
    inner join int_posts as posts on posts.node_key = nodes.node_key
    inner join roots as r on r.root_key = nodes.root_key
    anti join cfg_bots as bots on bots.platform = r.platform and bots.author_id = posts.author_id
    where posts.author_id is not null and posts.author_id is distinct from r.root_author_id
    group by r.root_key, posts.author_id
),

engagers as (
    select
        r.*,
        e.author_id,
        e.engagements,
        e.first_engaged_at
    from engagements as e
    inner join roots as r on r.root_key = e.root_key
),

-- member of the origin at the first engagement: as-of lookup of the engager's latest earlier item there
membership as (
    select
        e.root_key,
        e.author_id,
        e.origin_community is not null
        and a.kth_latest_at >= e.first_engaged_at - to_days(getvariable('membership_window_days')) as is_member
    from engagers as e
    asof left join int_community_activity as a
        on
            a.platform = e.platform
            and a.community = e.origin_community
            and a.author_id = e.author_id
            and a.created_at < e.first_engaged_at
),

-- the engager's items per community in the window before the first engagement
home_counts as (
    select
        e.root_key,
        e.author_id,
        a.community,
        count(*) as items
    from engagers as e
    inner join int_community_activity as a
        on
            a.platform = e.platform
            and a.author_id = e.author_id
            and a.created_at < e.first_engaged_at
            and a.created_at >= e.first_engaged_at - to_days(getvariable('membership_window_days'))
    group by all
),

home as (
    select
        root_key,
        author_id,
        community as home_community
    from home_counts
    qualify row_number() over (partition by root_key, author_id order by items desc, community) = 1
),

final as (
    select
        e.root_id,
        e.platform,
        e.origin_community,
        e.author_id as engager_id,
        e.engagements,
        e.first_engaged_at,
        (epoch(e.first_engaged_at) - epoch(e.root_created_at)) / 60.0 as minutes_after_root,
        h.home_community,
        case when e.origin_community is not null then coalesce(m.is_member, false) end as is_member,
        case when e.origin_community is not null then not coalesce(m.is_member, false) end as is_outsider,
        e.is_warmup
    from engagers as e
    left join membership as m on m.root_key = e.root_key and m.author_id = e.author_id
    left join home as h on h.root_key = e.root_key and h.author_id = e.author_id
)

select * from final
