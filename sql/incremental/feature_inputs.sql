-- The int_posts rows the recomputed int_spread_features rows read: the roots and their authors' items in the
-- membership window before each root
with roots as (
    select root_id, root_author_id, root_created_at
    from main.fct_item_spread
    where hash(root_id) in (select root_key from ripple_delta.feature_roots)
)
select p.*
from main.int_posts as p
semi join roots as r
    on
        p.author_id = r.root_author_id
        and p.created_at >= r.root_created_at - to_days(getvariable('membership_window_days'))
        and p.created_at <= r.root_created_at
union
select * from main.int_posts where node_key in (select root_key from ripple_delta.feature_roots)
