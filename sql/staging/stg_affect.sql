-- Affect scores from the lake: only the scorer version used most recently (the one whose newest score is the
-- latest), and of that version the latest score of each post_id (its current text). NULL emotion columns mean
-- emotion scoring was switched off (affect.emotions = false).
-- grain: one row per scored post_id (latest scorer version, latest score)
-- description: Affect scores of the lake (lake/affect), one current score per item; fct_affect joins them to the
--   items. Definitions in docs/affect.md.
-- column post_id: item id, <platform>:<native id>
-- column text_hash: sha256 of the scored text, the key of incremental scoring
-- column scorer_version: version of the scorer that produced the row (suffix -noemotions when emotions are off)
-- column scored_at: when the text was scored (UTC)
-- column tb_polarity: TextBlob polarity, -1 to 1
-- column tb_subjectivity: TextBlob subjectivity, 0 to 1
-- column vader_compound: VADER compound score, -1 to 1
-- column vader_pos: VADER share of positive valence
-- column vader_neu: VADER share of neutral text
-- column vader_neg: VADER share of negative valence
-- column nrc_anger: NRC EmoLex anger words per word token
-- column nrc_anticipation: NRC EmoLex anticipation words per word token
-- column nrc_disgust: NRC EmoLex disgust words per word token
-- column nrc_fear: NRC EmoLex fear words per word token
-- column nrc_joy: NRC EmoLex joy words per word token
-- column nrc_sadness: NRC EmoLex sadness words per word token
-- column nrc_surprise: NRC EmoLex surprise words per word token
-- column nrc_trust: NRC EmoLex trust words per word token
-- column arousal: share of word tokens carrying at least one high-arousal NRC emotion
-- column n_tokens: word tokens in the text
with source as (
    select * from src_affect
),

current_version as (
    select arg_max(scorer_version, scored_at) as scorer_version
    from source
),

ranked as (
    select
        s.post_id,
        s.text_hash,
        s.scorer_version,
        cast(s.scored_at as timestamptz) as scored_at,
        cast(s.tb_polarity as double) as tb_polarity,
        cast(s.tb_subjectivity as double) as tb_subjectivity,
        cast(s.vader_compound as double) as vader_compound,
        cast(s.vader_pos as double) as vader_pos,
        cast(s.vader_neu as double) as vader_neu,
        cast(s.vader_neg as double) as vader_neg,
        cast(s.nrc_anger as double) as nrc_anger,
        cast(s.nrc_anticipation as double) as nrc_anticipation,
        cast(s.nrc_disgust as double) as nrc_disgust,
        cast(s.nrc_fear as double) as nrc_fear,
        cast(s.nrc_joy as double) as nrc_joy,
        cast(s.nrc_sadness as double) as nrc_sadness,
        cast(s.nrc_surprise as double) as nrc_surprise,
        cast(s.nrc_trust as double) as nrc_trust,
        cast(s.arousal as double) as arousal,
        cast(s.n_tokens as bigint) as n_tokens,
        row_number() over (partition by s.post_id order by s.scored_at desc, s.text_hash) as recency_rank
    from source as s
    inner join current_version as v on s.scorer_version = v.scorer_version
),

final as (
    select * exclude (recency_rank)
    from ranked
    where recency_rank = 1
)

select * from final
