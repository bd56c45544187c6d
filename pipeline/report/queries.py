"""The tables behind the weekly report: each returns pandas DataFrames in a stable order.

The rows come from the named queries of ``sql/report/`` (see :mod:`pipeline.report.db`); this module keeps what
is not SQL: percent changes, the CCDF and percentiles of cascades, the log-odds ratio of trending terms, and the
shaping of rows into the report's tables. Ordering always ends with a unique key (ids, names), so two renders
of the same warehouse are identical.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from pipeline import scoring
from pipeline.report.db import Warehouse
from pipeline.report.weeks import IsoWeek

__all__ = ["Warehouse"]

#: weeks before the report week that trends and trending terms compare against
BASELINE_WEEKS = 4
#: the informative Dirichlet prior of the log-odds ratio: each term's count in week + baseline, times this
PRIOR_SCALE = 1.0
#: a term must occur at least this often in the report week to be listed as trending
MIN_TERM_COUNT = 5
#: ... and its z-score (log-odds with the informative Dirichlet prior) must be at least this (two-sided 5%)
MIN_Z = 1.96
NO_COMMUNITY = "(no community)"
#: the emotion columns of fct_affect
EMOTIONS = tuple(f"nrc_{emotion}" for emotion in scoring.EMOTIONS)

# URLs and @handles are addresses, not words; a token starts with a letter (any script), may carry a
# leading '#'
URL_RE = r"(https?://|www\.)[^\s<>\"']+"
HANDLE_RE = r"(^|[^\p{L}\p{N}_])@[\p{L}\p{N}_]+"
TOKEN_RE = r"#?\p{L}[\p{L}\p{N}_'’-]*"
DOMAIN_RE = r"https?://([^/\s:?#<>\"']+)"


def pct_change(current: pd.Series | float, previous: pd.Series | float) -> Any:
    """Percent change; NULL (NaN) when the previous value is 0 or missing."""
    if isinstance(current, pd.Series):
        prev = pd.to_numeric(previous, errors="coerce").astype(float)
        cur = pd.to_numeric(current, errors="coerce").astype(float)
        out = (cur - prev) / prev * 100.0
        return out.where(prev > 0)
    if previous is None or (isinstance(previous, float) and math.isnan(previous)) or previous == 0:
        return float("nan")
    return (float(current) - float(previous)) / float(previous) * 100.0


# ------------------------------------------------------------------------------------------- week selection
def week_item_count(wh: Warehouse, week: IsoWeek) -> int:
    return int(wh.row("week_items", start=week.start, end=week.end)[0])


def latest_week_with_data(wh: Warehouse, before: IsoWeek) -> IsoWeek | None:
    """The latest ISO week before ``before`` (exclusive) that has items."""
    latest = wh.row("latest_item_before", before=before.start)[0]
    return IsoWeek.of(pd.Timestamp(latest).to_pydatetime()) if latest is not None else None


def last_complete_week(wh: Warehouse) -> IsoWeek | None:
    """The latest week that is complete on some platform (the mart ``last_complete_week``), or None."""
    start = wh.row("last_complete_week")[0]
    return None if start is None else IsoWeek.of(pd.Timestamp(start).date())


def warmup(wh: Warehouse, week: IsoWeek) -> dict[str, Any]:
    """The membership warm-up around ``week``: how many earlier weeks are in it, whether ``week`` is, the least
    history (days) of ``week``, and whether its week-over-week changes are settled (``change_is_settled``)."""
    earlier, is_warmup, history, settled = wh.row("warmup_weeks", week=week.label)
    return {
        "earlier_weeks": int(earlier or 0),
        "is_warmup": bool(is_warmup),
        "history_days": None if history is None else float(history),
        "settled": bool(settled),
    }


def data_span(wh: Warehouse) -> tuple[Any, Any]:
    first, last = wh.row("data_span")
    return first, last


# ------------------------------------------------------------------------------------------- at a glance
_NOT_SUMMED = (
    "platform",
    "community",
    "items_change_pct",
    "median_depth",
    "p90_depth",
    "unique_authors",
    "unique_authors_prev_week",
)


def volume(wh: Warehouse, week: IsoWeek, *, settled: bool = True) -> dict[str, pd.DataFrame]:
    """Items by platform and community this week and the week before, and daily items per platform. Unless the
    week's changes are ``settled`` (fct_weekly_trends.change_is_settled), the change columns are empty: a
    warm-up or partial week is never compared with the one before."""
    prev = week.shift(-1)
    by_community = wh.df("volume_by_community", cur=week.label, prev=prev.label, no_community=NO_COMMUNITY)
    by_community["items_change_pct"] = pct_change(by_community["items"], by_community["items_prev_week"])
    if not settled:
        by_community["items_change_pct"] = np.nan

    sum_cols = [c for c in by_community.columns if c not in _NOT_SUMMED]
    by_platform = by_community.groupby("platform", as_index=False, sort=True)[sum_cols].sum()
    authors = wh.df("authors_by_platform", prev_start=prev.start, cur_start=week.start, cur_end=week.end)
    by_platform = by_platform.merge(authors, on="platform", how="left")
    for col in ("unique_authors", "unique_authors_prev_week"):
        by_platform[col] = by_platform[col].fillna(0).astype("int64")
    by_platform["items_change_pct"] = (
        pct_change(by_platform["items"], by_platform["items_prev_week"]) if settled else np.nan
    )
    by_platform = by_platform.sort_values(["items", "platform"], ascending=[False, True], kind="mergesort")
    return {
        "volume_by_platform": by_platform.reset_index(drop=True),
        "volume_by_community": by_community.reset_index(drop=True),
        "volume_daily": wh.df("volume_daily", start=prev.start, end=week.end),
    }


def headline(
    tables: dict[str, pd.DataFrame], wh: Warehouse, week: IsoWeek, *, settled: bool = True
) -> pd.DataFrame:
    """The few numbers at the top of the report, this week and the week before; without ``settled`` changes
    (a warm-up or partial week) no change is computed and the escape figures of the week before are left out."""
    plat = tables["volume_by_platform"]
    comm = tables["volume_by_community"]
    cur_authors, prev_authors = wh.row(
        "authors_overall", prev_start=week.shift(-1).start, cur_start=week.start, cur_end=week.end
    )
    roots, roots_prev = plat["roots"].sum(), plat["roots_prev_week"].sum()
    esc, esc_prev = plat["escaped_roots"].sum(), plat["escaped_roots_prev_week"].sum()
    rows: list[tuple[str, float, float]] = [
        ("items", plat["items"].sum(), plat["items_prev_week"].sum()),
        ("posts", plat["posts"].sum(), np.nan),
        ("comments", plat["comments"].sum(), np.nan),
        ("shares", plat["shares"].sum(), np.nan),
        ("active authors", cur_authors, prev_authors),
        ("active communities", (comm["items"] > 0).sum(), (comm["items_prev_week"] > 0).sum()),
        ("escaped items", esc, esc_prev),
        (
            "escape rate (%)",
            esc / roots * 100 if roots else np.nan,
            esc_prev / roots_prev * 100 if roots_prev else np.nan,
        ),
    ]
    out = pd.DataFrame(rows, columns=["metric", "this_week", "previous_week"])
    out["this_week"] = out["this_week"].astype(float)
    out["previous_week"] = out["previous_week"].astype(float)
    out["change_pct"] = [
        np.nan if m == "escape rate (%)" or not settled else pct_change(c, p)
        for m, c, p in zip(out["metric"], out["this_week"], out["previous_week"], strict=True)
    ]
    if not settled:
        out.loc[out["metric"].isin(["escaped items", "escape rate (%)"]), "previous_week"] = np.nan
    return out


# ------------------------------------------------------------------------------------------- escaped items
def escaped_items(wh: Warehouse, week: IsoWeek, *, with_author_names: bool) -> dict[str, pd.DataFrame]:
    """The week's escaped roots (ranked) with their text, speed, affect and drivers, and where they went."""
    items = wh.df("escaped_items", week=week.label)
    items.insert(0, "rank", np.arange(1, len(items) + 1, dtype="int64"))
    # the mart's text_snippet (title, else text) when there is one; the report's own cut of the text otherwise
    items["title"] = [
        m if isinstance(m, str) and m.strip() else snippet(t if isinstance(t, str) and t.strip() else x)
        for m, t, x in zip(items["mart_snippet"], items["title"], items["text"], strict=True)
    ]
    items = items.drop(columns=["mart_snippet"])
    items.insert(items.columns.get_loc("title") + 1, "text_snippet", [snippet(x, 220) for x in items["text"]])
    items = items.drop(columns=["text"] if with_author_names else ["text", "author_name"])
    emotions = items[list(EMOTIONS)].to_dict("records")
    position = items.columns.get_loc("nrc_trust") + 1
    items.insert(position, "top_emotions", [_top_emotions(row) for row in emotions])

    drivers = wh.df("escaped_item_drivers", week=week.label)
    top = _join_per_root(
        drivers,
        "top_drivers",
        lambda g: ", ".join(f"{f} ({c:+.2f})" for f, c in zip(g["feature"], g["contribution"], strict=True)),
    )
    items = items.merge(top, on="root_id", how="left")
    away = wh.df("escape_destinations", week=week.label, no_community=NO_COMMUNITY)
    reached = _join_per_root(
        away,
        "where_it_went",
        lambda g: ", ".join(f"{c} ({n})" for c, n in zip(g["community"], g["items"], strict=True)),
    )
    items = items.merge(reached, on="root_id", how="left")
    items["where_it_went"] = items["where_it_went"].fillna("")
    items = items.sort_values("rank", kind="mergesort").reset_index(drop=True)
    return {"escaped_items": items, "escape_destinations": destinations(away)}


