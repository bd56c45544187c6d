-- Authors whose membership activity changed, per platform, with the earliest time a change touches: membership
-- looked up at or before that time cannot have changed.
select platform, author_id, min(created_at) as changed_from
from ripple_delta.activity_versions
where author_id is not null and community is not null
group by all
