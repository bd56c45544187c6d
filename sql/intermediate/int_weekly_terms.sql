-- The terms of each platform's items per ISO week, for the term alerts of fct_alerts. An item's title and text
-- (int_posts) are lower-cased, URLs, @handles and the moderation placeholders '[removed]' and '[deleted]' removed, and split into tokens (a letter, then letters, digits, _,
-- ' or -, optionally after '#'): a token with '#' is a hashtag (kept with its '#'), any other token of at least
-- three letters that is not a stop word (the stop_words list below) is a word. An item counts once per term
-- however often it uses it. Posts and comments count; shares do not (a share repeats the words of the item it
-- shares, whose spread the other alerts follow), nor do deleted items.
-- grain: one row per (platform, week_start, term) used by at least one item of that platform and week
-- description: Weekly counts of the items using each hashtag and word, per platform (the term alerts' series).
-- column platform: platform of the items
-- column week_start: Monday (UTC) of the items' ISO week
-- column term: the hashtag ('#tag') or word, lower-case
-- column term_kind: 'hashtag' or 'word'
-- column items: posts and comments of that platform and week that use the term
with

stop_words as (
    select word
    from (
        values
        ('the'), ('and'), ('for'), ('are'), ('but'), ('not'), ('you'), ('all'), ('any'), ('can'), ('had'),
        ('her'), ('was'), ('one'), ('our'), ('out'), ('has'), ('him'), ('his'), ('how'), ('its'), ('may'),
        ('new'), ('now'), ('old'), ('see'), ('two'), ('who'), ('did'), ('get'), ('got'), ('let'), ('put'),
        ('say'), ('she'), ('too'), ('use'), ('yes'), ('yet'), ('way'), ('why'), ('off'), ('own'), ('per'),
        ('via'), ('about'), ('after'), ('again'), ('also'), ('been'), ('before'), ('being'), ('both'),
        ('could'), ('does'), ('doing'), ('done'), ('down'), ('each'), ('even'), ('from'), ('have'),
        ('having'), ('here'), ('into'), ('just'), ('like'), ('more'), ('most'), ('much'), ('must'), ('only'),
        ('other'), ('over'), ('same'), ('should'), ('some'), ('such'), ('than'), ('that'), ('their'),
        ('them'), ('then'), ('there'), ('these'), ('they'), ('this'), ('those'), ('through'), ('under'),
        ('until'), ('very'), ('want'), ('were'), ('what'), ('when'), ('where'), ('which'), ('while'),
        ('will'), ('with'), ('would'), ('your'), ('yours'), ('youre'), ('dont'), ('cant'), ('im'),
        ('it''s'), ('i''m'), ('don''t'), ('can''t'), ('that''s'), ('there''s'), ('i''ve'), ('you''re'),
        ('didn''t'), ('doesn''t'), ('isn''t'), ('won''t'), ('wasn''t'), ('what''s'), ('let''s'),
        ('really'), ('still'), ('think'), ('know'), ('make'), ('made'), ('going'), ('thing'), ('things'),
        ('people'), ('today'), ('because'), ('every'), ('well'), ('http'), ('https'), ('www'), ('amp')
    ) as s (word)
),

bodies as (
    select
        platform,
        week_start,
        post_id,
        regexp_replace(
            regexp_replace(
                lower(concat_ws(' ', title, text)), '(https?://|www\.)[^\s<>"'']+|\[(removed|deleted)\]', ' ', 'g'
            ),
            '(^|[^\p{L}\p{N}_])@[\p{L}\p{N}_]+', ' ', 'g'
        ) as body
    from int_posts
    where kind != 'share' and not coalesce(is_deleted, false) and coalesce(title, text) is not null
),

tokens as (
    select platform, week_start, post_id, unnest(list_distinct(regexp_extract_all(body, '#?\p{L}[\p{L}\p{N}_''’-]*'))) as token
    from bodies
),

terms as (
    select
        platform,
        week_start,
        post_id,
        rtrim(token, '''’-') as term,
        case when token[1] = '#' then 'hashtag' else 'word' end as term_kind
    from tokens
)

select platform, week_start, term, term_kind, count(distinct post_id) as items
from terms
where
    term_kind = 'hashtag'
    or (length(regexp_replace(term, '[^\p{L}]', '', 'g')) >= 3 and term not in (select word from stop_words))
group by platform, week_start, term, term_kind