def cascade_trees(wh: Warehouse, roots: list[str]) -> pd.DataFrame:
    """The items of the cascades of ``roots`` with their tree parent, depth, kind and community."""
    return wh.df("cascade_trees", roots=list(roots))


def destinations(away: pd.DataFrame) -> pd.DataFrame:
    """Escaped items and their items posted, per (platform, origin community, destination community)."""
    dest = (
        away.groupby(["platform", "origin_community", "community"], as_index=False)
        .agg(escaped_items=("root_id", "nunique"), items_posted=("items", "sum"))
        .rename(columns={"community": "destination_community"})
    )
    dest = dest.sort_values(
        ["escaped_items", "items_posted", "platform", "origin_community", "destination_community"],
        ascending=[False, False, True, True, True],
        kind="mergesort",
    ).reset_index(drop=True)
    dest["escaped_items"] = dest["escaped_items"].astype("int64")
    dest["items_posted"] = dest["items_posted"].astype("int64")
    return dest


def _join_per_root(df: pd.DataFrame, name: str, text: Callable[[pd.DataFrame], str]) -> pd.DataFrame:
    """One row per root_id with ``text(rows of that root)`` (rows keep their order)."""
    roots, texts = [], []
    for root, group in df.groupby("root_id", sort=True):
        roots.append(root)
        texts.append(text(group))
    return pd.DataFrame({"root_id": pd.Series(roots, dtype="str"), name: pd.Series(texts, dtype="str")})


