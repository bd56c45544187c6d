-- every fit and term of the spread-driver regression, with the multiple-testing figures: is_driver (q_value < 0.05,
-- Benjamini-Hochberg across the affect terms of the fit), terms_tested and the fit's inference method
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
    q_value,
    is_driver,
    terms_tested,
    inference,
    n,
    n_escaped,
    status,
    note
from fct_spread_drivers
order by fit_scope, fit_key nulls first, term
