-- mean affect of the items of each UTC day from $start to $end
select
    cast(created_at at time zone 'UTC' as date) as date,
    count(*) as items,
    avg(vader_compound) as vader_compound,
    avg(tb_polarity) as tb_polarity,
    avg(tb_subjectivity) as tb_subjectivity,
    avg(arousal) as arousal,
    avg(nrc_anger) as nrc_anger,
    avg(nrc_anticipation) as nrc_anticipation,
    avg(nrc_disgust) as nrc_disgust,
    avg(nrc_fear) as nrc_fear,
    avg(nrc_joy) as nrc_joy,
    avg(nrc_sadness) as nrc_sadness,
    avg(nrc_surprise) as nrc_surprise,
    avg(nrc_trust) as nrc_trust
from fct_affect
where created_at >= $start and created_at < $end
group by all
order by date
