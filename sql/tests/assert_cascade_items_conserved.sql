-- every item is either in exactly one cascade or reported as parent_cycle / depth_exceeded; cascade sizes add up
with
counts as (
    select
        (select count(*) from int_posts) as items,
        (select count(*) from int_cascade_nodes) as in_cascades,
        (select count(distinct node_key) from int_cascade_nodes) as distinct_in_cascades,
        (select coalesce(sum(size), 0) from fct_cascades) as sum_of_sizes,
        (select count(*) from fct_cascade_quality where problem in ('parent_cycle', 'depth_exceeded')) as left_out
)
select *
from counts
where in_cascades <> distinct_in_cascades or in_cascades + left_out <> items or sum_of_sizes <> in_cascades
