-- One row per (platform, ISO week, community, member): the author had at least membership.min_items items in the
-- community during the membership.window_days before the end of that week (Monday 00:00 UTC of the next week),
-- see docs/metrics.md, "Membership". Weeks run from the platform's first to its last week with items. Deleted
-- authors and configured bots never count (int_community_activity).
-- grain: one row per (platform, ISO week, community, member)
-- description: Weekly membership snapshots at the end of each week (docs/metrics.md, "Membership").
-- column platform: platform
-- column week_start: Monday (UTC) of the week; members are counted at its end
-- column iso_week: ISO week, 'YYYY-Www'
-- column community: community
-- column author_id: the member
-- column items_in_window: the member's items in the community in the membership.window_days before the week's end
with

daily as (
    select
        platform,
        community,
        author_id,
        cast(created_at at time zone 'UTC' as date) as activity_date,
        count(*) as items
    from int_community_activity
    group by all
),

platform_weeks as (
    select
        platform,
        min(week_start) as first_week,
        max(week_start) as last_week
    from int_posts
    group by platform
),

-- the snapshot of week w covers [w + 7 - window, w + 7): a day counts for the weeks starting from its own Monday
-- to the last Monday m with m + 7 - window <= day
spread_over_weeks as (
    select
        d.platform,
        d.community,
        d.author_id,
        d.items,
        cast(unnest(generate_series(
            cast(date_trunc('week', d.activity_date) as timestamp),
            cast(date_trunc('week', d.activity_date + (getvariable('membership_window_days') - 7)::integer) as timestamp),
            interval 7 day
        )) as date) as week_start
    from daily as d
),

windowed as (
    select
        s.platform,
        s.week_start,
        s.community,
        s.author_id,
        sum(s.items) as items_in_window
    from spread_over_weeks as s
    inner join platform_weeks as w
        on w.platform = s.platform and s.week_start between w.first_week and w.last_week
    group by all
),

final as (
    select
        platform,
        week_start,
        strftime(week_start, '%G-W%V') as iso_week,
        community,
        author_id,
        items_in_window
    from windowed
    where items_in_window >= getvariable('membership_min_items')
)

select * from final
