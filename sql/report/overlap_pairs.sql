-- the community pairs of the week $week, each unordered pair once (names in a fixed order, so that two weeks line
-- up)
select distinct
    platform,
    least(community_a, community_b) as community_a,
    greatest(community_a, community_b) as community_b,
    shared_members,
    jaccard,
    overlap_coefficient,
    lift,
    npmi
from fct_community_overlap
where iso_week = $week
order by platform, community_a, community_b
