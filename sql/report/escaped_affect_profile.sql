-- mean affect of the week's ($week) roots that escaped and of those that did not, one row per measure (the means
-- are taken over the columns first, then turned into rows, so that they do not depend on how the rows were split
-- between threads; summed as decimals, which is exact whatever the order)
with

roots as (
    select
        s.escaped,
        a.vader_compound,
        a.tb_polarity,
        a.tb_subjectivity,
        a.arousal,
        a.nrc_anger,
        a.nrc_anticipation,
        a.nrc_disgust,
        a.nrc_fear,
        a.nrc_joy,
        a.nrc_sadness,
        a.nrc_surprise,
        a.nrc_trust
    from fct_item_spread as s
    inner join fct_affect as a on a.post_id = s.root_id
    where s.iso_week = $week
),

measures (measure, position) as (
    values
        ('vader_compound', 1), ('tb_polarity', 2), ('tb_subjectivity', 3), ('arousal', 4),
        ('nrc_anger', 5), ('nrc_anticipation', 6), ('nrc_disgust', 7), ('nrc_fear', 8),
        ('nrc_joy', 9), ('nrc_sadness', 10), ('nrc_surprise', 11), ('nrc_trust', 12)
),

escaped_means as (
    unpivot (select avg(columns(* exclude (escaped))::decimal(18, 12))::double from roots where escaped)
    on columns(*) into name measure value escaped_mean
),

other_means as (
    unpivot (select avg(columns(* exclude (escaped))::decimal(18, 12))::double from roots where not escaped)
    on columns(*) into name measure value other_mean
),

final as (
    select
        m.measure,
        e.escaped_mean::double as escaped_mean,
        o.other_mean::double as other_mean,
        (e.escaped_mean - o.other_mean)::double as difference,
        (select count(*) from roots where escaped) as escaped_roots,
        (select count(*) from roots where not escaped) as other_roots,
        m.position
    from measures as m
    left join escaped_means as e on e.measure = m.measure
    left join other_means as o on o.measure = m.measure
)

select * exclude (position) from final
order by position
