"""The report's sections other than the spread drivers (pipeline.report.drivers): each reads its tables through
pipeline.report.queries, exports them, and adds paragraphs, charts and tables to the report."""

from __future__ import annotations

import pandas as pd

import pipeline.report.charts as charts
import pipeline.report.queries as queries
from pipeline.config import Settings
from pipeline.report.db import Warehouse
from pipeline.report.trees import cascade_drawing
from pipeline.report.view import Report, Section, fmt, sig, table_view
from pipeline.report.weeks import IsoWeek

_COUNTS = [
    ("items", "Items", "int"),
    ("posts", "Posts", "int"),
    ("comments", "Comments", "int"),
    ("shares", "Shares", "int"),
    ("unique_authors", "Authors", "int"),
    ("escaped_roots", "Escaped", "int"),
]


# ------------------------------------------------------------------------------------------- alerts
_METRICS = {
    "items": "items posted",
    "escaped": "escaped cascades",
    "shared_members": "shared members",
    "outsider_engagers": "outside engagers",
}


def alerts(rep: Report, wh: Warehouse, week: IsoWeek, settings: Settings) -> None:
    sec = rep.section("alerts", "Alerts")
    rows = wh.df("alerts", week=week.label)
    rep.export(sec, "alerts", rows)
    a = settings.alerts
    sec.paragraphs.append(
        "What moved beyond its own recent baseline this week (the mart fct_alerts): a community's items or "
        "escaped cascades, a community pair's shared members, an escaped item's outside engagers against its "
        f"community's escaped items. Baseline: the previous {a.baseline_weeks} complete weeks with data, "
        f"warm-up weeks left out, at least {a.min_baseline_weeks} of them; robust z = (value − median) / "
        f"(1.4826 × MAD, at least the square root and a tenth of the median); listed when |z| ≥ {sig(a.min_z)}."
    )
    if rows.empty:
        sec.paragraphs.append(f"No alert in {week.label}: nothing moved beyond its usual range.")
    sec.items = [_alert_row(rec) for rec in rows.to_dict("records")]


def _alert_row(rec: dict) -> dict:
    pair = rec["subject_kind"] == "community_pair"
    return {
        "kind": rec["subject_kind"].replace("_", " "),
        "subject": rec["subject"],
        "community": rec.get("community") if rec["subject_kind"] == "item" else None,
        "url": _permalink(rec.get("url")),
        "snippet": queries.snippet(rec.get("item_text"), 120) if rec["subject_kind"] == "item" else "",
        "metric": _METRICS.get(rec["metric"], rec["metric"]) + (" (pair)" if pair else ""),
        "value": fmt(rec["value"], "int"),
        "median": fmt(rec["baseline_median"], "sig"),
        "mad": fmt(rec["baseline_mad"], "sig"),
        "weeks": fmt(rec["baseline_weeks"], "int"),
        "z": fmt(rec["robust_z"], "sig"),
        "direction": rec["direction"],
    }


# ------------------------------------------------------------------------------------------- at a glance
def glance(rep: Report, wh: Warehouse, week: IsoWeek) -> None:
    sec = rep.section("glance", "The week at a glance")
    prev = week.shift(-1)
    settled = queries.warmup(wh, week)["settled"]
    tables = queries.volume(wh, week, settled=settled)
    head = queries.headline(tables, wh, week, settled=settled)
    rep.export(sec, "headline", head)
    for name in ("volume_by_platform", "volume_by_community", "volume_daily"):
        rep.export(sec, name, tables[name])
    sec.items = [_kpi(m, v, p, c) for m, v, p, c in head.itertuples(index=False)]
    comm = tables["volume_by_community"]
    if not settled:
        sec.paragraphs.append(
            f"No change against {prev.label} is shown: the week is partial or in the membership warm-up."
        )
    elif not comm.empty and comm["items"].sum() > 0:
        _growth(sec, comm, prev)
    rep.chart(sec, charts.volume_by_community(comm, week.label, prev.label))
    rep.chart(sec, charts.volume_daily(tables["volume_daily"], pd.Timestamp(week.monday)))
    change = [("items_prev_week", f"Items {prev.label}", "int"), ("items_change_pct", "Change", "change")]
    columns = [("platform", "Platform", "text"), *_COUNTS, *change]
    sec.tables.append(
        table_view("volume_by_platform", "Volume by platform", tables["volume_by_platform"], columns)
    )
    depth = [("median_depth", "Median depth", "num"), ("p90_depth", "P90 depth", "num")]
    columns = [
        ("platform", "Platform", "text"),
        ("community", "Community", "text"),
        *_COUNTS,
        *depth,
        *change,
    ]
    sec.tables.append(table_view("volume_by_community", "Volume by community", comm, columns, limit=25))


