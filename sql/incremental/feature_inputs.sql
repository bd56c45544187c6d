-- The int_posts rows the recomputed int_spread_features rows read: the roots and their authors' items in the
-- membership window before each root (ids first: a union of whole rows would compare every column)
with roots as (
    select root_id, root_author_id, root_created_at
    from main.fct_item_spread
    where root_id in (select root_id from ripple_delta.feature_root_ids)
),

picked as (
    select p.post_id
    from main.int_posts as p
    semi join roots as r
        on
            p.author_id = r.root_author_id
            and p.created_at >= r.root_created_at - to_days(getvariable('membership_window_days'))
            and p.created_at <= r.root_created_at
    union
    select root_id from ripple_delta.feature_root_ids
)

select * from main.int_posts semi join picked using (post_id)
