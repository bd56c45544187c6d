-- the authors of the interaction network of the week ($start to $end): the authors of the week's items and the
-- authors they replied to or shared (author ids as in the warehouse: pseudonymised unless privacy.pseudonymize is
-- off), with the community they posted in most that week (ties: name order; null = only replied to) and their items
with

week_items as (
    select post_id, author_id, community, coalesce(parent_id, shared_id) as target_id
    from int_posts
    where created_at >= $start and created_at < $end and author_id is not null
),

active as (
    select
        author_id,
        first(community order by n desc, community nulls last) as community,
        sum(n)::bigint as items
    from (select author_id, community, count(*) as n from week_items group by all)
    group by author_id
),

targets as (
    select distinct t.author_id
    from week_items as i
    inner join int_posts as t on t.post_id = i.target_id
    where t.author_id is not null and t.author_id <> i.author_id
)

select
    coalesce(a.author_id, t.author_id) as id,
    a.community,
    coalesce(a.items, 0)::bigint as items
from active as a
full outer join targets as t on t.author_id = a.author_id
order by id