def _kpi(metric: str, value: float, previous: float, change: float) -> dict[str, str]:
    kind = "f1" if "rate" in metric else "int"
    return {
        "label": metric,
        "value": fmt(value, kind),
        "previous": fmt(previous, kind),
        "change": fmt(change, "change"),
        "direction": "" if pd.isna(change) else ("up" if change > 0 else "down" if change < 0 else ""),
    }


def _growth(sec: Section, comm: pd.DataFrame, prev: IsoWeek) -> None:
    growing = comm[(comm["items_prev_week"] >= 20)].sort_values(
        ["items_change_pct", "community"], ascending=[False, True], kind="mergesort"
    )
    if growing.empty:
        return
    top, bottom = growing.iloc[0], growing.iloc[-1]
    sec.paragraphs.append(
        f"Fastest growing community: {top['community']} ({fmt(top['items_change_pct'], 'change')} "
        f"items vs {prev.label}); fastest shrinking: {bottom['community']} "
        f"({fmt(bottom['items_change_pct'], 'change')})."
    )


# ------------------------------------------------------------------------------------------- escaped items
#: the speed columns shown per item: (label, fct_cascades column)
_SPEED = (("to size 10", "minutes_to_size_10"), ("to depth 3", "minutes_to_depth_3"))


def escaped(rep: Report, wh: Warehouse, week: IsoWeek, settings: Settings) -> None:
    sec = rep.section("escaped", "Items that escaped their community")
    with_names = not settings.privacy.pseudonymize
    tables = queries.escaped_items(wh, week, with_author_names=with_names)
    items, dest = tables["escaped_items"], tables["escape_destinations"]
    rep.export(sec, "escaped_items", items)
    rep.export(sec, "escape_destinations", dest)
    top_n = settings.report.top_items
    sec.paragraphs.append(
        "An item escaped when its cascade reached more than one community, or when at least "
        f"{settings.spread.min_engagers} people engaged with it and at least "
        f"{fmt(settings.spread.min_outsider_share, 'share')} of them were not members of its "
        "origin community."
    )
    if items.empty:
        sec.paragraphs.append(f"No item posted in {week.label} escaped its origin community.")
    else:
        sec.paragraphs.append(
            f"{len(items):,} items posted in {week.label} escaped; the {min(top_n, len(items))} that reached "
            "the most outsiders are listed (then by communities reached and size; all of them are in the "
            "export). “Went to” counts the cascade's items in each community other than the origin."
        )
    warm = items[items["is_warmup"].fillna(False).astype(bool)] if not items.empty else items
    if not warm.empty:
        sec.paragraphs.append(
            f"{len(warm):,} of these items were posted in the membership warm-up (less than "
            f"{settings.membership.window_days} days of history before them): their outsiders are "
            "upper bounds, since everyone looks new while the membership window fills; they are marked."
        )
    sec.items = [_escaped_item(rec, with_names) for rec in items.head(top_n).to_dict("records")]
    _cascade_drawings(rep, sec, wh, items.head(TREE_ITEMS))
    if not dest.empty:
        rep.chart(sec, charts.escape_flows(dest))
    _flow_network(rep, sec, wh, week)
    _affect_profile(rep, sec, wh, week)


def _flow_network(rep: Report, sec: Section, wh: Warehouse, week: IsoWeek) -> None:
    """The week's community-flow network (pipeline.networks) as GEXF and GraphML next to the exports."""
    from pipeline.networks import community_flow_network, write_network

    g = community_flow_network(wh, week)
    for ext in ("gexf", "graphml"):
        name = f"network_community_flow.{ext}"
        write_network(g, rep.out_dir / name, ext, str(week.sunday))
        sec.downloads.append(("community-flow network", name))


#: escaped items whose cascade is drawn
TREE_ITEMS = 5


def _cascade_drawings(rep: Report, sec: Section, wh: Warehouse, top: pd.DataFrame) -> None:
    """A radial tree of each of the top escaped items' cascades; their rows are the export cascade_trees."""
    trees = queries.cascade_trees(wh, [str(r) for r in top["root_id"]])
    rep.export(sec, "cascade_trees", trees)
    if not top.empty:
        sec.paragraphs.append(
            f"How the top {len(top)} travelled: each cascade as a radial tree, the root in the centre and one "
            "ring per reply or share hop, items coloured by the community they were posted in."
        )
    for rec in top.to_dict("records"):
        tree = trees[trees["root_id"] == rec["root_id"]]
        if tree.empty:
            continue
        origin = rec.get("origin_community") or queries.NO_COMMUNITY
        chart = cascade_drawing(tree, rank=int(rec["rank"]), origin=origin, title=rec.get("title") or "")
        rep.chart(sec, chart, css="tree")


