"""The "What drives spread" section: the spread-driver fits read out in plain words, a forest plot and a table."""

from __future__ import annotations

import pandas as pd

import pipeline.report.charts as charts
import pipeline.report.queries as queries
from pipeline.report.db import Warehouse
from pipeline.report.view import Report, fmt, table_view
from pipeline.report.weeks import IsoWeek

LABELS: dict[str, str] = {
    "vader_compound": "VADER compound",
    "tb_polarity": "TextBlob polarity",
    "tb_subjectivity": "TextBlob subjectivity",
    "arousal": "arousal",
}

_TABLE_COLUMNS = [
    ("fit_scope", "Fit", "text"),
    ("fit_key", "Key", "text"),
    ("term", "Term", "text"),
    ("term_kind", "Kind", "text"),
    ("odds_ratio_per_sd", "OR per SD", "sig"),
    ("ci_low", "CI low", "sig"),
    ("ci_high", "CI high", "sig"),
    ("p_value", "p", "p"),
    ("q_value", "q (BH)", "p"),
    ("is_driver", "Driver", "text"),
    ("n", "n", "int"),
    ("n_escaped", "Escaped", "int"),
    ("status", "Status", "text"),
]


#: how each inference method of the fits (fct_spread_drivers.inference) reads in the report
INFERENCE: dict[str, str] = {
    "score_bootstrap_webb": "wild cluster score bootstrap (Webb weights) by origin community, t(G−1) intervals",
    "cr1_normal": "standard errors clustered by origin community, normal reference",
    "hc1_normal": "heteroskedasticity-robust errors, not clustered (too few origin communities)",
}


def is_driver(terms: pd.DataFrame) -> pd.Series:
    """The terms the report calls drivers: ``fct_spread_drivers.is_driver`` (Benjamini–Hochberg q < 0.05
    across the fit's affect terms), never the confidence interval alone."""
    if "is_driver" not in terms.columns:
        return pd.Series(False, index=terms.index)
    return terms["is_driver"].astype("boolean").fillna(False).astype(bool)


def testing_phrase(fit: pd.DataFrame) -> str:
    """“12 affect terms tested, wild cluster score bootstrap …” for one fit's rows (empty when unknown)."""
    parts = []
    tested = fit["terms_tested"].dropna() if "terms_tested" in fit.columns else pd.Series(dtype=float)
    if not tested.empty:
        n = int(tested.max())
        parts.append(f"{n} affect term{'s' if n != 1 else ''} tested, drivers at q < 0.05")
    methods = sorted(fit["inference"].dropna().astype(str).unique()) if "inference" in fit.columns else []
    parts += [INFERENCE.get(m, m) for m in methods]
    return "; ".join(parts)


def term_label(term: str) -> str:
    base = term.removesuffix("_z").removesuffix("_std")
    if base.startswith("nrc_"):
        return f"{base.removeprefix('nrc_')} words"
    return LABELS.get(base, base.replace("_", " "))


def _fit_rows(drivers: pd.DataFrame, scope: str, key: str | None) -> pd.DataFrame:
    keys = drivers["fit_key"].isna() if key is None else drivers["fit_key"].astype(str) == key
    return drivers[(drivers["fit_scope"] == scope) & keys]


