-- items, authors and cascades per (platform, community) in the week $cur and the week before ($prev), from the
-- weekly trends mart; communities with neither items nor cascades in the two weeks are left out
with

trends as (
    select
        platform,
        coalesce(community, $no_community) as community,
        iso_week,
        items,
        posts,
        comments,
        shares,
        unique_authors,
        cascades,
        escaped_cascades,
        median_depth,
        p90_depth
    from fct_weekly_trends
    where iso_week in ($cur, $prev)
),

final as (
    select
        platform,
        community,
        coalesce(sum(items) filter (where iso_week = $cur), 0)::bigint as items,
        coalesce(sum(posts) filter (where iso_week = $cur), 0)::bigint as posts,
        coalesce(sum(comments) filter (where iso_week = $cur), 0)::bigint as comments,
        coalesce(sum(shares) filter (where iso_week = $cur), 0)::bigint as shares,
        coalesce(sum(unique_authors) filter (where iso_week = $cur), 0)::bigint as unique_authors,
        coalesce(sum(cascades) filter (where iso_week = $cur), 0)::bigint as roots,
        coalesce(sum(escaped_cascades) filter (where iso_week = $cur), 0)::bigint as escaped_roots,
        max(median_depth) filter (where iso_week = $cur) as median_depth,
        max(p90_depth) filter (where iso_week = $cur) as p90_depth,
        coalesce(sum(items) filter (where iso_week = $prev), 0)::bigint as items_prev_week,
        coalesce(sum(unique_authors) filter (where iso_week = $prev), 0)::bigint as unique_authors_prev_week,
        coalesce(sum(cascades) filter (where iso_week = $prev), 0)::bigint as roots_prev_week,
        coalesce(sum(escaped_cascades) filter (where iso_week = $prev), 0)::bigint as escaped_roots_prev_week
    from trends
    group by platform, community
    having sum(items) > 0 or sum(cascades) > 0
)

select * from final
order by items desc, items_prev_week desc, platform, community
