"""The weekly trend report: one self-contained HTML file per ISO week, from the published warehouse alone.

``render_report(settings, week=None)`` writes ``<data_dir>/reports/<YYYY-Www>/``:

* ``report.html``: every chart embedded as a PNG data URI, no scripts, no external CSS, fonts or requests
  (a Content-Security-Policy in the page forbids them), print CSS for a clean PDF;
* ``<table>.csv`` and ``<table>.parquet`` for every table behind a chart or shown in the report, linked from
  the HTML with relative links, and each chart as ``<chart>.png``.

The week defaults to the last complete ISO week (UTC). When that week has no items, the report falls back to
the latest complete week that has some and says so at the top; an explicitly requested week is always
rendered, with a clear "no data" note when it is empty. The directory is replaced as a whole (written next to
it, then renamed), so a report never mixes files of two renders. Same warehouse and week give the same files,
apart from the "generated at" line of the HTML. See docs/report.md.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pipeline.config import Settings
from pipeline.errors import RippleError
from pipeline.report import charts, queries
from pipeline.report.queries import Unavailable, Warehouse
from pipeline.report.weeks import IsoWeek, last_complete_week

T = TypeVar("T")

__all__ = ["render_report", "resolve_week", "IsoWeek", "last_complete_week"]

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
GENERATED_MARK = '<p class="generated">'

LABELS: dict[str, str] = {
    "vader_compound": "VADER compound",
    "tb_polarity": "TextBlob polarity",
    "tb_subjectivity": "TextBlob subjectivity",
    "arousal": "arousal",
}


# ------------------------------------------------------------------------------------------- view model
@dataclass
class Column:
    key: str
    header: str
    fmt: str = "text"
    numeric: bool = False


@dataclass
class TableView:
    name: str
    title: str
    columns: list[Column]
    rows: list[list[str]]
    total_rows: int
    exported: bool = True


@dataclass
class Section:
    id: str
    title: str
    unavailable: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    charts: list[dict[str, str]] = field(default_factory=list)
    tables: list[TableView] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)


class _Report:
    """Collects sections, exported tables and charts of one render."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.sections: list[Section] = []
        self.exports: dict[str, pd.DataFrame] = {}
        self.chart_files: dict[str, bytes] = {}

    def section(self, key: str, title: str) -> Section:
        section = Section(key, title)
        self.sections.append(section)
        return section

    def export(self, section: Section, name: str, df: pd.DataFrame) -> None:
        self.exports[name] = df
        section.exports.append(name)

    def chart(self, section: Section, chart: charts.Chart) -> None:
        self.chart_files[chart.name] = chart.png
        section.charts.append(
            {
                "name": chart.name,
                "title": chart.title,
                "alt": chart.alt,
                "src": "data:image/png;base64," + base64.b64encode(chart.png).decode("ascii"),
            }
        )


# ------------------------------------------------------------------------------------------- formatting
def _no_negative_zero(value: float, digits: int) -> float:
    """-0.0004 shown with 3 digits is 0.000, not -0.000."""
    return 0.0 if abs(value) < 0.5 * 10**-digits else value


def fmt(value: Any, kind: str = "text") -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "—"
    try:
        if pd.isna(value):
            return "—"
    except (TypeError, ValueError):
        pass
    if kind == "int":
        return f"{int(round(float(value))):,}"
    if kind == "num":
        v = float(value)
        return f"{int(v):,}" if v.is_integer() else f"{v:,.1f}"
    if kind in ("f1", "f2", "f3"):
        return f"{_no_negative_zero(float(value), int(kind[1])):,.{kind[1]}f}"
    if kind == "signed":
        return f"{_no_negative_zero(float(value), 3):+.3f}"
    if kind == "share":
        return f"{float(value) * 100:.1f}%"
    if kind == "change":
        return f"{float(value):+.1f}%"
    if kind == "p":
        v = float(value)
        return "<0.001" if v < 0.001 else f"{v:.3f}"
    if kind == "minutes":
        v = float(value)
        if v < 90:
            return f"{v:.0f} min"
        if v < 48 * 60:
            return f"{v / 60:.1f} h"
        return f"{v / 1440:.1f} d"
    if kind == "datetime":
        ts = pd.Timestamp(value)
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC")
        return ts.strftime("%Y-%m-%d %H:%M")
    if kind == "date":
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    return str(value)


