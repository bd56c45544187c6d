-- grain keys of the weekly and dimension marts
select 'fct_weekly_trends' as mart, platform, community, iso_week
from fct_weekly_trends
group by platform, community, iso_week
having count(*) > 1
union all
select 'dim_communities' as mart, platform, community, null as iso_week
from dim_communities
group by platform, community
having count(*) > 1
union all
select 'dim_detected_partitions' as mart, platform, null as community, iso_week
from dim_detected_partitions
group by platform, iso_week
having count(*) > 1
union all
select 'int_detected_communities' as mart, platform, author_id as community, iso_week
from int_detected_communities
group by platform, author_id, iso_week
having count(*) > 1
union all
select 'fct_cascade_quality' as mart, post_id as platform, problem as community, null as iso_week
from fct_cascade_quality
group by post_id, problem
having count(*) > 1
union all
select 'dim_platform_coverage' as mart, platform, null as community, null as iso_week
from dim_platform_coverage
group by platform
having count(*) > 1
union all
select 'last_complete_week' as mart, platform, null as community, null as iso_week
from last_complete_week
group by platform
having count(*) > 1