def snippet(text: Any, limit: int = 140) -> str:
    """The text on one line, cut at ``limit`` characters with an ellipsis."""
    if not isinstance(text, str):
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _top_emotions(row: dict[str, Any], n: int = 2) -> str:
    scored = [(v, k) for k, v in row.items() if isinstance(v, float) and not math.isnan(v) and v > 0]
    scored.sort(key=lambda t: (-t[0], t[1]))
    return ", ".join(f"{k.removeprefix('nrc_')} {v:.2f}" for v, k in scored[:n])


def escaped_affect_profile(wh: Warehouse, week: IsoWeek) -> pd.DataFrame:
    """Mean affect of the week's roots that escaped vs those that did not, next to the drivers model's adjusted
    odds ratio per SD of each measure (the fit the drivers section plots first; NaN without one)."""
    profile = wh.df("escaped_affect_profile", week=week.label)
    drivers = spread_drivers(wh)
    cols = ["adjusted_odds_ratio_per_sd", "adjusted_ci_low", "adjusted_ci_high", "adjusted_fit"]
    plotted = choose_fits(drivers, week)[1] if not drivers.empty else []
    if not plotted:
        return profile.assign(**{c: np.nan for c in cols[:3]}, adjusted_fit=None)
    scope, key = plotted[0]
    fit = drivers[(drivers["fit_scope"] == scope) & (drivers["fit_key"].astype(str) == str(key))]
    fit = per_sd_terms(fit)[["term", "odds_ratio_per_sd", "ci_low", "ci_high"]]
    fit.columns = ["measure", *cols[:3]]
    out = profile.merge(fit, on="measure", how="left")
    out["adjusted_fit"] = fit_name(scope, key)
    return out