def _associations(usable: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Sentences for the drivers (:func:`is_driver`), and the terms that are not."""
    drivers = usable[is_driver(usable)]
    up = drivers[drivers["odds_ratio_per_sd"] > 1].sort_values(
        ["odds_ratio_per_sd", "term"], ascending=[False, True]
    )
    down = drivers[drivers["odds_ratio_per_sd"] < 1].sort_values(["odds_ratio_per_sd", "term"])
    parts = [
        f"one standard deviation more {term_label(r.term)} goes with {r.odds_ratio_per_sd:.2f}× the "
        f"odds of escaping (95% CI {r.ci_low:.2f}–{r.ci_high:.2f}, q = {r.q_value:.3g})"
        for r in up.itertuples()
    ]
    parts += [
        f"one standard deviation more {term_label(r.term)} goes with {r.odds_ratio_per_sd:.2f}× the "
        f"odds of escaping, i.e. {(1 - r.odds_ratio_per_sd) * 100:.0f}% lower odds "
        f"(95% CI {r.ci_low:.2f}–{r.ci_high:.2f}, q = {r.q_value:.3g})"
        for r in down.itertuples()
    ]
    unclear = sorted(set(usable["term"]) - set(up["term"]) - set(down["term"]))
    return parts, unclear


def _fit_reading(sub: pd.DataFrame, name: str) -> str:
    n, n_esc = sub["n"].dropna().max(), sub["n_escaped"].dropna().max()
    sizes = f" (n = {fmt(n, 'int')}, {fmt(n_esc, 'int')} escaped)" if not pd.isna(n) else ""
    terms = queries.per_sd_terms(sub)
    usable = terms[terms["odds_ratio_per_sd"].notna() & terms["ci_low"].notna() & terms["ci_high"].notna()]
    controls: list[str] = []
    if (usable["term_kind"] == "affect").any():
        # indicator groups such as weekday[mon], weekday[tue] read as one control: weekday
        controls = sorted(
            {t.split("[", 1)[0] for t in sub.loc[sub["term_kind"] != "affect", "term"].dropna()}
        )
        usable = usable[usable["term_kind"] == "affect"]
    if usable.empty:
        why = "insufficient data" if "insufficient_data" in set(sub["status"].dropna()) else "no estimates"
        note = f": {sorted(sub['note'].dropna().astype(str))[0]}" if sub["note"].notna().any() else ""
        return f"{name}{sizes}: {why}{note}. No reading is possible."
    parts, unclear = _associations(usable)
    tested = testing_phrase(sub)
    sizes += f" [{tested}]" if tested else ""
    if parts:
        text = f"{name}{sizes}: " + "; ".join(parts) + "."
    else:
        text = f"{name}{sizes}: no affect feature is a driver (q < 0.05 after testing every affect term)."
    if unclear:
        text += f" No clear association for {', '.join(term_label(t) for t in unclear)}."
    if controls:
        text += f" Controls held constant: {', '.join(controls)}."
    return text


def driver_reading(drivers: pd.DataFrame, fits: list[tuple[str, str | None]]) -> list[str]:
    """Plain-words sentences for the described fits: the features that go with higher or lower odds."""
    out = []
    for scope, key in fits:
        name = queries.fit_name(scope, key)
        out.append(_fit_reading(_fit_rows(drivers, scope, key), name[0].upper() + name[1:]))
    return out


def drivers_section(rep: Report, wh: Warehouse, week: IsoWeek) -> None:
    sec = rep.section("drivers", "What drives spread")
    drivers = queries.spread_drivers(wh)
    rep.export(sec, "spread_drivers", drivers)
    if drivers.empty:
        sec.paragraphs.append("The warehouse has no spread-driver fits.")
        return
    described, plotted = queries.choose_fits(drivers, week)
    sec.paragraphs.append(
        "Logistic regression of whether an item escaped on its standardized affect scores, with controls. "
        "Odds ratios are per standard deviation of each feature; bars are 95% confidence intervals "
        "by the inference method each fit states (few origin communities call for a small-sample method). "
        "A feature is called a driver only when its Benjamini–Hochberg q-value across the fit's affect terms "
        "is below 0.05: with many terms, some intervals exclude 1 by chance. Red: higher odds of escaping, "
        "blue: lower, grey: interval includes 1. These are associations, not causes."
    )
    sec.bullets = driver_reading(drivers, described)
    if plotted:
        rep.chart(sec, charts.forest(queries.per_sd_terms(drivers), plotted))
    keys = [
        (str(s), None if pd.isna(k) else str(k))
        for s, k in zip(drivers["fit_scope"], drivers["fit_key"], strict=True)
    ]
    shown = queries.per_sd_terms(drivers[[k in described for k in keys]])
    title = "Odds ratios per SD (0/1 indicators are in the export)"
    sec.tables.append(table_view("spread_drivers", title, shown, _TABLE_COLUMNS))
