-- grain: one row per cascade root of fct_item_spread that is not a comment
-- description: The input frame of the spread explanation (pipeline.explain): the outcome (escaped), the raw affect
--   features of the root and the raw controls. It reads the marts fct_item_spread and fct_affect, so the runner
--   builds it after them (dependencies are found across layers). Communities are those of int_posts, the ones the
--   marts use: for platforms whose communities are detected, the detected community of each item.
-- column root_id: post_id of the cascade root
-- column platform: platform of the root
-- column origin_community: community the root was posted in (int_posts, detected or explicit)
-- column iso_week: ISO week of the root (fct_item_spread)
-- column escaped: the cascade reached outsiders of its origin community (fct_item_spread)
-- column size: items in the cascade, root included (fct_item_spread)
-- column outsider_engagers: engagers who were not members of the origin community (fct_item_spread)
-- column communities_reached: distinct communities of the cascade's items (fct_item_spread)
-- column vader_compound: VADER compound score of the root (fct_affect; NULL when it has no score)
-- column tb_subjectivity: TextBlob subjectivity of the root (fct_affect)
-- column nrc_anger: NRC EmoLex anger words per token of the root (fct_affect)
-- column nrc_anticipation: NRC EmoLex anticipation words per token of the root (fct_affect)
-- column nrc_disgust: NRC EmoLex disgust words per token of the root (fct_affect)
-- column nrc_fear: NRC EmoLex fear words per token of the root (fct_affect)
-- column nrc_joy: NRC EmoLex joy words per token of the root (fct_affect)
-- column nrc_sadness: NRC EmoLex sadness words per token of the root (fct_affect)
-- column nrc_surprise: NRC EmoLex surprise words per token of the root (fct_affect)
-- column nrc_trust: NRC EmoLex trust words per token of the root (fct_affect)
-- column author_prior_items: items by the root's author in the membership.window_days before the root
-- column origin_community_authors: distinct authors who posted in the origin community (same platform) in the
--   membership.window_days before the Monday (UTC) of the root's ISO week; 0 when the root has no community
-- column text_chars: characters of title and text
-- column has_link: the root carries a URL or a link in its text
-- column iso_weekday: ISO day of the week of the root (1 = Monday, UTC)
-- column in_warmup: the root is in membership warm-up (fct_item_spread.is_warmup: less history than
--   membership.window_days before it); the fits leave such roots out
with

spread as (
    select
        root_id,
        platform,
        origin_community,
        root_author_id,
        root_created_at,
        iso_week,
        escaped,
        size,
        outsider_engagers,
        communities_reached,
        is_warmup
    from fct_item_spread
    -- a comment is a root only when its thread started before the data does (an orphan): it did not start
    -- anything, so it is no observation of what makes content travel
    where root_kind <> 'comment'
),

author_activity as (
    -- items by the root's author in the window before the root (the root itself excluded; items at the same
    -- instant count)
    select
        s.root_id as post_id,
        count(*) - 1 as author_prior_items
    from spread as s
    inner join int_posts as p
        on
            p.author_id = s.root_author_id
            and p.created_at >= s.root_created_at - to_days(getvariable('membership_window_days'))
            and p.created_at <= s.root_created_at
    group by s.root_id
),

final as (
    select
        s.root_id,
        s.platform,
        s.origin_community,
        s.iso_week,
        s.escaped,
        s.size,
        s.outsider_engagers,
        s.communities_reached,
        coalesce(a.author_prior_items, 0) as author_prior_items,
        coalesce(c.authors, 0) as origin_community_authors,
        length(coalesce(p.title, '')) + length(coalesce(p.text, '')) as text_chars,
        coalesce(p.url, '') <> ''
        or regexp_matches(coalesce(p.title, '') || ' ' || coalesce(p.text, ''), '(https?://|www\.)') as has_link,
        isodow(s.root_created_at at time zone 'UTC') as iso_weekday,
        coalesce(s.is_warmup, false) as in_warmup,
        f.vader_compound,
        f.tb_subjectivity,
        f.nrc_anger,
        f.nrc_anticipation,
        f.nrc_disgust,
        f.nrc_fear,
        f.nrc_joy,
        f.nrc_sadness,
        f.nrc_surprise,
        f.nrc_trust
    from spread as s
    left join int_posts as p on s.root_id = p.post_id
    left join author_activity as a on s.root_id = a.post_id
    left join int_community_size as c
        on
            s.platform = c.platform
            and s.origin_community = c.community
            and c.week_start = cast(date_trunc('week', s.root_created_at at time zone 'UTC') as date)
    left join fct_affect as f on s.root_id = f.post_id
)

select * from final
