-- (platform, community, author) whose int_community_activity rows change, from the earliest changed item on
select platform, community, author_id, min(created_at) as changed_from
from ripple_delta.activity_versions
where author_id is not null and community is not null
group by all
