-- grain: one row per platform that has at least one complete week
-- description: The latest ISO week of each platform whose end is at or before the end of the lake's coverage
--   (dim_platform_coverage.coverage_end): the week to query when the current one is still running. Join it on
--   (platform, week_start) to any weekly mart.
-- column platform: platform
-- column week_start: Monday (UTC) of the platform's last complete week
-- column iso_week: that week, 'YYYY-Www'
-- column history_days: days of lake coverage of the platform before week_start (see fct_weekly_trends)
-- column is_warmup: history_days < membership.window_days: membership-based figures of the week are not settled
with

final as (
    select
        platform,
        last_complete_week_start as week_start,
        last_complete_iso_week as iso_week,
        greatest(
            0.0,
            (epoch(cast(last_complete_week_start as timestamp)) - epoch(coverage_start at time zone 'UTC')) / 86400.0
        ) as history_days,
        history_days < getvariable('membership_window_days') as is_warmup
    from dim_platform_coverage
    where last_complete_week_start is not null
)

select * from final
