-- grain: one row per (platform, community) that has at least one item
-- description: Every community in the warehouse, explicit (a subreddit, an X Community) or detected by Leiden,
--   with its activity span, size and how often its items escaped it.
-- column platform: platform
-- column community: community name (lower-case); detected ones are 'leiden-<n>'
-- column is_detected: true when the community was detected by Leiden rather than given by the platform
-- column first_item_at: creation time of its first item
-- column last_item_at: creation time of its last item
-- column items: items posted in it
-- column posts: items of kind post
-- column comments: items of kind comment
-- column shares: items of kind share
-- column unique_authors: distinct non-deleted authors who posted in it
-- column weeks_active: ISO weeks with at least one item
-- column latest_members: members at the platform's latest weekly membership snapshot (int_membership)
-- column peak_members: most members at any weekly snapshot
-- column cascades: cascades rooted in it
-- column escaped_cascades: of those, the ones that escaped (fct_item_spread.escaped)
-- column escape_rate: escaped_cascades / cascades; null without cascades
-- column median_cascade_size: median size of its cascades
-- column settled_cascades: cascades rooted in it outside the membership warm-up (fct_item_spread.is_warmup false)
-- column settled_escape_rate: escaped share of settled_cascades; null without any
-- column history_days: days of lake coverage of the platform before the week of latest_members (the platform's
--   latest snapshot)
-- column is_warmup: history_days < membership.window_days: latest_members (and peak_members) rest on less than a
--   full membership window
with

items as (
    select platform, community, created_at, kind, author_id, week_start, is_community_detected
    from int_posts
    where community is not null
),

activity as (
    select
        platform,
        community,
        bool_or(is_community_detected) as is_detected,
        min(created_at) as first_item_at,
        max(created_at) as last_item_at,
        count(*) as items,
        count(*) filter (where kind = 'post') as posts,
        count(*) filter (where kind = 'comment') as comments,
        count(*) filter (where kind = 'share') as shares,
        count(distinct author_id) as unique_authors,
        count(distinct week_start) as weeks_active
    from items
    group by all
),

snapshots as (
    select
        platform,
        community,
        week_start,
        count(*) as members
    from int_membership
    group by all
),

latest_week as (
    select platform, max(week_start) as week_start
    from int_membership
    group by platform
),

members as (
    select
        s.platform,
        s.community,
        max(s.members) as peak_members,
        max(s.members) filter (where s.week_start = l.week_start) as latest_members
    from snapshots as s
    inner join latest_week as l on l.platform = s.platform
    group by all
),

spread as (
    select
        platform,
        origin_community as community,
        count(*) as cascades,
        count(*) filter (where escaped) as escaped_cascades,
        median(size) as median_cascade_size,
        count(*) filter (where not is_warmup) as settled_cascades,
        count(*) filter (where escaped and not is_warmup) as settled_escaped
    from fct_item_spread
    where origin_community is not null
    group by all
),

final as (
    select
        a.platform,
        a.community,
        a.is_detected,
        a.first_item_at,
        a.last_item_at,
        a.items,
        a.posts,
        a.comments,
        a.shares,
        a.unique_authors,
        a.weeks_active,
        coalesce(m.latest_members, 0) as latest_members,
        coalesce(m.peak_members, 0) as peak_members,
        coalesce(s.cascades, 0) as cascades,
        coalesce(s.escaped_cascades, 0) as escaped_cascades,
        case when s.cascades > 0 then s.escaped_cascades / s.cascades end as escape_rate,
        s.median_cascade_size,
        coalesce(s.settled_cascades, 0) as settled_cascades,
        case when s.settled_cascades > 0 then s.settled_escaped / s.settled_cascades end as settled_escape_rate,
        greatest(
            0.0, (epoch(cast(l.week_start as timestamp)) - epoch(cov.coverage_start at time zone 'UTC')) / 86400.0
        ) as history_days,
        history_days < getvariable('membership_window_days') as is_warmup
    from activity as a
    inner join dim_platform_coverage as cov on cov.platform = a.platform
    left join latest_week as l on l.platform = a.platform
    left join members as m on m.platform = a.platform and m.community = a.community
    left join spread as s on s.platform = a.platform and s.community = a.community
)

select * from final
