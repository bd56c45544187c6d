-- grain: one row per post_id with scored text, not deleted or removed upstream (latest fetch, latest scorer version)
-- description: Sentiment and emotion scores of each item's text (title and body joined by a blank line), with the item's platform, community, creation time and kind. TextBlob, VADER and NRC EmoLex rates per token; see docs/affect.md for exact definitions. NRC columns and arousal are NULL when emotion scoring is switched off.
-- column post_id: item id, <platform>:<native id>
-- column platform: platform the item was posted on
-- column community: community the item was posted in (lower-case subreddit, instance, detected community id); NULL when none
-- column created_at: when the item was posted (UTC)
-- column kind: post, comment or share
-- column tb_polarity: TextBlob polarity, -1 (negative) to 1 (positive)
-- column tb_subjectivity: TextBlob subjectivity, 0 (objective) to 1 (subjective)
-- column vader_compound: VADER compound score, -1 (most negative) to 1 (most positive)
-- column vader_pos: VADER share of positive valence, 0 to 1 (pos + neu + neg = 1 for non-blank text)
-- column vader_neu: VADER share of neutral text, 0 to 1
-- column vader_neg: VADER share of negative valence, 0 to 1
-- column nrc_anger: NRC EmoLex anger words per word token
-- column nrc_anticipation: NRC EmoLex anticipation words per word token
-- column nrc_disgust: NRC EmoLex disgust words per word token
-- column nrc_fear: NRC EmoLex fear words per word token
-- column nrc_joy: NRC EmoLex joy words per word token
-- column nrc_sadness: NRC EmoLex sadness words per word token
-- column nrc_surprise: NRC EmoLex surprise words per word token
-- column nrc_trust: NRC EmoLex trust words per word token
-- column arousal: share of word tokens carrying at least one high-arousal NRC emotion (anger, fear, surprise, anticipation, joy)
-- column n_tokens: word tokens in the text (letters required; URLs, handles, punctuation, emoji and numbers excluded)
-- column text_hash: sha256 of the scored text, the key of incremental scoring
-- column scorer_version: version of the scorer that produced the row (suffix -noemotions when emotion scoring is off)
-- column scored_at: when the text was scored (UTC)
with affect as (
    select * from stg_affect
),

posts as (
    select
        post_id,
        platform,
        community,
        created_at,
        kind
    from stg_posts
    -- gone upstream: its scores are not shown, like its text
    where not is_deleted and not is_removed
),

final as (
    select
        a.post_id,
        p.platform,
        p.community,
        p.created_at,
        p.kind,
        a.tb_polarity,
        a.tb_subjectivity,
        a.vader_compound,
        a.vader_pos,
        a.vader_neu,
        a.vader_neg,
        a.nrc_anger,
        a.nrc_anticipation,
        a.nrc_disgust,
        a.nrc_fear,
        a.nrc_joy,
        a.nrc_sadness,
        a.nrc_surprise,
        a.nrc_trust,
        a.arousal,
        a.n_tokens,
        a.text_hash,
        a.scorer_version,
        a.scored_at
    from affect as a
    inner join posts as p on a.post_id = p.post_id
)

select * from final
