-- grain: one row per demo item (a post_id of platform 'demo')
-- description: Items of the built-in demo simulator. The simulator's communities are explicit (c/<topic>).
-- column post_id: globally unique id, 'demo:<native id>'
-- column topic: community name without the 'c/' prefix
with

demo as (
    select * from stg_posts where platform = 'demo'
),

final as (
    select
        *,
        regexp_replace(community, '^c/', '') as topic
    from demo
)

select * from final