def table_view(
    name: str,
    title: str,
    df: pd.DataFrame,
    columns: list[tuple[str, str, str]],
    limit: int | None = None,
    exported: bool = True,
) -> TableView:
    cols = [Column(k, h, f, f not in ("text", "datetime", "date")) for k, h, f in columns if k in df.columns]
    shown = df if limit is None else df.head(limit)
    rows = [[fmt(rec.get(c.key), c.fmt) for c in cols] for rec in shown.to_dict("records")]
    return TableView(name, title, cols, rows, len(df), exported)


# ------------------------------------------------------------------------------------------- week
def resolve_week(wh: Warehouse, week: str | None, now: datetime | None = None) -> tuple[IsoWeek, list[str]]:
    """The report week and the notes that explain the choice (shown at the top of the report)."""
    notes: list[str] = []
    now = now or datetime.now(UTC)
    current = IsoWeek.of(now)
    if week is not None:
        chosen = IsoWeek.parse(week)
        if chosen >= current:
            notes.append(f"{chosen.label} is not complete yet: the numbers cover the items collected so far.")
    else:
        chosen = current.shift(-1)
        if queries.week_item_count(wh, chosen) == 0:
            fallback = queries.latest_week_with_data(wh, current)
            if fallback is not None and fallback != chosen:
                notes.append(
                    f"The warehouse has no items in {chosen.label}, the last complete week; this report "
                    f"covers {fallback.label}, the latest complete week with data."
                )
                chosen = fallback
    if queries.week_item_count(wh, chosen) == 0:
        first, last = queries.data_span(wh)
        span = (
            f" The warehouse holds items from {fmt(first, 'date')} to {fmt(last, 'date')}."
            if first is not None
            else " The warehouse holds no items at all."
        )
        notes.append(f"No data: the warehouse has no items in {chosen.label}.{span}")
    return chosen, notes


# ------------------------------------------------------------------------------------------- sections
def _fetch(section: Section, query: Callable[[], T], what: str = "") -> T | None:
    """The query's result, or None with a note in the section when the warehouse lacks what it needs."""
    try:
        return query()
    except Unavailable as exc:
        subject = f"{what} not" if what else "Not"
        section.unavailable.append(f"{subject} available in this warehouse: {exc}.")
        return None


def _with_headline(wh: Warehouse, week: IsoWeek) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    tables = queries.volume(wh, week)
    return tables, queries.headline(tables, wh, week)