def _escaped_item(rec: dict, with_names: bool) -> dict:
    return {
        "rank": rec["rank"],
        "title": rec.get("title") or "",
        "snippet": rec.get("text_snippet") if rec.get("text_snippet") != rec.get("title") else "",
        "url": _permalink(rec.get("url")),
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
            (label, fmt(rec.get(col), "minutes")) for label, col in _SPEED if not pd.isna(rec.get(col))
        ],
        "vader": fmt(rec.get("vader_compound"), "signed"),
        "arousal": fmt(rec.get("arousal"), "f2"),
        "emotions": rec.get("top_emotions") or "—",
        "dominant": rec.get("dominant_emotion") if isinstance(rec.get("dominant_emotion"), str) else "",
        "warmup": _warmup_label(rec),
        "drivers": rec.get("top_drivers") if isinstance(rec.get("top_drivers"), str) else "",
    }


def _warmup_label(rec: dict) -> str:
    """“N days of history” for an item of the membership warm-up, else empty."""
    if not rec.get("is_warmup") or pd.isna(rec.get("is_warmup")):
        return ""
    days = rec.get("history_days")
    return "no history before it" if days is None or pd.isna(days) else f"{fmt(days, 'int')} days of history"


def _contradictions(profile: pd.DataFrame) -> list[str]:
    """Measures whose raw difference and adjusted effect (95% CI excluding 1) point in opposite directions."""
    if "adjusted_ci_low" not in profile.columns:
        return []
    up = (profile["difference"] > 0) & (profile["adjusted_ci_high"] < 1)
    down = (profile["difference"] < 0) & (profile["adjusted_ci_low"] > 1)
    return [_measure_label(m) for m in profile.loc[up | down, "measure"]]


def _measure_label(measure: str) -> str:
    return measure.removeprefix("nrc_").replace("_", " ")


def _permalink(url: object) -> str | None:
    """The item's link when it is a web address (no other scheme is ever linked)."""
    if isinstance(url, str) and url.lower().startswith(("https://", "http://")):
        return url
    return None


def _affect_profile(rep: Report, sec: Section, wh: Warehouse, week: IsoWeek) -> None:
    profile = queries.escaped_affect_profile(wh, week)
    rep.export(sec, "escaped_affect_profile", profile)
    rep.chart(sec, charts.affect_profile(profile))
    sec.paragraphs.append(
        "The means are raw: escaped roots can carry more of an emotion simply because it comes with other "
        "features that help items travel. The adjusted odds ratio is the drivers model's estimate for one SD "
        "more of that measure with the other features and the controls held constant, so the two can point "
        "in different directions."
    )
    clash = _contradictions(profile)
    if clash:
        sec.paragraphs.append(
            f"This week they do for {', '.join(clash)}: read the adjusted odds ratio as the effect, the raw "
            "mean as a description."
        )
    columns = [
        ("measure", "Measure", "text"),
        ("escaped_mean", "Escaped", "sig"),
        ("other_mean", "Other", "sig"),
        ("difference", "Difference", "sig"),
        ("adjusted_odds_ratio_per_sd", "Adjusted OR per SD", "sig"),
        ("adjusted_ci_low", "CI low", "sig"),
        ("adjusted_ci_high", "CI high", "sig"),
    ]
    title = "Mean affect, escaped vs other roots, and the model's adjusted effect"
    sec.tables.append(table_view("escaped_affect_profile", title, profile, columns))


# ------------------------------------------------------------------------------------------- overlap
_PAIR_COLUMNS = [
    ("platform", "Platform", "text"),
    ("community_a", "Community", "text"),
    ("community_b", "Community", "text"),
]


