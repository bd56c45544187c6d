-- every fit and term of the spread-driver regression
select
    fit_scope,
    fit_key,
    term,
    odds_ratio_per_sd,
    ci_low,
    ci_high,
    term_kind,
    scale,
    p_value,
    n,
    n_escaped,
    status,
    note
from fct_spread_drivers
order by fit_scope, fit_key nulls first, term
