-- word tokens of titles and texts in the week (from $cur to $end) and the baseline weeks before it (from $start):
-- lower-cased, URLs ($url_re) and @handles ($handle_re) removed, tokens matching $token_re
with

texts as (
    select
        created_at >= $cur as in_week,
        lower(concat_ws(' ', title, text)) as body
    from stg_posts
    where created_at >= $start and created_at < $end
),

cleaned as (
    select
        in_week,
        regexp_replace(regexp_replace(body, $url_re, ' ', 'g'), $handle_re, ' ', 'g') as body
    from texts
),

tokens as (
    select in_week, unnest(regexp_extract_all(body, $token_re)) as token
    from cleaned
)

select
    token,
    count(*) filter (where in_week) as count_week,
    count(*) filter (where not in_week) as count_baseline
from tokens
group by token
order by token
