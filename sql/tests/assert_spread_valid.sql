-- spread columns stay in range and escaped follows its definition
-- incremental: fct_item_spread by root_id
select root_id, engagers, outsider_engagers, outsider_share, communities_reached, escaped
from fct_item_spread
where
    engagers < 0
    or engagers > size
    or outsider_engagers > engagers
    or outsider_share < 0
    or outsider_share > 1
    or (origin_community is null) <> (outsider_engagers is null)
    or communities_reached < 0
    or communities_reached > size
    or (origin_community is not null and communities_reached < 1)
    or community_entropy < 0
    or community_entropy > log2(greatest(communities_reached, 1)) + 1e-9
    or history_days < 0
    or is_warmup is null
    or is_warmup <> (history_days < getvariable('membership_window_days'))
    or iso_week <> strftime(root_created_at at time zone 'UTC', '%G-W%V')
    or escaped <> (
        communities_reached > 1
        or coalesce(
            engagers >= getvariable('spread_min_engagers')
            and outsider_share >= getvariable('spread_min_outsider_share'),
            false
        )
    )