def _glance(rep: _Report, wh: Warehouse, week: IsoWeek) -> dict[str, pd.DataFrame]:
    sec = rep.section("glance", "The week at a glance")
    prev = week.shift(-1)
    fetched = _fetch(sec, lambda: _with_headline(wh, week))
    if fetched is None:
        return {}
    tables, head = fetched
    rep.export(sec, "headline", head)
    for name in ("volume_by_platform", "volume_by_community", "volume_daily"):
        rep.export(sec, name, tables[name])
    sec.items = [
        {
            "label": m,
            "value": fmt(v, "f1" if "rate" in m else "int"),
            "previous": fmt(p, "f1" if "rate" in m else "int"),
            "change": fmt(c, "change"),
            "direction": "" if pd.isna(c) else ("up" if c > 0 else "down" if c < 0 else ""),
        }
        for m, v, p, c in head.itertuples(index=False)
    ]
    comm = tables["volume_by_community"]
    if not comm.empty and comm["items"].sum() > 0:
        growing = comm[(comm["items_prev_week"] >= 20)].sort_values(
            ["items_change_pct", "community"], ascending=[False, True], kind="mergesort"
        )
        if not growing.empty:
            top = growing.iloc[0]
            bottom = growing.iloc[-1]
            sec.paragraphs.append(
                f"Fastest growing community: {top['community']} ({fmt(top['items_change_pct'], 'change')} "
                f"items vs {prev.label}); fastest shrinking: {bottom['community']} "
                f"({fmt(bottom['items_change_pct'], 'change')})."
            )
    rep.chart(sec, charts.volume_by_community(comm, week.label, prev.label))
    rep.chart(sec, charts.volume_daily(tables["volume_daily"], pd.Timestamp(week.monday)))
    sec.tables.append(
        table_view(
            "volume_by_platform",
            "Volume by platform",
            tables["volume_by_platform"],
            [
                ("platform", "Platform", "text"),
                ("items", "Items", "int"),
                ("posts", "Posts", "int"),
                ("comments", "Comments", "int"),
                ("shares", "Shares", "int"),
                ("unique_authors", "Authors", "int"),
                ("escaped_roots", "Escaped", "int"),
                ("items_prev_week", f"Items {prev.label}", "int"),
                ("items_change_pct", "Change", "change"),
            ],
        )
    )
    sec.tables.append(
        table_view(
            "volume_by_community",
            "Volume by community",
            comm,
            [
                ("platform", "Platform", "text"),
                ("community", "Community", "text"),
                ("items", "Items", "int"),
                ("posts", "Posts", "int"),
                ("comments", "Comments", "int"),
                ("shares", "Shares", "int"),
                ("unique_authors", "Authors", "int"),
                ("escaped_roots", "Escaped", "int"),
                ("median_depth", "Median depth", "num"),
                ("p90_depth", "P90 depth", "num"),
                ("items_prev_week", f"Items {prev.label}", "int"),
                ("items_change_pct", "Change", "change"),
            ],
            limit=25,
        )
    )
    return tables


def _closest(columns: list[str], prefix: str, target: int) -> str | None:
    found = [c for c in columns if c.startswith(prefix) and c.removeprefix(prefix).isdigit()]
    if not found:
        return None
    return min(found, key=lambda c: (abs(int(c.removeprefix(prefix)) - target), int(c.removeprefix(prefix))))


def _escaped(rep: _Report, wh: Warehouse, week: IsoWeek, settings: Settings) -> None:
    sec = rep.section("escaped", "Items that escaped their community")
    with_names = settings.get("privacy", "pseudonymize", True) is False
    tables = _fetch(sec, lambda: queries.escaped_items(wh, week, with_author_names=with_names))
    if tables is None:
        return
    items, dest = tables["escaped_items"], tables["escape_destinations"]
    rep.export(sec, "escaped_items", items)
    rep.export(sec, "escape_destinations", dest)
    top_n = int(settings.get("report", "top_items", 20) or 20)
    spread_def = (
        "An item escaped when its cascade reached more than one community, or when at least "
        f"{settings.get('spread', 'min_engagers', 5)} people engaged with it and at least "
        f"{fmt(settings.get('spread', 'min_outsider_share', 0.5), 'share')} of them were not members of its "
        "origin community."
    )
    sec.paragraphs.append(spread_def)
    if items.empty:
        sec.paragraphs.append(f"No item posted in {week.label} escaped its origin community.")
    else:
        sec.paragraphs.append(
            f"{len(items):,} items posted in {week.label} escaped; the {min(top_n, len(items))} that reached "
            "the most outsiders are listed (then by communities reached and size; all of them are in the "
            "export). “Went to” counts the cascade's items in each community other than the origin."
        )
    size_col = _closest(list(items.columns), "minutes_to_size_", 10)
    depth_col = _closest(list(items.columns), "minutes_to_depth_", 3)
    speed_cols = [
        (label + col.rsplit("_", 1)[1], col)
        for label, col in (("to size ", size_col), ("to depth ", depth_col))
        if col is not None
    ]
    for rec in items.head(top_n).to_dict("records"):
        sec.items.append(
            {
                "rank": rec["rank"],
                "title": rec.get("title") or "",
                "root_id": rec["root_id"],
                "author": rec.get("author_name") if with_names else None,
                "platform": rec["platform"],
                "origin": rec.get("origin_community") or queries.NO_COMMUNITY,
                "created": fmt(rec.get("root_created_at"), "datetime"),
                "went": rec.get("where_it_went") or "—",
                "size": fmt(rec["size"], "int"),
                "depth": fmt(rec["depth"], "int"),
                "engagers": fmt(rec["engagers"], "int"),
                "outsider_share": fmt(rec["outsider_share"], "share"),
                "reached": fmt(rec["communities_reached"], "int"),
                "speed": [
                    (label, fmt(rec.get(col), "minutes"))
                    for label, col in speed_cols
                    if not pd.isna(rec.get(col))
                ],
                "vader": fmt(rec.get("vader_compound"), "signed"),
                "arousal": fmt(rec.get("arousal"), "f2"),
                "emotions": rec.get("top_emotions") or "—",
                "drivers": rec.get("top_drivers") or "",
            }
        )
    if not dest.empty:
        rep.chart(sec, charts.escape_flows(dest))
    profile = _fetch(sec, lambda: queries.escaped_affect_profile(wh, week), "Emotional profile")
    if profile is not None:
        rep.export(sec, "escaped_affect_profile", profile)
        rep.chart(sec, charts.affect_profile(profile))
        sec.tables.append(
            table_view(
                "escaped_affect_profile",
                "Mean affect, escaped vs other roots",
                profile,
                [
                    ("measure", "Measure", "text"),
                    ("escaped_mean", "Escaped", "f3"),
                    ("other_mean", "Other", "f3"),
                    ("difference", "Difference", "signed"),
                ],
            )
        )


