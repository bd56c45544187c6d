-- The rows int_community_activity needs for the changed (platform, community, author): their items from the earliest
-- change on, plus the membership.min_items - 1 items before it (the lag looks back that far). Unchanged items come
-- from int_community_activity itself (five narrow columns), changed ones from the recomputed int_posts rows.
with

triple_items as (
    select a.platform, a.community, a.author_id, a.post_id, a.created_at
    from main.int_community_activity as a
    semi join ripple_delta.activity_triples as t
        on t.platform = a.platform and t.community = a.community and t.author_id = a.author_id
    anti join ripple_delta.changed_items as c on c.post_id = a.post_id
    union all
    select platform, community, author_id, post_id, created_at
    from ripple_delta.new_int_posts
    where community is not null and author_id is not null
),

with_start as (
    select i.*, t.changed_from
    from triple_items as i
    inner join ripple_delta.activity_triples as t
        on t.platform = i.platform and t.community = i.community and t.author_id = i.author_id
)

select platform, community, author_id, post_id, created_at
from with_start
where created_at >= changed_from
union all
select platform, community, author_id, post_id, created_at
from with_start
where created_at < changed_from
qualify row_number() over (
    partition by platform, community, author_id order by created_at desc, post_id desc
) < getvariable('membership_min_items')