# ------------------------------------------------------------------------------------------- drivers
def spread_drivers(wh: Warehouse) -> pd.DataFrame:
    return wh.df("spread_drivers")


_INTERCEPTS = ("intercept", "const", "(intercept)")


def per_sd_terms(drivers: pd.DataFrame) -> pd.DataFrame:
    """Terms whose odds ratio is per standard deviation (no intercept, no 0/1 indicators such as weekdays)."""
    rows = drivers[~drivers["term"].str.lower().isin(_INTERCEPTS)]
    return rows[rows["scale"].fillna("per_sd") == "per_sd"]


def fit_name(scope: str, key: str | None) -> str:
    if key is None or key == "all" or key == scope:
        return f"{scope} fit"
    return f"{scope} {key} fit"


def choose_fits(
    drivers: pd.DataFrame, week: IsoWeek, limit: int = 2
) -> tuple[list[tuple[str, str | None]], list[tuple[str, str | None]]]:
    """Which fits to describe and which to plot: the report week's own fit if there is one, then the pooled
    fit(s); only fits with estimates are plotted."""
    keys = drivers[["fit_scope", "fit_key"]].drop_duplicates()
    fits = sorted(
        {(str(s), None if pd.isna(k) else str(k)) for s, k in keys.itertuples(index=False)},
        key=lambda f: (f[0], f[1] or ""),
    )
    has_estimates = {
        (str(s), None if pd.isna(k) else str(k))
        for s, k, v in drivers[["fit_scope", "fit_key", "odds_ratio_per_sd"]].itertuples(index=False)
        if not pd.isna(v)
    }
    weekly = [f for f in fits if f[1] == week.label]
    pooled = [f for f in fits if f[0] in ("all", "overall", "pooled", "global") and f not in weekly]
    described = (weekly + pooled) or fits[:1]
    plotted = [f for f in described if f in has_estimates][:limit]
    if not plotted:
        plotted = [f for f in fits if f in has_estimates][:1]
        described = described + [f for f in plotted if f not in described]
    return described, plotted


# ------------------------------------------------------------------------------------------- overlap
_PAIR = ["platform", "community_a", "community_b"]
_STATUSES = ("both weeks", "new this week", "gone this week")


