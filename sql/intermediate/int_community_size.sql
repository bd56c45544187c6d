-- One row per (platform, community, week) with items in that community that week: how many distinct authors
-- posted in the community in the membership.window_days before the week's Monday (UTC). The spread explanation's
-- community-size control (int_spread_features). A day d counts for the Mondays w with d < w <= d + window.
-- grain: one row per (platform, community, week_start) with items in the community that week and at least one
--   author in the window before it
-- description: Distinct authors of each community in the membership window before each week with items there
--   (the community-size control of the spread explanation).
-- column platform: platform of the community
-- column community: the community (int_posts: explicit or detected)
-- column week_start: Monday (UTC) of the week
-- column authors: distinct authors with items in the community in the membership.window_days before week_start
with

author_days as (
    select distinct
        platform,
        community,
        author_id,
        cast(created_at at time zone 'UTC' as date) as day
    from int_posts
    where community is not null and author_id is not null
),

item_weeks as (
    select distinct
        platform,
        community,
        cast(date_trunc('week', created_at at time zone 'UTC') as date) as week_start
    from int_posts
    where community is not null
),

expanded as (
    select
        platform,
        community,
        author_id,
        cast(unnest(generate_series(
            cast(date_trunc('week', day) as timestamp) + interval 7 day,
            cast(date_trunc('week', day + getvariable('membership_window_days')::integer) as timestamp),
            interval 7 day
        )) as date) as week_start
    from author_days
),

final as (
    select
        e.platform,
        e.community,
        e.week_start,
        count(distinct e.author_id) as authors
    from expanded as e
    semi join item_weeks as w
        on w.platform = e.platform and w.community = e.community and w.week_start = e.week_start
    group by all
)

select * from final
