-- Keys of the roots whose int_spread_features rows an incremental build recomputes (or deletes): the recomputed
-- spread rows, roots whose author has a changed item up to the membership window before them, and roots whose
-- community-size week was recomputed
select root_key from ripple_delta.spread_roots
union
select hash(s.root_id)
from main.fct_item_spread as s
inner join ripple_delta.changed_authors as a on a.author_id = s.root_author_id
where s.root_created_at >= a.changed_from
union
select hash(s.root_id)
from main.fct_item_spread as s
semi join ripple_delta.size_weeks as w
    on w.platform = s.platform and w.community = s.origin_community and w.week_start = s.week_start