def community_overlap(wh: Warehouse, week: IsoWeek, top: int = 30) -> dict[str, pd.DataFrame]:
    """The strongest pairs of the week, the pairs that changed most since the week before, and pair counts.
    ``is_warmup`` (fct_community_overlap) marks pairs of a week whose memberships are still filling up; a change
    is a warm-up artefact when either week is, and is never ranked: the changes keep settled pairs only."""
    cur = wh.df("overlap_pairs", week=week.label)
    prev = wh.df("overlap_pairs", week=week.shift(-1).label)
    top_pairs = cur.sort_values(
        ["lift", "npmi", "shared_members", *_PAIR],
        ascending=[False, False, False, True, True, True],
        kind="mergesort",
        na_position="last",
    ).head(top)
    both = cur.merge(prev, on=_PAIR, how="outer", suffixes=("", "_prev_week"), indicator=True)
    both["status"] = (
        both["_merge"].map(dict(zip(("both", "left_only", "right_only"), _STATUSES, strict=True))).astype(str)
    )
    both = both.drop(columns=["_merge"])
    both["lift_change"] = both["lift"] - both["lift_prev_week"]
    both["npmi_change"] = both["npmi"] - both["npmi_prev_week"]
    both["abs_npmi_change"] = both["npmi_change"].abs()
    both["is_warmup"] = both["is_warmup"].fillna(False).astype(bool) | both["is_warmup_prev_week"].fillna(
        False
    ).astype(bool)
    changes = both[(both["status"] == "both weeks") & ~both["is_warmup"]].sort_values(
        ["abs_npmi_change", *_PAIR], ascending=[False, True, True, True], kind="mergesort"
    )
    shown = ["shared_members", "shared_members_prev_week", "lift", "lift_prev_week", "lift_change"]
    changes = changes[[*_PAIR, *shown, "npmi", "npmi_prev_week", "npmi_change", "is_warmup"]].head(20)
    counts = pd.DataFrame(
        {
            "status": [*_STATUSES, "in warm-up"],
            "pairs": [
                *(int((both["status"] == s).sum()) for s in _STATUSES),
                int(((both["status"] == "both weeks") & both["is_warmup"]).sum()),
            ],
        }
    )
    return {
        "community_overlap_top": top_pairs.reset_index(drop=True),
        "community_overlap_changes": changes.reset_index(drop=True),
        "community_overlap_pair_counts": counts,
    }


# ------------------------------------------------------------------------------------------- cascades
def cascades(wh: Warehouse, week: IsoWeek) -> dict[str, pd.DataFrame]:
    """Size and depth of the cascades whose root was posted in the week: CCDF and summary per platform."""
    rows = wh.df("cascades", week=week.label)
    ccdf_parts = [
        ccdf(group[metric], platform=str(platform), metric=metric)
        for platform, group in rows.groupby("platform", sort=True)
        for metric in ("size", "depth")
    ]
    ccdf_df = (
        pd.concat(ccdf_parts, ignore_index=True)
        if ccdf_parts
        else pd.DataFrame(columns=["platform", "metric", "value", "cascades_at_least", "ccdf"])
    )
    summary = pd.DataFrame([_summary(platform, g) for platform, g in rows.groupby("platform", sort=True)])
    quality = (
        rows.groupby("platform", as_index=False, sort=True).agg(
            cascades=("root_id", "size"),
            incomplete=("is_complete", lambda s: int((s == False).sum())),  # noqa: E712  (NULL is unknown, not incomplete)
            missing_parents=("missing_parents", lambda s: int(s.fillna(0).sum())),
        )
        if not rows.empty
        else pd.DataFrame(columns=["platform", "cascades", "incomplete", "missing_parents"])
    )
    if not quality.empty:
        quality["incomplete_share"] = quality["incomplete"] / quality["cascades"]
    return {"cascade_ccdf": ccdf_df, "cascade_summary": summary, "quality_cascades": quality}


