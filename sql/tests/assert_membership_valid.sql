-- membership rows are unique, meet membership.min_items, and never name a deleted author or a configured bot
-- incremental: int_membership by platform, week_start
select m.platform, m.week_start, m.community, m.author_id, 'invalid member' as problem
from int_membership as m
where
    m.author_id is null
    or m.items_in_window < getvariable('membership_min_items')
    or exists (select 1 from cfg_bots as b where b.platform = m.platform and b.author_id = m.author_id)
union all
select platform, week_start, community, author_id, 'duplicate' as problem
from int_membership
group by platform, week_start, community, author_id
having count(*) > 1
