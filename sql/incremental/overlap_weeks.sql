-- (platform, week) rows of fct_community_overlap an incremental build recomputes: the weeks whose membership
-- snapshot was recomputed (for every author or for some), and the weeks whose is_complete_week the platform's new
-- coverage_end turns
select platform, week_start from ripple_delta.membership_weeks
union
select platform, week_start from ripple_delta.membership_keys
union
select o.platform, o.week_start
from main.fct_community_overlap as o
inner join main.dim_platform_coverage as c on c.platform = o.platform
where o.is_complete_week <> (cast(o.week_start as timestamp) + interval 7 day <= c.coverage_end at time zone 'UTC')