def _summary(platform: Any, g: pd.DataFrame) -> dict[str, Any]:
    return {
        "platform": platform,
        "cascades": len(g),
        "size_median": float(np.median(g["size"])),
        "size_p90": float(np.quantile(g["size"], 0.9)),
        "size_p99": float(np.quantile(g["size"], 0.99)),
        "size_max": int(g["size"].max()),
        "depth_median": float(np.median(g["depth"])),
        "depth_p90": float(np.quantile(g["depth"], 0.9)),
        "depth_max": int(g["depth"].max()),
        "with_replies_or_shares_share": float((g["size"] > 1).mean()),
    }


def ccdf(values: Iterable[float], *, platform: str, metric: str) -> pd.DataFrame:
    """Empirical complementary CDF: for each observed value x, the share of cascades with value >= x."""
    arr = np.asarray(list(values), dtype="int64")
    if arr.size == 0:
        return pd.DataFrame(columns=["platform", "metric", "value", "cascades_at_least", "ccdf"])
    uniq, counts = np.unique(arr, return_counts=True)
    at_least = counts[::-1].cumsum()[::-1]
    return pd.DataFrame(
        {
            "platform": platform,
            "metric": metric,
            "value": uniq.astype("int64"),
            "cascades_at_least": at_least.astype("int64"),
            "ccdf": at_least / arr.size,
        }
    )


# ------------------------------------------------------------------------------------------- affect
def affect_trends(wh: Warehouse, week: IsoWeek) -> dict[str, pd.DataFrame]:
    """Daily mean affect over the baseline weeks and the report week, and the week against the baseline."""
    start = week.shift(-BASELINE_WEEKS).start
    return {
        "affect_daily": wh.df("affect_daily", start=start, end=week.end),
        "affect_week_vs_baseline": wh.df(
            "affect_week_vs_baseline", cur=week.start, start=start, end=week.end
        ),
    }


# ------------------------------------------------------------------------------------------- trending terms
def term_counts(wh: Warehouse, week: IsoWeek) -> dict[str, pd.DataFrame]:
    """Occurrences of words, hashtags and link domains in the report week and in the baseline weeks before it.

    Words: title and text, lower-cased, URLs and @handles removed, tokens that start with a letter (any
    script), a leading '#' stripped. Hashtags: tokens with the '#'. Domains: host names of the url column and
    of links in the text, lower-cased, without a leading ``www.``.
    """
    bounds = {"cur": week.start, "start": week.shift(-BASELINE_WEEKS).start, "end": week.end}
    tokens = wh.df("term_tokens", **bounds, url_re=URL_RE, handle_re=HANDLE_RE, token_re=TOKEN_RE)
    words = tokens.assign(term=tokens["token"].str.lstrip("#"))
    terms = (
        words.groupby("term", as_index=False, sort=True)[["count_week", "count_baseline"]].sum()
        if not words.empty
        else pd.DataFrame(columns=["term", "count_week", "count_baseline"])
    )
    tags = tokens[tokens["token"].str.startswith("#")].rename(columns={"token": "term"})
    phrases = wh.df("term_bigrams", **bounds, url_re=URL_RE, handle_re=HANDLE_RE, token_re=TOKEN_RE)
    return {
        "terms": terms,
        "phrases": phrases,
        "hashtags": tags.reset_index(drop=True),
        "domains": wh.df("term_domains", **bounds, domain_re=DOMAIN_RE),
    }


def trending(counts: dict[str, pd.DataFrame], top: int = 25) -> dict[str, pd.DataFrame]:
    """The trending tables: words and two-word phrases (each ranked against its own kind, then merged by z),
    hashtags and domains; only terms with z >= MIN_Z seen at least MIN_TERM_COUNT times this week."""
    words = fightin_words(counts["terms"], top=top).assign(kind="word")
    phrases = fightin_words(counts["phrases"], top=top).assign(kind="phrase")
    both = (
        pd.concat([t for t in (words, phrases) if not t.empty], ignore_index=True)
        if (not words.empty or not phrases.empty)
        else words
    )
    both = both.sort_values(["z", "count_week", "term"], ascending=[False, False, True], kind="mergesort")
    return {
        "terms": both.head(top).reset_index(drop=True),
        "hashtags": fightin_words(counts["hashtags"], top=top),
        "domains": fightin_words(counts["domains"], top=top),
    }


