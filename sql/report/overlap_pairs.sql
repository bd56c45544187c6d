-- the community pairs of the week $week, each unordered pair once (names in a fixed order, so that two weeks line
-- up); is_warmup: the platform's data starts less than $window_days (membership.window_days) before the end of the
-- week, so memberships are still filling up and overlap grows for that reason alone
with

history as (
    select platform, min(created_at) as first_item
    from int_posts
    group by platform
)

select distinct
    platform,
    least(community_a, community_b) as community_a,
    greatest(community_a, community_b) as community_b,
    shared_members,
    jaccard,
    overlap_coefficient,
    lift,
    npmi,
    -- once fct_community_overlap carries is_warmup, this line becomes: o.is_warmup
    h.first_item > o.week_start + interval 7 day - to_days(cast($window_days as integer)) as is_warmup
from fct_community_overlap as o
left join history as h using (platform)
where o.iso_week = $week
order by platform, community_a, community_b
