-- shape invariants of every cascade: 0 <= depth <= size - 1, 1 <= breadth <= max(size - 1, 1), thread/share depth within depth,
-- depth <= thread_depth + share_depth, unique users <= size, times-to-size monotone in k, is_complete consistent
select root_id, size, depth, max_breadth, thread_depth, share_depth, unique_users
from fct_cascades
where
    size < 1
    or depth < 0
    or depth > size - 1
    or max_breadth > greatest(size - 1, 1)
    or max_breadth < 1
    -- a cascade of depth 1 is a star: every item but the root sits at depth 1
    or (depth = 1 and max_breadth <> greatest(size - 1, 1))
    -- a chain holds one item per level
    or (depth = size - 1 and max_breadth <> 1)
    or thread_depth > depth
    or share_depth > depth
    or depth > thread_depth + share_depth
    or unique_users > size
    or minutes_to_size_100 < minutes_to_size_10
    or minutes_to_size_1000 < minutes_to_size_100
    or minutes_to_depth_2 < minutes_to_depth_1
    or (size >= 10) <> (minutes_to_size_10 is not null)
    or (depth >= 1) <> (minutes_to_depth_1 is not null)
    -- complete implies nothing missing or cut (a platform may still report replies that were not fetched)
    or (is_complete and (missing_parents > 0 or truncated_items > 0))