def _term_label(term: str) -> str:
    base = term.removesuffix("_z").removesuffix("_std")
    if base.startswith("nrc_"):
        return f"{base.removeprefix('nrc_')} words"
    return LABELS.get(base, base.replace("_", " "))


def driver_reading(drivers: pd.DataFrame, fits: list[tuple[str, str | None]]) -> list[str]:
    """Plain-words sentences for the described fits: the features that go with higher or lower odds."""
    out: list[str] = []
    for scope, key in fits:
        sub = drivers[
            (drivers["fit_scope"] == scope)
            & (drivers["fit_key"].isna() if key is None else drivers["fit_key"].astype(str) == key)
        ]
        name = queries.fit_name(scope, key)
        name = name[0].upper() + name[1:]
        status = set(sub["status"].dropna()) if "status" in sub.columns else set()
        n = sub["n"].dropna().max() if "n" in sub.columns else None
        n_esc = sub["n_escaped"].dropna().max() if "n_escaped" in sub.columns else None
        sizes = (
            f" (n = {fmt(n, 'int')}, {fmt(n_esc, 'int')} escaped)" if n is not None and not pd.isna(n) else ""
        )
        terms = queries.per_sd_terms(sub)
        usable = terms[
            terms["odds_ratio_per_sd"].notna() & terms["ci_low"].notna() & terms["ci_high"].notna()
        ]
        controls: list[str] = []
        if "term_kind" in usable.columns and (usable["term_kind"] == "affect").any():
            # indicator groups such as weekday[mon], weekday[tue] read as one control: weekday
            controls = sorted(
                {t.split("[", 1)[0] for t in sub.loc[sub["term_kind"] != "affect", "term"].dropna()}
            )
            usable = usable[usable["term_kind"] == "affect"]
        if usable.empty:
            why = "insufficient data" if "insufficient_data" in status else "no estimates"
            note = ""
            if "note" in sub.columns and sub["note"].notna().any():
                note = f": {sorted(sub['note'].dropna().astype(str))[0]}"
            out.append(f"{name}{sizes}: {why}{note}. No reading is possible.")
            continue
        up = usable[usable["ci_low"] > 1].sort_values(["odds_ratio_per_sd", "term"], ascending=[False, True])
        down = usable[usable["ci_high"] < 1].sort_values(["odds_ratio_per_sd", "term"])
        parts = []
        for r in up.itertuples():
            parts.append(
                f"one standard deviation more {_term_label(r.term)} goes with {r.odds_ratio_per_sd:.2f}× the "
                f"odds of escaping (95% CI {r.ci_low:.2f}–{r.ci_high:.2f})"
            )
        for r in down.itertuples():
            parts.append(
                f"one standard deviation more {_term_label(r.term)} goes with {r.odds_ratio_per_sd:.2f}× the "
                f"odds of escaping, i.e. {(1 - r.odds_ratio_per_sd) * 100:.0f}% lower odds "
                f"(95% CI {r.ci_low:.2f}–{r.ci_high:.2f})"
            )
        unclear = sorted(set(usable["term"]) - set(up["term"]) - set(down["term"]))
        if parts:
            text = f"{name}{sizes}: " + "; ".join(parts) + "."
        else:
            text = f"{name}{sizes}: no feature has a confidence interval that excludes 1."
        if unclear:
            text += f" No clear association for {', '.join(_term_label(t) for t in unclear)}."
        if controls:
            text += f" Controls held constant: {', '.join(controls)}."
        out.append(text)
    return out