def overlap(rep: Report, wh: Warehouse, week: IsoWeek, settings: Settings) -> None:
    sec = rep.section("overlap", "Community overlap")
    window = settings.membership.window_days
    tables = queries.community_overlap(wh, week)
    for name, df in tables.items():
        rep.export(sec, name, df)
    top, changes = tables["community_overlap_top"], tables["community_overlap_changes"]
    sec.paragraphs.append(
        f"Members of a community are the people who posted or commented in it in the {window} days before "
        "the week. Lift is how many more members two communities share than chance would give (1 = chance); "
        "NPMI is the same idea on a −1…1 scale. Both are robust to community size; Jaccard is shown for "
        "readability."
    )
    counts = tables["community_overlap_pair_counts"]
    c = dict(zip(counts["status"], counts["pairs"], strict=True))
    sec.paragraphs.append(
        f"{c.get('both weeks', 0) + c.get('new this week', 0):,} pairs pass the minimum of shared members "
        f"this week; {c.get('new this week', 0):,} are new and {c.get('gone this week', 0):,} dropped out "
        f"since {week.shift(-1).label}."
    )
    if c.get("in warm-up", 0):
        sec.paragraphs.append(
            f"{c['in warm-up']:,} pairs present in both weeks are left out of the changes: one of the two weeks "
            f"has less than {window} days of history, so their overlap grows for that reason alone."
        )
    rep.chart(sec, charts.overlap_heatmap(top))
    columns = [
        *_PAIR_COLUMNS,
        ("shared_members", "Shared", "int"),
        ("jaccard", "Jaccard", "sig"),
        ("overlap_coefficient", "Overlap coef.", "sig"),
        ("lift", "Lift", "sig"),
        ("npmi", "NPMI", "sig"),
    ]
    sec.tables.append(table_view("community_overlap_top", "Strongest pairs by lift", top, columns, limit=15))
    rep.chart(sec, charts.overlap_changes(changes))
    columns = [
        *_PAIR_COLUMNS,
        ("shared_members", "Shared", "int"),
        ("shared_members_prev_week", "Shared before", "int"),
        ("lift", "Lift", "sig"),
        ("lift_prev_week", "Lift before", "sig"),
        ("npmi", "NPMI", "sig"),
        ("npmi_change", "NPMI change", "sig"),
    ]
    title = "Pairs that changed most (NPMI)"
    sec.tables.append(table_view("community_overlap_changes", title, changes, columns, limit=12))


# ------------------------------------------------------------------------------------------- cascades
_CASCADE_SUMMARY = [
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
]


def cascades(rep: Report, wh: Warehouse, week: IsoWeek) -> pd.DataFrame:
    """The cascades section; returns the completeness table the data-quality section shows."""
    sec = rep.section("cascades", "Cascade depth and size")
    tables = queries.cascades(wh, week)
    rep.export(sec, "cascade_ccdf", tables["cascade_ccdf"])
    rep.export(sec, "cascade_summary", tables["cascade_summary"])
    sec.paragraphs.append(
        f"Cascades whose root was posted in {week.label}: the root plus every reply and reshare reachable "
        "from it. The complementary cumulative distribution P(X ≥ x) on log-log axes is the standard view "
        "of these heavy-tailed distributions: a straight line suggests a power-law tail. Depth 0 (no "
        "replies) is left off the log axis but counted in the shares."
    )
    rep.chart(sec, charts.ccdf_chart(tables["cascade_ccdf"]))
    summary = tables["cascade_summary"]
    sec.tables.append(table_view("cascade_summary", "Cascade summary", summary, _CASCADE_SUMMARY))
    return tables["quality_cascades"]


# ------------------------------------------------------------------------------------------- affect
def affect(rep: Report, wh: Warehouse, week: IsoWeek) -> None:
    sec = rep.section("affect", "Sentiment and emotion")
    tables = queries.affect_trends(wh, week)
    rep.export(sec, "affect_daily", tables["affect_daily"])
    rep.export(sec, "affect_week_vs_baseline", tables["affect_week_vs_baseline"])
    cmp_ = tables["affect_week_vs_baseline"]
    baseline = queries.BASELINE_WEEKS
    sec.paragraphs.append(
        f"Daily means over every item with text, {week.shift(-baseline).label} to "
        f"{week.label}. VADER compound and TextBlob polarity run from −1 to 1; NRC emotions are emotion "
        "words per word token."
    )
    if cmp_.empty or cmp_["week_items"].iloc[0] == 0:
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
                f"Largest relative move vs the {baseline} weeks before: {r['measure']} "
                f"{fmt(r['baseline_mean'], 'sig')} → {fmt(r['week_mean'], 'sig')}."
            )
    rep.chart(sec, charts.affect_trends(tables["affect_daily"], pd.Timestamp(week.monday)))
    columns = [
        ("measure", "Measure", "text"),
        ("week_mean", week.label, "sig"),
        ("baseline_mean", "Baseline", "sig"),
        ("change", "Change", "sig"),
    ]
    title = f"{week.label} vs the {baseline} weeks before"
    sec.tables.append(table_view("affect_week_vs_baseline", title, cmp_, columns))


