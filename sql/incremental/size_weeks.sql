-- (platform, community, week) rows of int_community_size an incremental build recomputes: weeks with items whose
-- window holds a changed day (d < week <= d + window), the weeks an item left, and weeks that had no row yet
with days as (
    select platform, community, cast(created_at at time zone 'UTC' as date) as day, week_start, version
    from ripple_delta.activity_versions
    where community is not null
),

candidates as (
    select distinct
        platform,
        community,
        cast(unnest(generate_series(
            cast(date_trunc('week', day) as timestamp) + interval 7 day,
            cast(date_trunc('week', day + getvariable('membership_window_days')::integer) as timestamp),
            interval 7 day
        )) as date) as week_start
    from days
)

select c.*
from candidates as c
semi join main.int_posts as p
    on p.platform = c.platform and p.community = c.community and p.week_start = c.week_start
union
select platform, community, week_start from days where version = 'old'
union
select d.platform, d.community, d.week_start
from days as d
anti join main.int_community_size as s
    on s.platform = d.platform and s.community = d.community and s.week_start = d.week_start
where d.version = 'new'