def _drivers(rep: _Report, wh: Warehouse, week: IsoWeek) -> None:
    sec = rep.section("drivers", "What drives spread")
    drivers = _fetch(sec, lambda: queries.spread_drivers(wh))
    if drivers is None:
        return
    rep.export(sec, "spread_drivers", drivers)
    if drivers.empty:
        sec.paragraphs.append("The warehouse has no spread-driver fits.")
        return
    described, plotted = queries.choose_fits(drivers, week)
    sec.paragraphs.append(
        "Logistic regression of whether an item escaped on its standardized affect scores, with controls. "
        "Odds ratios are per standard deviation of each feature; bars are 95% confidence intervals "
        "(standard errors clustered by origin community). Red: higher odds of escaping, blue: lower, grey: "
        "interval includes 1. These are associations, not causes."
    )
    sec.bullets = driver_reading(drivers, described)
    if plotted:
        rep.chart(sec, charts.forest(queries.per_sd_terms(drivers), plotted))
    keys = [
        (str(s), None if pd.isna(k) else str(k))
        for s, k in zip(drivers["fit_scope"], drivers["fit_key"], strict=True)
    ]
    shown = queries.per_sd_terms(drivers[[k in described for k in keys]])
    sec.tables.append(
        table_view(
            "spread_drivers",
            "Odds ratios per SD (0/1 indicators are in the export)",
            shown,
            [
                ("fit_scope", "Fit", "text"),
                ("fit_key", "Key", "text"),
                ("term", "Term", "text"),
                ("term_kind", "Kind", "text"),
                ("odds_ratio_per_sd", "OR per SD", "f2"),
                ("ci_low", "CI low", "f2"),
                ("ci_high", "CI high", "f2"),
                ("p_value", "p", "p"),
                ("n", "n", "int"),
                ("n_escaped", "Escaped", "int"),
                ("status", "Status", "text"),
            ],
        )
    )


