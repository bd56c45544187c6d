-- grain: one row per cascade root (same rows as fct_cascades)
-- description: How far each item travelled beyond the community it was born in (docs/metrics.md, "Spread beyond
--   origin"). The explain step and the weekly report read these columns.
-- column root_id: post_id of the cascade root
-- column platform: platform of the root
-- column origin_community: community the root was posted in (null when it has none, detected or explicit)
-- column root_author_id: author of the root (pseudonymous; null when deleted)
-- column root_created_at: creation time of the root (UTC)
-- column iso_week: ISO week of root_created_at, 'YYYY-Www'
-- column size: items in the cascade, root included
-- column depth: most hops from the root
-- column engagers: distinct authors of cascade items other than the root's author (deleted authors and configured
--   bots left out)
-- column outsider_engagers: engagers who were not members of origin_community at root_created_at (fewer than
--   membership.min_items items there in the membership.window_days before it); null without an origin community
-- column outsider_share: outsider_engagers / engagers; null when there are no engagers or no origin community
-- column communities_reached: distinct communities the cascade's items were posted in (root included)
-- column community_entropy: Shannon entropy in bits of the cascade's items over communities (items without a
--   community left out); 0 when all are in one community
-- column escaped: communities_reached > 1, or engagers >= spread.min_engagers and outsider_share >=
--   spread.min_outsider_share
-- column week_start: Monday (UTC) of the root's ISO week
-- column root_kind: kind of the root item (post, comment, share)
-- column is_complete: the cascade has no missing parents and nothing cut off (see fct_cascades)
-- column reshare_tree: none / api_star / reconstructed (see fct_cascades)
-- column history_days: days of lake coverage of the platform before root_created_at (from
--   dim_platform_coverage.coverage_start; 0 for items before it)
-- column is_warmup: history_days < membership.window_days: the membership behind outsider_engagers,
--   outsider_share and escaped saw less than a full window, so they are upper bounds (everyone looks new); leave
--   these rows out of escape figures (the explain step does by default)
-- column first_outsider_at: first engagement (fct_item_engagers.first_engaged_at) by an engager who was not a
--   member of origin_community at that moment; null when none or without an origin community
-- column minutes_to_first_outsider: first_outsider_at - root_created_at, in minutes
-- column dominant_emotion: the NRC emotion (anger, anticipation, disgust, fear, joy, sadness, surprise, trust) with
--   the highest rate in the root's text (fct_affect; ties: alphabetical); null when no emotion word or not scored
-- column permalink: the root's public URL on its platform (reddit.com, x.com, bsky.app, the Mastodon status page,
--   the demo's demo.ripple.invalid); null
--   where the platform has none that can be built from the id
-- column text_snippet: the first 140 characters of the root's title (or text when it has none), whitespace
--   collapsed
with

cascades as (
    select
        md5_number_lower(root_id) as root_key,
        root_id,
        platform,
        community as origin_community,
        root_author_id,
        root_created_at,
        iso_week,
        cast(date_trunc('week', root_created_at at time zone 'UTC') as date) as week_start,
        root_kind,
        size,
        depth,
        is_complete,
        reshare_tree
    from fct_cascades
),

cascade_items as (
    select
        nodes.root_key,
        posts.author_id,
        posts.community
    from int_cascade_nodes as nodes
    inner join int_posts as posts on posts.node_key = nodes.node_key
),

engagers as (
    select distinct
        items.root_key,
        items.author_id,
        c.platform,
        c.origin_community,
        c.root_created_at
    from cascade_items as items
    inner join cascades as c on c.root_key = items.root_key
    anti join cfg_bots as bots on bots.platform = c.platform and bots.author_id = items.author_id
    where items.author_id is not null and items.author_id is distinct from c.root_author_id
),

-- was the engager a member of the origin at the root's time? as-of lookup of their latest earlier item there
engager_membership as (
    select
        e.root_key,
        e.author_id,
        e.origin_community is not null
        and a.kth_latest_at >= e.root_created_at - to_days(getvariable('membership_window_days')) as is_member
    from engagers as e
    asof left join int_community_activity as a
        on
            a.platform = e.platform
            and a.community = e.origin_community
            and a.author_id = e.author_id
            and a.created_at < e.root_created_at
),

engagement as (
    select
        root_key,
        count(*) as engagers,
        count(*) filter (where not coalesce(is_member, false)) as outsider_engagers
    from engager_membership
    group by root_key
),

