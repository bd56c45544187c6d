-- overlap metrics stay in range, respect overlap.min_shared and are symmetric: (a, b) and (b, a) both exist with
-- the same symmetric metrics and swapped containments
-- incremental: fct_community_overlap by platform, week_start
select o.platform, o.week_start, o.community_a, o.community_b, 'out of range' as problem
from fct_community_overlap as o
where
    o.shared_members < getvariable('overlap_min_shared')
    or o.shared_members > least(o.members_a, o.members_b)
    or greatest(o.members_a, o.members_b) > o.active_users
    or o.jaccard not between 0 and 1
    or o.overlap_coefficient not between 0 and 1
    or o.containment_a_in_b not between 0 and 1
    or o.containment_b_in_a not between 0 and 1
    or o.jaccard > o.overlap_coefficient
    or o.lift <= 0
    or o.npmi not between -1 - 1e-9 and 1 + 1e-9
    or o.community_a = o.community_b
union all
select o.platform, o.week_start, o.community_a, o.community_b, 'not symmetric' as problem
from fct_community_overlap as o
left join fct_community_overlap as r
    on
        r.platform = o.platform
        and r.week_start = o.week_start
        and r.community_a = o.community_b
        and r.community_b = o.community_a
where
    r.platform is null
    or r.shared_members <> o.shared_members
    or abs(r.jaccard - o.jaccard) > 1e-12
    or abs(r.lift - o.lift) > 1e-9
    or abs(r.npmi - o.npmi) > 1e-12
    or abs(r.containment_a_in_b - o.containment_b_in_a) > 1e-12
union all
select platform, week_start, community_a, community_b, 'duplicate' as problem
from fct_community_overlap
group by platform, week_start, community_a, community_b
having count(*) > 1