def _overlap(rep: _Report, wh: Warehouse, week: IsoWeek) -> None:
    sec = rep.section("overlap", "Community overlap")
    tables = _fetch(sec, lambda: queries.community_overlap(wh, week))
    if tables is None:
        return
    for name, df in tables.items():
        rep.export(sec, name, df)
    top, changes, counts = (
        tables["community_overlap_top"],
        tables["community_overlap_changes"],
        tables["community_overlap_pair_counts"],
    )
    sec.paragraphs.append(
        "Members of a community are the people who posted or commented in it in the 90 days before the "
        "week. Lift is how many more members two communities share than chance would give (1 = chance); "
        "NPMI is the same idea on a −1…1 scale. Both are robust to community size; Jaccard is shown for "
        "readability."
    )
    c = dict(zip(counts["status"], counts["pairs"], strict=True))
    sec.paragraphs.append(
        f"{c.get('both weeks', 0) + c.get('new this week', 0):,} pairs pass the minimum of shared members "
        f"this week; {c.get('new this week', 0):,} are new and {c.get('gone this week', 0):,} dropped out "
        f"since {week.shift(-1).label}."
    )
    rep.chart(sec, charts.overlap_heatmap(top))
    sec.tables.append(
        table_view(
            "community_overlap_top",
            "Strongest pairs by lift",
            top,
            [
                ("platform", "Platform", "text"),
                ("community_a", "Community", "text"),
                ("community_b", "Community", "text"),
                ("shared_members", "Shared", "int"),
                ("jaccard", "Jaccard", "f3"),
                ("overlap_coefficient", "Overlap coef.", "f3"),
                ("lift", "Lift", "f2"),
                ("npmi", "NPMI", "f3"),
            ],
            limit=15,
        )
    )
    rep.chart(sec, charts.overlap_changes(changes))
    sec.tables.append(
        table_view(
            "community_overlap_changes",
            "Pairs that changed most (NPMI)",
            changes,
            [
                ("platform", "Platform", "text"),
                ("community_a", "Community", "text"),
                ("community_b", "Community", "text"),
                ("shared_members", "Shared", "int"),
                ("shared_members_prev_week", "Shared before", "int"),
                ("lift", "Lift", "f2"),
                ("lift_prev_week", "Lift before", "f2"),
                ("npmi", "NPMI", "f3"),
                ("npmi_change", "NPMI change", "signed"),
            ],
            limit=12,
        )
    )


def _cascades(rep: _Report, wh: Warehouse, week: IsoWeek) -> pd.DataFrame | None:
    sec = rep.section("cascades", "Cascade depth and size")
    tables = _fetch(sec, lambda: queries.cascades(wh, week))
    if tables is None:
        return None
    rep.export(sec, "cascade_ccdf", tables["cascade_ccdf"])
    rep.export(sec, "cascade_summary", tables["cascade_summary"])
    sec.paragraphs.append(
        f"Cascades whose root was posted in {week.label}: the root plus every reply and reshare reachable "
        "from it. The complementary cumulative distribution P(X ≥ x) on log-log axes is the standard view "
        "of these heavy-tailed distributions: a straight line suggests a power-law tail. Depth 0 (no "
        "replies) is left off the log axis but counted in the shares."
    )
    rep.chart(sec, charts.ccdf_chart(tables["cascade_ccdf"]))
    sec.tables.append(
        table_view(
            "cascade_summary",
            "Cascade summary",
            tables["cascade_summary"],
            [
                ("platform", "Platform", "text"),
                ("cascades", "Cascades", "int"),
                ("with_replies_or_shares_share", "With replies/shares", "share"),
                ("size_median", "Median size", "num"),
                ("size_p90", "P90 size", "num"),
                ("size_p99", "P99 size", "num"),
                ("size_max", "Max size", "int"),
                ("depth_median", "Median depth", "num"),
                ("depth_p90", "P90 depth", "num"),
                ("depth_max", "Max depth", "int"),
            ],
        )
    )
    return tables["quality_cascades"]


