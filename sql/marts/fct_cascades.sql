-- grain: one row per cascade root (an item with neither parent_id nor shared_id, or whose parent is missing and
--   whose thread root is unknown)
-- description: Size, shape and speed of every cascade: the root plus everything reachable from it by reply edges
--   (parent_id) and share edges (shared_id). Formulas in docs/metrics.md. Items on parent loops or below
--   cascades.max_depth are listed in fct_cascade_quality instead.
-- column root_id: post_id of the cascade root
-- column platform: platform of the root
-- column community: community of the root (detected by Leiden where the platform has none)
-- column root_kind: kind of the root item (post, comment, share)
-- column root_author_id: author of the root (pseudonymous; null when deleted)
-- column root_created_at: creation time of the root (UTC)
-- column iso_week: ISO week of root_created_at, 'YYYY-Www'
-- column size: number of items in the cascade, root included
-- column unique_users: distinct non-deleted authors in the cascade, root author included
-- column depth: most hops from the root to any item (0 for a lone root)
-- column thread_depth: most reply edges on any root-to-item path
-- column share_depth: most share edges on any root-to-item path
-- column max_breadth: most items at any single depth, the root's level included (Vosoughi, Roy & Aral 2018): 1 for
--   a lone root
-- column wiener_index: sum of tree distances over all unordered pairs of items, computed as the sum over non-root
--   items v of s_v * (size - s_v) with s_v the size of v's subtree
-- column structural_virality: mean distance between two items, 2 * wiener_index / (size * (size - 1)); null for
--   size 1. A star of n items gives 2(n-1)/n, a chain gives (n+1)/3
-- column minutes_to_depth_1: minutes from the root until the first item at depth >= 1 appeared (null if never)
-- column minutes_to_depth_2: minutes until the first item at depth >= 2
-- column minutes_to_depth_3: minutes until the first item at depth >= 3
-- column minutes_to_depth_5: minutes until the first item at depth >= 5
-- column minutes_to_depth_10: minutes until the first item at depth >= 10
-- column minutes_to_size_10: minutes from the root until the cascade held 10 items (root included; null if never)
-- column minutes_to_size_100: minutes until the cascade held 100 items
-- column minutes_to_size_1000: minutes until the cascade held 1000 items
-- column last_activity_at: creation time of the newest item in the cascade
-- column missing_parents: items whose declared parent is not in the data (or is the item itself); they hang under
--   their thread root when it is known, else start their own cascade (this root itself may be one)
-- column truncated_items: items cut off because they are deeper than cascades.max_depth
-- column failed_fetches: calls that failed while the source completed this cascade (its thread, quotes, reposts or
--   rebloggers; Bluesky and Mastodon, stg_incomplete_fetches): the run went on without them
-- column is_complete: true when missing_parents = 0, truncated_items = 0, failed_fetches = 0 and the platform
--   reports no replies that are missing from the data (Reddit: a thread whose "load more" stubs the replace_more
--   budget left unexpanded, stg_reddit_posts.has_hidden_replies)
-- column reshare_tree: 'none' (no share edges), 'api_star' (every share edge is a retweet / boost / repost pointing
--   at the root: the platform API flattens reshares of reshares onto the original, so the star shape is an
--   artefact and share_depth / structural_virality understate the real spread) or 'reconstructed' (share edges
--   follow explicit links: crossposts, quotes, reshares of intermediate items)
with

-- int_cascade_nodes is read directly each time below: wrapping it in a CTE would make DuckDB copy it
subtrees as (
    select
        root_key,
        sum(subtree_size) filter (where depth > 0) as sum_subtree,
        sum(subtree_size * subtree_size) filter (where depth > 0) as sum_subtree_sq
    from int_cascade_subtrees
    group by root_key
),

-- one pass over the items: everything per (cascade, level); the per-cascade figures come from these few rows
levels as (
    select
        root_key,
        depth,
        count(*) as items,
        max(reply_hops) as reply_hops,
        max(share_hops) as share_hops,
        min(created_at) as first_at,
        max(created_at) as last_at,
        count(*) filter (where is_missing_parent) as missing_parents,
        count(*) filter (where is_share_link) as share_links,
        count(*) filter (where is_share_link and is_flat_reshare) as flat_reshares
    from int_cascade_nodes
    group by root_key, depth
),

per_root as (
    select
        root_key,
        sum(items)::bigint as size,
        max(depth) as depth,
        max(reply_hops) as thread_depth,
        max(share_hops) as share_depth,
        max(items) as max_breadth,
        min(first_at) filter (where depth >= 1) as depth_1_at,
        min(first_at) filter (where depth >= 2) as depth_2_at,
        min(first_at) filter (where depth >= 3) as depth_3_at,
        min(first_at) filter (where depth >= 5) as depth_5_at,
        min(first_at) filter (where depth >= 10) as depth_10_at,
        max(last_at) as last_activity_at,
        sum(missing_parents)::bigint as missing_parents,
        sum(share_links)::bigint as share_links,
        coalesce(sum(flat_reshares) filter (where depth = 1), 0)::bigint as flat_reshares_of_root
    from levels
    group by root_key
),

