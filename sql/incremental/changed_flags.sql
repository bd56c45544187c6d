-- What changed about each changed item: the columns membership and community sizes read (activity), and the columns
-- the weekly terms read (text). A new or removed item changed both. Re-fetches that only move scores change neither.
select
    coalesce(n.post_id, o.post_id) as post_id,
    o.post_id is null or n.post_id is null
    or (o.platform, o.community, o.author_id, o.created_at)
    is distinct from (n.platform, n.community, n.author_id, n.created_at) as activity,
    o.post_id is null or n.post_id is null
    or (o.kind, o.is_deleted, o.title, o.text, o.week_start)
    is distinct from (n.kind, n.is_deleted, n.title, n.text, n.week_start) as text
from (select * from ripple_delta.changed_versions where version = 'old') as o
full outer join (select * from ripple_delta.changed_versions where version = 'new') as n using (post_id)