community_counts as (
    select
        root_key,
        community,
        count(*) as items
    from cascade_items
    where community is not null
    group by all
),

reach as (
    select
        root_key,
        count(*) as communities_reached,
        -sum(items / total * log2(items / total)) as community_entropy
    from (
        select *, sum(items) over (partition by root_key) as total
        from community_counts
    ) as shares
    group by root_key
),

outsiders as (
    select
        md5_number_lower(root_id) as root_key,
        min(first_engaged_at) filter (where is_outsider) as first_outsider_at
    from fct_item_engagers
    group by all
),

-- the root's own fields: text and the id parts a permalink is built from
root_posts as (
    select
        c.root_key,
        p.title,
        p.text,
        p.root_id as thread_root_id,
        p.community,
        p.url
    from cascades as c
    inner join int_posts as p on p.post_id = c.root_id
),

emotion as (
    select
        post_id,
        greatest(
            nrc_anger, nrc_anticipation, nrc_disgust, nrc_fear, nrc_joy, nrc_sadness, nrc_surprise, nrc_trust
        ) as top_rate,
        case
            when top_rate is null or top_rate <= 0 then null
            when nrc_anger = top_rate then 'anger'
            when nrc_anticipation = top_rate then 'anticipation'
            when nrc_disgust = top_rate then 'disgust'
            when nrc_fear = top_rate then 'fear'
            when nrc_joy = top_rate then 'joy'
            when nrc_sadness = top_rate then 'sadness'
            when nrc_surprise = top_rate then 'surprise'
            else 'trust'
        end as dominant_emotion
    from fct_affect
),

final as (
    select
        c.root_id,
        c.platform,
        c.origin_community,
        c.root_author_id,
        c.root_created_at,
        c.iso_week,
        c.size,
        c.depth,
        coalesce(e.engagers, 0) as engagers,
        case when c.origin_community is not null then coalesce(e.outsider_engagers, 0) end as outsider_engagers,
        case
            when c.origin_community is not null and e.engagers > 0 then e.outsider_engagers / e.engagers
        end as outsider_share,
        coalesce(r.communities_reached, 0) as communities_reached,
        coalesce(abs(r.community_entropy), 0.0) as community_entropy,
        coalesce(r.communities_reached, 0) > 1
        or coalesce(
            e.engagers >= getvariable('spread_min_engagers')
            and c.origin_community is not null
            and e.outsider_engagers / e.engagers >= getvariable('spread_min_outsider_share'),
            false
        ) as escaped,
        c.week_start,
        c.root_kind,
        c.is_complete,
        c.reshare_tree,
        greatest(0.0, (epoch(c.root_created_at) - epoch(cov.coverage_start)) / 86400.0) as history_days,
        history_days < getvariable('membership_window_days') as is_warmup,
        o.first_outsider_at,
        (epoch(o.first_outsider_at) - epoch(c.root_created_at)) / 60.0 as minutes_to_first_outsider,
        em.dominant_emotion,
        case
            when c.platform = 'reddit' and c.root_id like 'reddit:t3\_%' escape '\'
                then 'https://www.reddit.com/comments/' || substr(c.root_id, 11) || '/'
            when c.platform = 'reddit' and rp.thread_root_id like 'reddit:t3\_%' escape '\'
                then
                    'https://www.reddit.com/comments/' || substr(rp.thread_root_id, 11) || '/_/'
                    || substr(c.root_id, 11) || '/'
            when c.platform = 'x' and regexp_full_match(c.root_id, 'x:[0-9]+')
                then 'https://x.com/i/status/' || substr(c.root_id, 3)
            when c.platform = 'demo'
                then 'https://demo.ripple.invalid/' || coalesce(rp.community, '_') || '/' || substr(c.root_id, 6)
            -- Bluesky (bsky.app) and Mastodon (the status page) land the public URL with each item
            when c.platform in ('bluesky', 'mastodon') and rp.url like 'https://%'
                then rp.url
        end as permalink,
        left(
            regexp_replace(trim(coalesce(nullif(trim(rp.title), ''), rp.text, '')), '\s+', ' ', 'g'), 140
        ) as text_snippet
    from cascades as c
    inner join dim_platform_coverage as cov on cov.platform = c.platform
    left join outsiders as o on o.root_key = c.root_key
    left join root_posts as rp on rp.root_key = c.root_key
    left join emotion as em on em.post_id = c.root_id
    left join engagement as e on e.root_key = c.root_key
    left join reach as r on r.root_key = c.root_key
)

select * from final