users as (
    select
        root_key,
        count(distinct author_key) as unique_users
    from int_cascade_nodes
    where has_author
    group by root_key
),

-- the k-th earliest item of a cascade, k = 10, 100, 1000: a bounded top-k per cascade, only where size >= k
first_10 as (
    select
        nodes.root_key,
        min(nodes.created_at, 10) as first_times
    from int_cascade_nodes as nodes
    semi join per_root on per_root.root_key = nodes.root_key and per_root.size >= 10
    group by nodes.root_key
),

first_100 as (
    select
        nodes.root_key,
        min(nodes.created_at, 100) as first_times
    from int_cascade_nodes as nodes
    semi join per_root on per_root.root_key = nodes.root_key and per_root.size >= 100
    group by nodes.root_key
),

first_1000 as (
    select
        nodes.root_key,
        min(nodes.created_at, 1000) as first_times
    from int_cascade_nodes as nodes
    semi join per_root on per_root.root_key = nodes.root_key and per_root.size >= 1000
    group by nodes.root_key
),

truncated as (
    select
        root_key,
        count(*) as truncated_items
    from int_cascade_quality
    where problem = 'depth_exceeded'
    group by root_key
),

hidden_replies as (
    -- threads the platform says have replies that were not fetched (Reddit's unexpanded "load more" stubs)
    select post_id from stg_reddit_posts
    where has_hidden_replies
),

failed_fetches as (
    -- auxiliary calls (thread, quotes, reposts, rebloggers) that failed for the root (stg_incomplete_fetches)
    select
        p.post_id,
        count(*) as failed_fetches
    from stg_incomplete_fetches as f
    inner join int_posts as p on p.post_id = p.platform || ':' || f.item_uri
    where f.item_uri <> ''
    group by p.post_id
),

roots as (
    select
        node_key,
        post_id,
        platform,
        community,
        kind,
        author_id,
        created_at
    from int_posts
    semi join per_root on per_root.root_key = int_posts.node_key
),

final as (
    select
        roots.post_id as root_id,
        roots.platform,
        roots.community,
        roots.kind as root_kind,
        roots.author_id as root_author_id,
        roots.created_at as root_created_at,
        strftime(roots.created_at at time zone 'UTC', '%G-W%V') as iso_week,
        r.size,
        coalesce(u.unique_users, 0) as unique_users,
        r.depth,
        r.thread_depth,
        r.share_depth,
        r.max_breadth,
        coalesce(r.size * s.sum_subtree - s.sum_subtree_sq, 0)::bigint as wiener_index,
        case
            when r.size > 1 then 2.0 * (r.size * s.sum_subtree - s.sum_subtree_sq) / (r.size * (r.size - 1.0))
        end as structural_virality,
        (epoch(r.depth_1_at) - epoch(roots.created_at)) / 60.0 as minutes_to_depth_1,
        (epoch(r.depth_2_at) - epoch(roots.created_at)) / 60.0 as minutes_to_depth_2,
        (epoch(r.depth_3_at) - epoch(roots.created_at)) / 60.0 as minutes_to_depth_3,
        (epoch(r.depth_5_at) - epoch(roots.created_at)) / 60.0 as minutes_to_depth_5,
        (epoch(r.depth_10_at) - epoch(roots.created_at)) / 60.0 as minutes_to_depth_10,
        (epoch(f10.first_times[10]) - epoch(roots.created_at)) / 60.0 as minutes_to_size_10,
        (epoch(f100.first_times[100]) - epoch(roots.created_at)) / 60.0 as minutes_to_size_100,
        (epoch(f1000.first_times[1000]) - epoch(roots.created_at)) / 60.0 as minutes_to_size_1000,
        r.last_activity_at,
        r.missing_parents,
        coalesce(t.truncated_items, 0) as truncated_items,
        coalesce(ff.failed_fetches, 0) as failed_fetches,
        r.missing_parents = 0
        and coalesce(t.truncated_items, 0) = 0
        and h.post_id is null
        and ff.post_id is null as is_complete,
        case
            when r.share_links = 0 then 'none'
            when r.share_links = r.flat_reshares_of_root then 'api_star'
            else 'reconstructed'
        end as reshare_tree
    from per_root as r
    inner join roots on roots.node_key = r.root_key
    left join subtrees as s on s.root_key = r.root_key
    left join truncated as t on t.root_key = r.root_key
    left join hidden_replies as h on h.post_id = roots.post_id
    left join failed_fetches as ff on ff.post_id = roots.post_id
    left join users as u on u.root_key = r.root_key
    left join first_10 as f10 on f10.root_key = r.root_key
    left join first_100 as f100 on f100.root_key = r.root_key
    left join first_1000 as f1000 on f1000.root_key = r.root_key
)

select * from final