def _affect(rep: _Report, wh: Warehouse, week: IsoWeek) -> None:
    sec = rep.section("affect", "Sentiment and emotion")
    tables = _fetch(sec, lambda: queries.affect_trends(wh, week))
    if tables is None:
        return
    rep.export(sec, "affect_daily", tables["affect_daily"])
    rep.export(sec, "affect_week_vs_baseline", tables["affect_week_vs_baseline"])
    cmp_ = tables["affect_week_vs_baseline"]
    sec.paragraphs.append(
        f"Daily means over every item with text, {week.shift(-queries.BASELINE_WEEKS).label} to "
        f"{week.label}. VADER compound and TextBlob polarity run from −1 to 1; NRC emotions are emotion "
        "words per word token."
    )
    if cmp_["week_items"].iloc[0] == 0 if not cmp_.empty else True:
        sec.paragraphs.append("No scored items this week.")
    else:
        moved = cmp_.dropna(subset=["change"]).copy()
        moved["rel"] = moved["change"].abs() / moved["baseline_mean"].abs().where(moved["baseline_mean"] != 0)
        moved = moved.sort_values(
            ["rel", "measure"], ascending=[False, True], kind="mergesort", na_position="last"
        )
        if not moved.empty:
            r = moved.iloc[0]
            sec.paragraphs.append(
                f"Largest relative move vs the {queries.BASELINE_WEEKS} weeks before: {r['measure']} "
                f"{fmt(r['baseline_mean'], 'f3')} → {fmt(r['week_mean'], 'f3')}."
            )
    rep.chart(sec, charts.affect_trends(tables["affect_daily"], pd.Timestamp(week.monday)))
    sec.tables.append(
        table_view(
            "affect_week_vs_baseline",
            f"{week.label} vs the {queries.BASELINE_WEEKS} weeks before",
            cmp_,
            [
                ("measure", "Measure", "text"),
                ("week_mean", week.label, "f3"),
                ("baseline_mean", "Baseline", "f3"),
                ("change", "Change", "signed"),
            ],
        )
    )


def _terms(rep: _Report, wh: Warehouse, week: IsoWeek) -> None:
    sec = rep.section("terms", "Trending terms, hashtags and domains")
    counts = _fetch(sec, lambda: queries.term_counts(wh, week))
    if counts is None:
        return
    ranked = {k: queries.fightin_words(v) for k, v in counts.items()}
    names = {"terms": "trending_terms", "hashtags": "trending_hashtags", "domains": "trending_domains"}
    for key, name in names.items():
        rep.export(sec, name, ranked[key])
    sec.paragraphs.append(
        f"What this week's items say more often than the {queries.BASELINE_WEEKS} weeks before: the log-odds "
        "ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008, “Fightin' Words”; the "
        "prior is each term's count over all five weeks), ranked by its z-score; terms seen at least "
        f"{queries.MIN_TERM_COUNT} times this week. Words come from titles and texts (URLs and @handles "
        "removed)."
    )
    rep.chart(sec, charts.trending(ranked))
    cols = [
        ("term", "Term", "text"),
        ("count_week", week.label, "int"),
        ("count_baseline", "Baseline", "int"),
        ("log_odds", "Log-odds", "f2"),
        ("z", "z", "f1"),
    ]
    for key, title in (("terms", "Words"), ("hashtags", "Hashtags"), ("domains", "Link domains")):
        sec.tables.append(table_view(names[key], title, ranked[key], cols, limit=15))


