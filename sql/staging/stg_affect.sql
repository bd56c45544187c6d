-- Affect scores from the lake: only the scorer version used most recently (the one whose newest score is the
-- latest), and of that version the latest score of each post_id (its current text). NULL emotion columns mean
-- emotion scoring was switched off (affect.emotions = false).
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
