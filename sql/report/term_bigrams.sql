-- two-word phrases of titles and texts in the week (from $cur to $end) and the baseline weeks before it (from
-- $start): the word tokens of term_tokens.sql ($url_re and $handle_re removed, tokens matching $token_re, a
-- leading '#' dropped), each pair of consecutive tokens of one item's text
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
        list_transform(
            regexp_extract_all(
                regexp_replace(regexp_replace(body, $url_re, ' ', 'g'), $handle_re, ' ', 'g'), $token_re
            ),
            lambda t: ltrim(t, '#')
        ) as words
    from texts
),

pairs as (
    select
        in_week,
        unnest(list_transform(range(1, len(words)), lambda i: words[i] || ' ' || words[i + 1])) as term
    from cleaned
    where len(words) >= 2
)

select
    term,
    count(*) filter (where in_week) as count_week,
    count(*) filter (where not in_week) as count_baseline
from pairs
group by term
order by term
