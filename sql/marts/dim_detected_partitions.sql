-- grain: one row per (platform, ISO week) with a detected community partition
-- description: The weekly Leiden runs that give communities to platforms without their own
--   (cfg_detect_platforms): parameters, graph size and modularity, for reproducibility and to judge how
--   clear the community structure was that week. Users and their communities are in int_detected_communities.
-- column platform: platform the graph was built for
-- column week_start: Monday (UTC) of the week
-- column iso_week: ISO week, 'YYYY-Www'
-- column algorithm: algorithm, implementation and quality function ('leiden/igraph-modularity': igraph's
--   community_leiden with the modularity objective)
-- column resolution: resolution parameter (communities.resolution)
-- column seed: random seed (communities.seed); the same data and seed give the same partition
-- column min_size: communities smaller than this (communities.min_size) are not kept; their users get none
-- column n_iterations: Leiden iterations (-1 = until no improvement)
-- column users: users in the week's interaction graph
-- column edges: distinct user pairs that interacted (replies, quotes, reshares; undirected)
-- column total_weight: interactions in the graph (sum of edge weights)
-- column communities: communities kept (at least min_size users)
-- column assigned_users: users placed in a kept community
-- column modularity: Newman modularity of the full partition (weighted, resolution 1), in [-0.5, 1]
-- column quality: value of the optimized quality function (modularity at the configured resolution, unnormalized)
with

partitions as (
    select * from int_detected_partitions
),

final as (
    select
        platform,
        week_start,
        iso_week,
        algorithm,
        resolution,
        seed,
        min_size,
        n_iterations,
        users,
        edges,
        total_weight,
        communities,
        assigned_users,
        modularity,
        quality
    from partitions
)

select * from final
