"""The summary that opens the report: three to six sentences written from the tables the sections exported.

Every sentence is a claim with a link to the section that backs it. The text depends only on the warehouse and
the week (the tables are ordered by unique keys and the numbers are formatted with fixed precision), so the same
warehouse gives the same summary.

Warm-up weeks (``fct_weekly_trends.is_warmup``, less than ``membership.window_days`` of history) are never
compared: the escaped baseline (``sql/report/escaped_by_week.sql``) keeps complete, settled weeks only, a report
week in the warm-up is not compared with it, and the overlap change is chosen among pairs whose two weeks are both
out of the warm-up (``fct_community_overlap.is_warmup``). A term is called a driver only when
``fct_spread_drivers.is_driver`` (Benjamini–Hochberg q < 0.05), as in the drivers section.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import pipeline.report.queries as queries
from pipeline.report.db import Warehouse
from pipeline.report.drivers import is_driver, term_label, testing_phrase
from pipeline.report.view import Report, Section, fmt, sig
from pipeline.report.weeks import IsoWeek

#: escaped items named in the summary
NOTABLE_ITEMS = 2


def _claim(text: str, href: str, link: str) -> dict[str, str]:
    return {"text": text, "href": href, "link": link}


def summary(rep: Report, wh: Warehouse, week: IsoWeek) -> Section:
    """Build the summary section from the exported tables and put it first (before the sections it cites)."""
    sec = rep.section("summary", "Summary")
    rep.sections.insert(0, rep.sections.pop())
    claims = [
        _escaped_claim(rep.exports["escaped_items"], wh, week),
        _notable_claim(rep.exports["escaped_items"]),
        _overlap_claim(rep.exports["community_overlap_changes"], week, _warmup_pairs(rep)),
        _drivers_claim(rep.exports["spread_drivers"], week),
    ]
    if "alerts" in rep.exports:
        claims.insert(1, _alerts_claim(rep.exports["alerts"], week))
    sec.items = [c for c in claims if c is not None]
    return sec


def escaped_baseline(wh: Warehouse, week: IsoWeek) -> pd.DataFrame:
    """Escaped cascades per week in the ``BASELINE_WEEKS`` weeks before ``week`` (weeks with cascades only)."""
    start = week.shift(-queries.BASELINE_WEEKS).monday
    return wh.df("escaped_by_week", start=start, end=week.monday)


def _escaped_claim(items: pd.DataFrame, wh: Warehouse, week: IsoWeek) -> dict[str, str]:
    n = len(items)
    text = f"{n:,} items posted in {week.label} escaped their origin community"
    if queries.warmup(wh, week)["is_warmup"]:
        text += " (an upper bound: the week is in the membership warm-up, so it is not compared with other weeks)."
        return _claim(text, "#escaped", "escaped items")
    base = escaped_baseline(wh, week)
    if base.empty:
        text += "; there is no earlier settled week with data to compare with."
    else:
        median = float(np.median(base["escaped"]))
        lo, hi = int(base["escaped"].min()), int(base["escaped"].max())
        weeks = len(base)
        compare = "more than" if n > hi else "fewer than" if n < lo else "within the range of"
        text += (
            f", {compare} the {weeks} settled week{'s' if weeks != 1 else ''} before "
            f"(median {fmt(median, 'num')} per week, range {lo:,}–{hi:,})."
        )
    return _claim(text, "#escaped", "escaped items")


def _notable_claim(items: pd.DataFrame) -> dict[str, str] | None:
    if items.empty:
        return None
    parts = []
    for rec in items.head(NOTABLE_ITEMS).to_dict("records"):
        title = rec.get("title") or "(no text)"
        origin = rec.get("origin_community") or queries.NO_COMMUNITY
        went = rec.get("where_it_went") or "no other community"
        emotions = rec.get("top_emotions") or "no NRC emotion words"
        outsiders = int(rec["outsider_engagers"])
        parts.append(
            f"“{queries.snippet(title, 80)}” from {origin}, which travelled to {went} "
            f"({outsiders:,} outside engager{'s' if outsiders != 1 else ''}; {emotions})"
        )
    head = "The most notable was " if len(parts) == 1 else "The most notable were "
    return _claim(head + "; and ".join(parts) + ".", "#item-1", "top escaped items")


def _reportable_changes(changes: pd.DataFrame) -> pd.DataFrame:
    """Overlap changes that are not warm-up artefacts (see the module docstring)."""
    if "is_warmup" not in changes.columns:
        return changes
    return changes[~changes["is_warmup"].fillna(False).astype(bool)]


def _warmup_pairs(rep: Report) -> int:
    """Pairs present in both weeks that are left out of the changes as warm-up (the overlap section's counts)."""
    counts = rep.exports.get("community_overlap_pair_counts")
    if counts is None:
        return 0
    return int(counts.loc[counts["status"] == "in warm-up", "pairs"].sum())


def _overlap_claim(changes: pd.DataFrame, week: IsoWeek, warmup_pairs: int = 0) -> dict[str, str]:
    prev = week.shift(-1).label
    usable = _reportable_changes(changes).dropna(subset=["npmi_change"])
    if usable.empty:
        why = (
            "every pair present in both weeks is still in the membership warm-up"
            if not changes.empty or warmup_pairs
            else "no community pair is present in both weeks"
        )
        return _claim(
            f"No change in community overlap since {prev} is reported: {why}.", "#overlap", "overlap"
        )
    r = usable.iloc[0]  # ordered by |NPMI change|
    direction = "rose" if r["npmi_change"] > 0 else "fell"
    return _claim(
        f"The biggest change in community overlap since {prev}: the NPMI of {r['community_a']} and "
        f"{r['community_b']} {direction} from {sig(r['npmi_prev_week'])} to {sig(r['npmi'])} "
        f"({r['shared_members']:,} shared members, lift {sig(r['lift'])}).",
        "#overlap",
        "overlap",
    )


def _drivers_claim(drivers: pd.DataFrame, week: IsoWeek) -> dict[str, str]:
    link = ("#drivers", "what drives spread")
    if drivers.empty:
        return _claim("The warehouse has no spread-driver fit.", *link)
    _, plotted = queries.choose_fits(drivers, week)
    if not plotted:
        return _claim("The drivers model has too little data for any estimate.", *link)
    scope, key = plotted[0]
    fit = drivers[(drivers["fit_scope"] == scope) & (drivers["fit_key"].astype(str) == str(key))]
    terms = queries.per_sd_terms(fit)
    terms = terms[(terms["term_kind"] == "affect") & terms["odds_ratio_per_sd"].notna()]
    name = queries.fit_name(scope, key)
    n = fmt(fit["n"].max(), "int")
    tested = testing_phrase(fit)
    name += f"; {tested}" if tested else ""
    found = terms[is_driver(terms)] if not terms.empty else terms
    if found.empty:
        return _claim(
            f"The drivers model ({name}, n = {n}) finds no affect feature that drives spread.", *link
        )
    strongest = found.assign(size=np.abs(np.log(found["odds_ratio_per_sd"]))).sort_values(
        ["size", "term"], ascending=[False, True], kind="mergesort"
    )
    parts = [_odds_phrase(r) for r in strongest.head(2).to_dict("records")]
    return _claim(
        f"The drivers model ({name}, n = {n}) associates {' and '.join(parts)}; associations, not causes.",
        *link,
    )


def _odds_phrase(r: dict[str, Any]) -> str:
    return (
        f"one SD more {term_label(r['term'])} with {sig(r['odds_ratio_per_sd'])}× the odds of escaping "
        f"(95% CI {sig(r['ci_low'])}–{sig(r['ci_high'])}, q = {sig(r['q_value'])})"
    )


def _alerts_claim(alerts: pd.DataFrame, week: IsoWeek) -> dict[str, str]:
    if alerts.empty:
        return _claim(f"No alert: nothing moved beyond its usual range in {week.label}.", "#alerts", "alerts")
    top = alerts.iloc[0]  # largest |robust z|
    verb = "rose to" if top["robust_z"] > 0 else "fell to"
    metric = _METRIC_WORDS.get(top["metric"], top["metric"])
    more = f"; {len(alerts) - 1:,} more in the alerts table" if len(alerts) > 1 else ""
    return _claim(
        f"Alert: {metric} of {top['subject']} {verb} {fmt(top['value'], 'int')} against a usual "
        f"{sig(top['baseline_median'])} (robust z {sig(top['robust_z'])}){more}.",
        "#alerts",
        "alerts",
    )


_METRIC_WORDS = {
    "items": "items posted",
    "escaped": "escaped cascades",
    "shared_members": "shared members",
    "outsider_engagers": "outside engagers",
}