def _quality(rep: _Report, wh: Warehouse, week: IsoWeek, cascade_quality: pd.DataFrame | None) -> None:
    sec = rep.section("quality", "Data quality")
    runs = _fetch(sec, lambda: queries.quality_runs(wh, week), "Run log")
    if runs is not None:
        rep.export(sec, "quality_runs", runs)
        failed = runs[runs["failed_sources"] != ""] if "failed_sources" in runs.columns else runs.iloc[:0]
        if runs.empty:
            sec.bullets.append(f"No nightly run covered {week.label}.")
        else:
            bad = runs[runs["status"] != "succeeded"]
            sec.bullets.append(
                f"{len(runs):,} nightly runs covered {week.label}; {len(bad):,} did not fully succeed."
            )
        for rec in failed.to_dict("records"):
            sec.bullets.append(f"Run {rec['run_id']}: sources failed: {rec['failed_sources']}")
        sec.tables.append(
            table_view(
                "quality_runs",
                "Runs covering the week",
                runs,
                [
                    ("run_id", "Run", "text"),
                    ("since", "Since", "datetime"),
                    ("until", "Until", "datetime"),
                    ("status", "Status", "text"),
                    ("rows", "Items", "int"),
                    ("quarantined", "Quarantined", "int"),
                    ("failed_sources", "Failed sources", "text"),
                ],
            )
        )
    quarantine = _fetch(sec, lambda: queries.quality(wh, week)["quality_quarantine"], "Quarantine")
    if quarantine is not None:
        rep.export(sec, "quality_quarantine", quarantine)
        sec.bullets.append(
            f"{int(quarantine['records_this_week'].sum()):,} records quarantined by the runs covering the "
            f"week ({int(quarantine['records_all_time'].sum()):,} in the warehouse overall, imports "
            "included)."
        )
        sec.tables.append(
            table_view(
                "quality_quarantine",
                "Quarantined records by source and reason",
                quarantine,
                [
                    ("source", "Source", "text"),
                    ("reason_kind", "Reason", "text"),
                    ("records_this_week", "This week's runs", "int"),
                    ("records_all_time", "All time", "int"),
                ],
                limit=20,
            )
        )
    if cascade_quality is None:
        sec.unavailable.append("Cascade completeness not available in this warehouse.")
    else:
        rep.export(sec, "quality_cascades", cascade_quality)
        total = int(cascade_quality["cascades"].sum()) if not cascade_quality.empty else 0
        inc = int(cascade_quality["incomplete"].sum()) if not cascade_quality.empty else 0
        sec.bullets.append(
            f"{inc:,} of {total:,} cascades rooted this week are incomplete (an item's parent is missing "
            "from the data: not fetched, deleted, or outside the window)."
        )
        sec.tables.append(
            table_view(
                "quality_cascades",
                "Incomplete cascades",
                cascade_quality,
                [
                    ("platform", "Platform", "text"),
                    ("cascades", "Cascades", "int"),
                    ("incomplete", "Incomplete", "int"),
                    ("incomplete_share", "Share", "share"),
                    ("missing_parents", "Missing parents", "int"),
                ],
            )
        )


# ------------------------------------------------------------------------------------------- output
def _write_table(df: pd.DataFrame, directory: Path, name: str) -> None:
    df = df.reset_index(drop=True)
    df.to_csv(directory / f"{name}.csv", index=False, lineterminator="\n", date_format="%Y-%m-%dT%H:%M:%S%z")
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table.replace_schema_metadata(None), directory / f"{name}.parquet", compression="zstd")


def _replace_dir(tmp: Path, target: Path) -> None:
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = fmt
    return env


def render_report(settings: Settings, week: str | None = None, *, now: datetime | None = None) -> Path:
    """Render the report of ``week`` (``YYYY-Www``; default: the last complete ISO week) and return the
    HTML path."""
    path = settings.warehouse_path
    if not path.exists():
        raise RippleError(f"no warehouse at {path}: run `ripple run` or `ripple build` first")
    now = now or datetime.now(UTC)
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        wh = Warehouse(con)
        chosen, notes = resolve_week(wh, week, now)
        out_dir = settings.reports_dir / chosen.label
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_dir.with_name(f".{chosen.label}.tmp-{os.getpid()}")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        rep = _Report(tmp)
        _glance(rep, wh, chosen)
        _escaped(rep, wh, chosen, settings)
        _drivers(rep, wh, chosen)
        _overlap(rep, wh, chosen)
        cascade_quality = _cascades(rep, wh, chosen)
        _affect(rep, wh, chosen)
        _terms(rep, wh, chosen)
        _quality(rep, wh, chosen, cascade_quality)
        first, last = queries.data_span(wh)
    finally:
        con.close()

    try:
        for name, df in rep.exports.items():
            _write_table(df, tmp, name)
        for name, png in rep.chart_files.items():
            (tmp / f"{name}.png").write_bytes(png)
        html = (
            _environment()
            .get_template("report.html.j2")
            .render(
                week=chosen,
                prev_week=chosen.shift(-1),
                notes=notes,
                sections=rep.sections,
                generated_at=now.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                warehouse=path.name,
                data_first=fmt(first, "date"),
                data_last=fmt(last, "date"),
                pseudonymized=settings.get("privacy", "pseudonymize", True) is not False,
            )
        )
        (tmp / "report.html").write_text(html, encoding="utf-8")
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("report for %s written to %s", chosen.label, out_dir)
    return out_dir / "report.html"
