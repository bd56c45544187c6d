-- (platform, week, community, author) snapshots of int_membership an incremental build recomputes: each changed
-- (platform, community, author) in every week whose window holds one of its changed days
select distinct
    platform,
    cast(unnest(generate_series(
        cast(date_trunc('week', day) as timestamp),
        cast(date_trunc('week', day + (getvariable('membership_window_days') - 7)::integer) as timestamp),
        interval 7 day
    )) as date) as week_start,
    community,
    author_id
from (
    select platform, community, author_id, cast(created_at at time zone 'UTC' as date) as day
    from ripple_delta.activity_versions
    where author_id is not null and community is not null
)