# ------------------------------------------------------------------------------------------- trending terms
_TERM_TABLES = (
    ("terms", "trending_terms", "Words and two-word phrases", "word or phrase"),
    ("hashtags", "trending_hashtags", "Hashtags", "hashtag"),
    ("domains", "trending_domains", "Link domains", "domain"),
)


def terms(rep: Report, wh: Warehouse, week: IsoWeek) -> None:
    sec = rep.section("terms", "Trending terms, hashtags and domains")
    ranked = queries.trending(queries.term_counts(wh, week))
    for key, name, _, _ in _TERM_TABLES:
        rep.export(sec, name, ranked[key])
    sec.paragraphs.append(
        f"What this week's items say more often than the {queries.BASELINE_WEEKS} weeks before: the log-odds "
        "ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008, “Fightin' Words”; the "
        "prior is each term's count over all five weeks). Listed only above a stated threshold: z ≥ "
        f"{queries.MIN_Z} and seen at least {queries.MIN_TERM_COUNT} times this week. Words and two-word "
        "phrases come from titles and texts (URLs and @handles removed)."
    )
    for key, _, _, noun in _TERM_TABLES:
        if ranked[key].empty:
            sec.paragraphs.append(f"No {noun} qualifies this week (z ≥ {queries.MIN_Z}).")
    rep.chart(sec, charts.trending(ranked))
    cols = [
        ("term", "Term", "text"),
        ("kind", "Kind", "text"),
        ("count_week", week.label, "int"),
        ("count_baseline", "Baseline", "int"),
        ("log_odds", "Log-odds", "sig"),
        ("z", "z", "sig"),
    ]
    for key, name, title, _ in _TERM_TABLES:
        sec.tables.append(table_view(name, title, ranked[key], cols, limit=15))


# ------------------------------------------------------------------------------------------- data quality
_RUN_COLUMNS = [
    ("run_id", "Run", "text"),
    ("since", "Since", "datetime"),
    ("until", "Until", "datetime"),
    ("status", "Status", "text"),
    ("rows", "Items", "int"),
    ("quarantined", "Quarantined", "int"),
    ("failed_sources", "Failed sources", "text"),
]
_QUARANTINE_COLUMNS = [
    ("source", "Source", "text"),
    ("reason_kind", "Reason", "text"),
    ("records_this_week", "This week's runs", "int"),
    ("records_all_time", "All time", "int"),
]
_INCOMPLETE_COLUMNS = [
    ("platform", "Platform", "text"),
    ("cascades", "Cascades", "int"),
    ("incomplete", "Incomplete", "int"),
    ("incomplete_share", "Share", "share"),
    ("missing_parents", "Missing parents", "int"),
]


def quality(rep: Report, wh: Warehouse, week: IsoWeek, cascade_quality: pd.DataFrame) -> None:
    sec = rep.section("quality", "Data quality")
    runs = queries.quality_runs(wh, week)
    rep.export(sec, "quality_runs", runs)
    if runs.empty:
        sec.bullets.append(f"No nightly run covered {week.label}.")
    else:
        bad = runs[runs["status"] != "succeeded"]
        sec.bullets.append(
            f"{len(runs):,} nightly runs covered {week.label}; {len(bad):,} did not fully succeed."
        )
    for rec in runs[runs["failed_sources"] != ""].to_dict("records"):
        sec.bullets.append(f"Run {rec['run_id']}: sources failed: {rec['failed_sources']}")
    sec.tables.append(table_view("quality_runs", "Runs covering the week", runs, _RUN_COLUMNS))

    quarantine = queries.quality_quarantine(wh, week)
    rep.export(sec, "quality_quarantine", quarantine)
    sec.bullets.append(
        f"{int(quarantine['records_this_week'].sum()):,} records quarantined by the runs covering the "
        f"week ({int(quarantine['records_all_time'].sum()):,} in the warehouse overall, imports "
        "included)."
    )
    title = "Quarantined records by source and reason"
    sec.tables.append(table_view("quality_quarantine", title, quarantine, _QUARANTINE_COLUMNS, limit=20))

    rep.export(sec, "quality_cascades", cascade_quality)
    total = int(cascade_quality["cascades"].sum()) if not cascade_quality.empty else 0
    inc = int(cascade_quality["incomplete"].sum()) if not cascade_quality.empty else 0
    sec.bullets.append(
        f"{inc:,} of {total:,} cascades rooted this week are incomplete (an item's parent is missing "
        "from the data: not fetched, deleted, or outside the window)."
    )
    sec.tables.append(
        table_view("quality_cascades", "Incomplete cascades", cascade_quality, _INCOMPLETE_COLUMNS)
    )
