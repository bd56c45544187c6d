-- mean affect of the items of each UTC day from $start to $end (summed as decimals: exact, so the means do not
-- depend on how the rows were split between threads)
select
    cast(created_at at time zone 'UTC' as date) as date,
    count(*) as items,
    avg(vader_compound::decimal(18, 12))::double as vader_compound,
    avg(tb_polarity::decimal(18, 12))::double as tb_polarity,
    avg(tb_subjectivity::decimal(18, 12))::double as tb_subjectivity,
    avg(arousal::decimal(18, 12))::double as arousal,
    avg(nrc_anger::decimal(18, 12))::double as nrc_anger,
    avg(nrc_anticipation::decimal(18, 12))::double as nrc_anticipation,
    avg(nrc_disgust::decimal(18, 12))::double as nrc_disgust,
    avg(nrc_fear::decimal(18, 12))::double as nrc_fear,
    avg(nrc_joy::decimal(18, 12))::double as nrc_joy,
    avg(nrc_sadness::decimal(18, 12))::double as nrc_sadness,
    avg(nrc_surprise::decimal(18, 12))::double as nrc_surprise,
    avg(nrc_trust::decimal(18, 12))::double as nrc_trust
from fct_affect
where created_at >= $start and created_at < $end
group by all
order by date
