-- grain: one row per (post_id, problem) for items whose place in a cascade is doubtful
-- description: Data-quality findings of the cascade reconstruction. missing_parent and self_parent items are still
--   in a cascade (hung under their thread root or starting their own); parent_cycle and depth_exceeded items are
--   in no cascade. A build never fails or hangs because of them; see docs/metrics.md, "Cascades".
-- column post_id: the item
-- column platform: platform of the item
-- column problem: missing_parent (declared parent not in the data), self_parent (declared parent is the item
--   itself), parent_cycle (the parent chain loops, or hangs below a loop), depth_exceeded (deeper than
--   cascades.max_depth)
-- column detail: what the build did with the item
-- column declared_parent_id: parent_id, else shared_id, as the platform reported it
-- column root_id: root of the cascade the item is in (missing_parent, self_parent) or was cut from
--   (depth_exceeded); null for parent_cycle
with

quality as (
    select * from int_cascade_quality
),

final as (
    select
        post_id,
        platform,
        problem,
        detail,
        declared_parent_id,
        root_id
    from quality
)

select * from final
