-- mean affect of the items of the week (from $cur to $end) against the baseline weeks before it (from $start),
-- one row per measure (the means are taken over the columns first, then turned into rows, so that they do not
-- depend on how the rows were split between threads; summed as decimals, which is exact whatever the order)
with

scores as (
    select
        created_at >= $cur as in_week,
        vader_compound,
        tb_polarity,
        tb_subjectivity,
        arousal,
        nrc_anger,
        nrc_anticipation,
        nrc_disgust,
        nrc_fear,
        nrc_joy,
        nrc_sadness,
        nrc_surprise,
        nrc_trust
    from fct_affect
    where created_at >= $start and created_at < $end
),

measures (measure, position) as (
    values
        ('vader_compound', 1), ('tb_polarity', 2), ('tb_subjectivity', 3), ('arousal', 4),
        ('nrc_anger', 5), ('nrc_anticipation', 6), ('nrc_disgust', 7), ('nrc_fear', 8),
        ('nrc_joy', 9), ('nrc_sadness', 10), ('nrc_surprise', 11), ('nrc_trust', 12)
),

week_means as (
    unpivot (select avg(columns(* exclude (in_week))::decimal(18, 12))::double from scores where in_week)
    on columns(*) into name measure value week_mean
),

baseline_means as (
    unpivot (select avg(columns(* exclude (in_week))::decimal(18, 12))::double from scores where not in_week)
    on columns(*) into name measure value baseline_mean
),

final as (
    select
        m.measure,
        w.week_mean::double as week_mean,
        b.baseline_mean::double as baseline_mean,
        (w.week_mean - b.baseline_mean)::double as change,
        (select count(*) from scores where in_week) as week_items,
        (select count(*) from scores where not in_week) as baseline_items,
        m.position
    from measures as m
    left join week_means as w on w.measure = m.measure
    left join baseline_means as b on b.measure = m.measure
)

select * exclude (position) from final
order by position