def fightin_words(
    counts: pd.DataFrame,
    *,
    prior_scale: float = PRIOR_SCALE,
    min_count: int = MIN_TERM_COUNT,
    min_z: float = MIN_Z,
    top: int = 25,
) -> pd.DataFrame:
    """Log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008), week vs baseline.

    ``counts`` has term, count_week, count_baseline. The informative prior is the terms' counts in both
    periods together (the background corpus), scaled by ``prior_scale``: α_w = prior_scale · (y_w,week +
    y_w,base), α0 = Σ α_w. Then δ_w = log((y_wi + α_w) / (n_i + α0 − y_wi − α_w)) − log((y_wj + α_w) / (n_j +
    α0 − y_wj − α_w)), Var(δ_w) ≈ 1/(y_wi + α_w) + 1/(y_wj + α_w), z_w = δ_w / sqrt(Var). Returns the ``top``
    terms by z among those seen at least ``min_count`` times this week and with z >= ``min_z``
    (over-represented this week beyond chance at the two-sided 5% level for the default 1.96).
    """
    cols = [
        "term",
        "count_week",
        "count_baseline",
        "rate_week_per_10k",
        "rate_baseline_per_10k",
        "log_odds",
        "z",
    ]
    if counts.empty:
        return pd.DataFrame(columns=cols)
    y_i = counts["count_week"].to_numpy(dtype=float)
    y_j = counts["count_baseline"].to_numpy(dtype=float)
    n_i, n_j = y_i.sum(), y_j.sum()
    if n_i == 0:
        return pd.DataFrame(columns=cols)
    alpha = prior_scale * (y_i + y_j)
    a0 = alpha.sum()
    delta = np.log((y_i + alpha) / (n_i + a0 - y_i - alpha)) - np.log(
        (y_j + alpha) / (n_j + a0 - y_j - alpha)
    )
    z = delta / np.sqrt(1.0 / (y_i + alpha) + 1.0 / (y_j + alpha))
    out = counts[["term", "count_week", "count_baseline"]].copy()
    out["rate_week_per_10k"] = y_i / n_i * 10_000
    out["rate_baseline_per_10k"] = y_j / n_j * 10_000 if n_j else np.nan
    out["log_odds"] = delta
    out["z"] = z
    out = out[(out["count_week"] >= min_count) & (out["z"] >= min_z)]
    out = out.sort_values(["z", "count_week", "term"], ascending=[False, False, True], kind="mergesort")
    return out.head(top).reset_index(drop=True)[cols]


# ------------------------------------------------------------------------------------------- data quality
def quality_quarantine(wh: Warehouse, week: IsoWeek) -> pd.DataFrame:
    """Quarantined records by source and reason: by the runs whose window overlaps the week, and overall."""
    # the run ids' windows parse to naive UTC timestamps
    return wh.df(
        "quality_quarantine", start=week.start.replace(tzinfo=None), end=week.end.replace(tzinfo=None)
    )


def quality_runs(wh: Warehouse, week: IsoWeek) -> pd.DataFrame:
    """The nightly runs whose window overlaps the week, failed sources as 'source: message; ...'."""
    runs = wh.df("quality_runs", start=week.start, end=week.end)
    runs["failed_sources"] = [_failed_text(v) for v in runs["failed_sources"]]
    return runs


def _failed_text(value: Any) -> str:
    """failed_sources is a JSON object source -> message; render it as 'source: message; ...'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    data = value
    if isinstance(value, str):
        try:
            data = json.loads(value)
        except ValueError:
            return value
    if isinstance(data, dict):
        return "; ".join(f"{k}: {v}" for k, v in sorted(data.items()))
    return str(data) if data else ""
