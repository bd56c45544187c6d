-- (platform, community, week) rows of int_community_size an incremental build recomputes: the weeks with items
-- whose window holds a changed item's day (d < week <= d + window), and the changed items' own weeks
with candidates as (
    select distinct
        platform,
        community,
        cast(unnest(generate_series(
            cast(date_trunc('week', day) as timestamp),
            cast(date_trunc('week', day + getvariable('membership_window_days')::integer) as timestamp),
            interval 7 day
        )) as date) as week_start
    from (
        select platform, community, cast(created_at at time zone 'UTC' as date) as day
        from ripple_delta.changed_versions
        where community is not null
    )
)
select c.*
from candidates as c
semi join main.int_posts as p
    on p.platform = c.platform and p.community = c.community and p.week_start = c.week_start
union
select distinct platform, community, week_start from ripple_delta.changed_versions where community is not null
