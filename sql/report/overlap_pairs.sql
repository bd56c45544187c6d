-- the community pairs of the week $week, each unordered pair once (names in a fixed order, so that two weeks line
-- up); is_warmup (fct_community_overlap): the platform's lake covers less than membership.window_days before the
-- week, so memberships are still filling up and overlap grows for that reason alone
select distinct
    platform,
    least(community_a, community_b) as community_a,
    greatest(community_a, community_b) as community_b,
    shared_members,
    jaccard,
    overlap_coefficient,
    lift,
    npmi,
    o.is_warmup
from fct_community_overlap as o
where o.iso_week = $week
order by platform, community_a, community_b
