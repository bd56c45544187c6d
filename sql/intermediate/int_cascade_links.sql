-- One row per item: the edge that hangs it in its cascade tree (docs/metrics.md, "Cascades").
-- The declared parent is parent_id when the item replies to something, else shared_id. When that parent is not in
-- the data (or is the item itself), the item hangs under its thread root (root_id) if that is known and present;
-- otherwise it starts a cascade of its own. Either way it counts as a missing parent of its cascade.
-- Keys are the 64-bit node_key of int_posts, so the recursive walks join integers, not strings; the payload the
-- cascade metrics need (time, author, edge type) rides along so no later step has to join back by key.
-- grain: one row per item (node_key)
-- description: The edge that hangs each item in its cascade tree, with what the cascade metrics need.
-- column node_key: the item (int_posts.node_key)
-- column tree_parent_key: node_key of its tree parent (parent_id, else shared_id, else the thread root when the
--   declared parent is missing); null for a cascade root
-- column is_share_link: the edge is a share edge (shared_id), not a reply edge
-- column is_flat_reshare: a retweet / boost / repost edge: the platform attributes reshares of reshares to the original
-- column is_missing_parent: the declared parent is not in the data
-- column is_self_parent: the declared parent is the item itself
-- column is_thread_root_fallback: the item hangs under its thread root because its declared parent is missing
-- column created_at: creation time of the item (UTC)
-- column author_key: 64-bit hash of author_id
-- column has_author: the item has a (non-deleted) author
with

-- everything the cascade models need is derived from the strings once, here; from then on only 64-bit keys and
-- flags travel, so the materialized list below stays narrow
parent_checked as (
    select
        child.node_key,
        child.parent_key,
        child.is_share_link,
        child.is_flat_reshare,
        child.thread_root_key,
        child.created_at,
        child.author_key,
        child.has_author,
        child.is_self_parent,
        parent.node_key is not null and not child.is_self_parent as is_parent_present
    from (
        -- keys are md5_number_lower (64 bits of MD5): DuckDB's hash() collides on similar ids at millions of items
        select
            node_key,
            case when coalesce(parent_id, shared_id) is not null then md5_number_lower(coalesce(parent_id, shared_id)) end
                as parent_key,
            parent_id is null and shared_id is not null as is_share_link,
            parent_id is null and shared_id is not null and share_type in ('retweet', 'boost', 'repost')
                as is_flat_reshare,
            case when root_id <> post_id then md5_number_lower(root_id) end as thread_root_key,
            created_at,
            md5_number_lower(author_id) as author_key,
            author_id is not null as has_author,
            coalesce(coalesce(parent_id, shared_id) = post_id, false) as is_self_parent
        from int_posts
    ) as child
    left join (select node_key from int_posts) as parent
        on parent.node_key = child.parent_key
),

-- the few items whose declared parent is unusable look up their thread root. Only thread roots (items whose
-- root_id is empty or themselves) are candidates, and only when there are orphans at all: the materialized
-- orphan list gates the lookup table, so complete data pays for one small scan, not a second hash join.
orphans as materialized (
    select node_key, thread_root_key
    from parent_checked
    where parent_key is not null and not is_parent_present and thread_root_key is not null
),

has_orphans as materialized (
    select count(*) > 0 as yes from orphans
),

fallback as (
    select orphans.node_key
    from orphans
    inner join (
        select node_key
        from int_posts
        semi join has_orphans on has_orphans.yes
        where root_id is null or root_id = post_id
    ) as thread_root on thread_root.node_key = orphans.thread_root_key
),

resolved as (
    select
        c.*,
        f.node_key is not null as is_thread_root_fallback
    from parent_checked as c
    left join fallback as f on f.node_key = c.node_key
),

final as (
    select
        node_key,
        case
            when is_parent_present then parent_key
            when is_thread_root_fallback then thread_root_key
        end as tree_parent_key,
        is_share_link,
        is_flat_reshare,
        parent_key is not null and not is_parent_present as is_missing_parent,
        is_self_parent,
        is_thread_root_fallback,
        created_at,
        author_key,
        has_author
    from resolved
)

select * from final
