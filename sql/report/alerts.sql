-- the alerts (fct_alerts) of the week $week, largest |robust z| first; items carry their permalink and text
select
    a.platform,
    a.subject_kind,
    a.subject,
    a.community,
    a.other_community,
    a.metric,
    a.value,
    a.baseline_median,
    a.baseline_mad,
    a.baseline_weeks,
    a.robust_z,
    a.direction,
    coalesce(i.permalink, p.url) as url,
    coalesce(nullif(trim(p.title), ''), p.text) as item_text
from fct_alerts as a
left join stg_posts as p on a.subject_kind = 'item' and p.post_id = a.subject
left join fct_item_spread as i on a.subject_kind = 'item' and i.root_id = a.subject
where a.iso_week = $week
order by abs(a.robust_z) desc, a.platform, a.subject_kind, a.subject, a.metric
