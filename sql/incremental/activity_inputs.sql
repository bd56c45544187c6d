-- The int_posts rows int_community_activity needs for the changed (platform, community, author): their items from
-- the earliest change on, plus the membership.min_items - 1 items before it (the lag looks back that far).
select p.*
from main.int_posts as p
inner join ripple_delta.activity_triples as t
    on t.platform = p.platform and t.community = p.community and t.author_id = p.author_id
where p.created_at >= t.changed_from
union all
select p.*
from main.int_posts as p
inner join ripple_delta.activity_triples as t
    on t.platform = p.platform and t.community = p.community and t.author_id = p.author_id
where p.created_at < t.changed_from
qualify row_number() over (
    partition by p.platform, p.community, p.author_id order by p.created_at desc, p.post_id desc
) < getvariable('membership_min_items')
