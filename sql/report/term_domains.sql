-- link domains (from the url column and links in the text, $domain_re) in the week (from $cur to $end) and the
-- baseline weeks before it (from $start), lower-cased, without a leading www.
with

texts as (
    select
        created_at >= $cur as in_week,
        lower(concat_ws(' ', title, text)) as body,
        url
    from stg_posts
    where created_at >= $start and created_at < $end
),

links as (
    select in_week, unnest(regexp_extract_all(body, $domain_re, 1)) as host
    from texts
    union all
    select in_week, regexp_extract(lower(url), $domain_re, 1) as host
    from texts
    where url is not null
)

select
    regexp_replace(host, '^www[.]', '') as term,
    count(*) filter (where in_week) as count_week,
    count(*) filter (where not in_week) as count_baseline
from links
where host <> ''
group by 1
order by 1
