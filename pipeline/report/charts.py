"""Charts of the weekly report: matplotlib (Agg) figures rendered to PNG bytes.

Determinism: fixed figure sizes and DPI, fonts shipped with matplotlib, ``metadata={"Software": None}`` so the
PNG carries no version or date, stable input order. Labels are user content (community names, terms):
math-text parsing is switched off so a ``$`` in a name is drawn as a dollar sign, not parsed.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.axis  # noqa: E402
import matplotlib.dates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

DPI = 130
PALETTE = ("#1f5f8b", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6a9f", "#30638e", "#a05c34", "#7a7a7a")
INK = "#222222"
MUTED = "#8a8a8a"
ACCENT = "#d1495b"

_RC = {
    "text.parse_math": False,
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "axes.edgecolor": "#b0b0b0",
    "axes.labelcolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.6,
    "xtick.color": INK,
    "ytick.color": INK,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "svg.hashsalt": "ripple",
    "path.simplify": True,
}


@dataclass
class Chart:
    name: str
    title: str
    alt: str
    png: bytes


@contextmanager
def _figure(width: float, height: float, **subplots: object) -> Iterator[tuple[Figure, np.ndarray]]:
    with plt.rc_context(_RC):
        fig, axes = plt.subplots(
            figsize=(width, height),
            dpi=DPI,
            squeeze=False,
            layout="constrained",
            **subplots,  # type: ignore[arg-type]
        )
        try:
            yield fig, axes
        finally:
            plt.close(fig)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    return buf.getvalue()


def _short(text: object, limit: int = 28) -> str:
    s = str(text)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _plain_number(value: float, _pos: object = None) -> str:
    return f"{value:g}"


def _log_ticks(axis: matplotlib.axis.Axis) -> None:
    """Ticks at 1-2-5 steps with plain numbers on a log axis (the default formatter needs math text, which is
    off)."""
    axis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(_plain_number))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _bar_slots(ax: plt.Axes, n: int, slots: int) -> None:
    """Keep bar thickness the same however many bars there are (bars fill the top slots)."""
    ax.set_ylim(n - max(n, slots) - 0.5, n - 0.5)


def _no_data(ax: plt.Axes, message: str = "no data this week") -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", color=MUTED, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


# ------------------------------------------------------------------------------------------- glance
def volume_by_community(df: pd.DataFrame, week_label: str, prev_label: str, top: int = 15) -> Chart:
    data = df.head(top).iloc[::-1]
    labels = [
        _short(c if df["platform"].nunique() == 1 else f"{p} · {c}")
        for p, c in zip(data["platform"], data["community"], strict=True)
    ]
    with _figure(8.6, max(2.4, 0.3 * len(data) + 0.9)) as (fig, axes):
        ax = axes[0, 0]
        if data.empty:
            _no_data(ax)
        else:
            y = np.arange(len(data))
            ax.barh(y + 0.2, data["items_prev_week"], height=0.4, color="#c9d6e3", label=prev_label)
            ax.barh(y - 0.2, data["items"], height=0.4, color=PALETTE[0], label=week_label)
            ax.set_yticks(y, labels)
            ax.set_xlabel("items (posts, comments and shares)")
            ax.grid(axis="y", visible=False)
            ax.legend(loc="lower right")
        ax.set_title(f"Items per community, {week_label} vs {prev_label}")
        return Chart(
            "chart_volume_by_community",
            "Items per community",
            f"Bar chart of items per community in {week_label} and {prev_label}",
            _png(fig),
        )


def volume_daily(df: pd.DataFrame, week_start: pd.Timestamp) -> Chart:
    with _figure(8.6, 2.6) as (fig, axes):
        ax = axes[0, 0]
        if df.empty:
            _no_data(ax)
        else:
            for i, (platform, g) in enumerate(df.groupby("platform", sort=True)):
                ax.plot(
                    pd.to_datetime(g["date"]),
                    g["items"],
                    marker="o",
                    ms=3,
                    lw=1.6,
                    color=PALETTE[i % len(PALETTE)],
                    label=str(platform),
                )
            ax.axvspan(week_start, week_start + pd.Timedelta(days=7), color="#f2f2f2", zorder=0, lw=0)
            ax.set_ylim(bottom=0)
            ax.set_ylabel("items per day")
            ax.legend(loc="upper left", ncols=4)
            fig.autofmt_xdate(rotation=0, ha="center")
            ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%a %d"))
        ax.set_title("Items per day (report week shaded)")
        return Chart(
            "chart_volume_daily", "Items per day", "Line chart of items per day and platform", _png(fig)
        )


# ------------------------------------------------------------------------------------------- escape
def escape_flows(dest: pd.DataFrame, top: int = 12) -> Chart:
    n_origins = min(top, dest["origin_community"].nunique()) if not dest.empty else 1
    with _figure(8.6, 0.38 * n_origins + 2.2) as (fig, axes):
        ax = axes[0, 0]
        if dest.empty:
            _no_data(ax, "no escaped items this week")
        else:
            origin_tot = dest.groupby("origin_community")["escaped_items"].sum()
            dest_tot = dest.groupby("destination_community")["escaped_items"].sum()
            origins = sorted(origin_tot.index, key=lambda c: (-origin_tot[c], c))[:top]
            dests = sorted(dest_tot.index, key=lambda c: (-dest_tot[c], c))[:top]
            grid = np.zeros((len(origins), len(dests)))
            agg = dest.groupby(["origin_community", "destination_community"])["escaped_items"].sum()
            for (o, d), v in agg.items():
                if o in origins and d in dests:
                    grid[origins.index(o), dests.index(d)] = v
            masked = np.ma.masked_equal(grid, 0)
            im = ax.imshow(masked, cmap="Blues", aspect="auto", vmin=0)
            ax.set_xticks(range(len(dests)), [_short(d, 20) for d in dests], rotation=40, ha="right")
            ax.set_yticks(range(len(origins)), [_short(o, 20) for o in origins])
            ax.set_xlabel("reached community")
            ax.set_ylabel("origin community")
            ax.grid(False)
            vmax = grid.max() or 1
            for i in range(len(origins)):
                for j in range(len(dests)):
                    if grid[i, j]:
                        ax.text(
                            j,
                            i,
                            f"{int(grid[i, j])}",
                            ha="center",
                            va="center",
                            fontsize=7,
                            color="white" if grid[i, j] > vmax * 0.55 else INK,
                        )
            fig.colorbar(im, ax=ax, shrink=0.8, label="escaped items")
        ax.set_title("Where escaped items went (items reaching each community)")
        return Chart(
            "chart_escape_flows",
            "Where escaped items went",
            "Heatmap of escaped items by origin community and reached community",
            _png(fig),
        )


#: the sentiment measures, each on its own scale: (column, panel title, y-axis label)
SENTIMENT_SCALES = (
    ("vader_compound", "VADER compound", "compound, −1…1"),
    ("tb_polarity", "TextBlob polarity", "polarity, −1…1"),
    ("arousal", "Arousal", "high-arousal words per token"),
)


def _profile_bars(ax: Any, sub: pd.DataFrame, labels: list[str]) -> None:
    x = np.arange(len(sub))
    ax.bar(x - 0.2, sub["other_mean"], width=0.4, color="#c9d6e3", label="did not escape")
    ax.bar(x + 0.2, sub["escaped_mean"], width=0.4, color=ACCENT, label="escaped")
    ax.set_xticks(
        x, labels, rotation=30 if len(labels) > 1 else 0, ha="right" if len(labels) > 1 else "center"
    )
    ax.axhline(0, color=MUTED, lw=0.8)
    ax.grid(axis="x", visible=False)


def affect_profile(profile: pd.DataFrame) -> Chart:
    """One panel per sentiment measure (each on its own labelled scale) and one for the NRC emotions."""
    ratios = {"width_ratios": [1, 1, 1, 4]}
    with _figure(8.6, 3.0, ncols=4, gridspec_kw=ratios) as (fig, axes):
        if profile.empty or profile["escaped_roots"].iloc[0] == 0:
            for k in range(4):
                _no_data(axes[0, k], "no escaped items" if k == 3 else "")
        else:
            by = profile.set_index("measure")
            for k, (col, title, unit) in enumerate(SENTIMENT_SCALES):
                ax = axes[0, k]
                if col in by.index:
                    _profile_bars(ax, by.loc[[col]], [""])
                ax.set_title(title, fontsize=8.5)
                ax.set_ylabel(unit)
            emos = [m for m in profile["measure"] if m.startswith("nrc_")]
            ax = axes[0, 3]
            _profile_bars(ax, by.loc[emos], [m.removeprefix("nrc_") for m in emos])
            ax.set_title("NRC emotions")
            ax.set_ylabel("emotion words per token")
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.suptitle(
            "Emotional profile of this week's root items: escaped vs not (raw means)",
            fontsize=10,
            fontweight="bold",
        )
        return Chart(
            "chart_escaped_affect",
            "Emotional profile of escaped items (raw means; each measure on its own scale)",
            "Bar charts comparing the mean sentiment and emotion of escaped and other items",
            _png(fig),
        )


# ------------------------------------------------------------------------------------------- drivers
def _fit_rows(rows: pd.DataFrame, scope: str, key: str | None) -> pd.DataFrame:
    keys = rows["fit_key"].isna() if key is None else rows["fit_key"].astype(str) == key
    return rows[(rows["fit_scope"] == scope) & keys]


def _forest_panel(ax: Any, sub: pd.DataFrame, terms: list[str], title: str) -> None:
    """One fit's odds ratios and intervals, one row per term, on a log axis around 1."""
    ax.set_title(title)
    if sub["odds_ratio_per_sd"].notna().sum() == 0:
        _no_data(ax, "insufficient data")
        return
    y = np.arange(len(terms))
    orr = sub["odds_ratio_per_sd"].to_numpy(float)
    lo = sub["ci_low"].to_numpy(float)
    hi = sub["ci_high"].to_numpy(float)
    sig = (lo > 1) | (hi < 1)
    colors = np.where(sig, np.where(orr > 1, ACCENT, PALETTE[0]), MUTED)
    for i in range(len(terms)):
        if math.isnan(orr[i]):
            continue
        ax.plot([lo[i], hi[i]], [y[i], y[i]], color=colors[i], lw=1.6, solid_capstyle="round")
        ax.plot(orr[i], y[i], "o", color=colors[i], ms=5)
    ax.axvline(1.0, color=INK, lw=0.8, ls="--")
    ax.set_xscale("log")
    finite = np.concatenate([lo[~np.isnan(lo)], hi[~np.isnan(hi)]])
    span = max(abs(np.log(finite.min())), abs(np.log(finite.max())), math.log(1.25))
    ax.set_xlim(math.exp(-span * 1.1), math.exp(span * 1.1))
    lo_lim, hi_lim = ax.get_xlim()
    nice = [0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0]
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator([v for v in nice if lo_lim <= v <= hi_lim]))
    _log_ticks(ax.xaxis)
    ax.set_yticks(y, terms)
    ax.set_xlabel("odds ratio per SD (95% CI, log scale)")
    ax.grid(axis="y", visible=False)


def forest(drivers: pd.DataFrame, fits: Sequence[tuple[str, str | None]]) -> Chart:
    n = max(1, len(fits))
    rows = drivers[
        drivers["odds_ratio_per_sd"].notna() & drivers["ci_low"].notna() & drivers["ci_high"].notna()
    ]
    rows = rows[~rows["term"].str.lower().isin(("intercept", "const", "(intercept)"))]
    first = _fit_rows(rows, *fits[0]) if fits else rows
    order = {t: -float(v) for t, v in zip(first["term"], first["odds_ratio_per_sd"], strict=True)}
    terms = sorted(set(rows["term"]), key=lambda t: (order.get(t, 0.0), t))
    height = max(2.4, 0.26 * len(terms) + 1.2)
    with _figure(8.6 if n > 1 else 7.2, height, ncols=n, sharey=True) as (fig, axes):
        for k, (scope, key) in enumerate(fits or [("", None)]):
            sub = _fit_rows(rows, scope, key).set_index("term").reindex(terms)
            _forest_panel(axes[0, k], sub, terms, scope if key in (None, "all") else f"{scope}: {key}")
        axes[0, 0].invert_yaxis()
        return Chart(
            "chart_spread_drivers",
            "Spread drivers (forest plot)",
            "Forest plot of odds ratios per standard deviation with 95% confidence intervals",
            _png(fig),
        )


# ------------------------------------------------------------------------------------------- overlap
def overlap_heatmap(top: pd.DataFrame, max_communities: int = 14) -> Chart:
    with _figure(8.0, 6.0) as (fig, axes):
        ax = axes[0, 0]
        if top.empty:
            _no_data(ax, "no community pairs this week")
        else:
            label = (top["platform"] + " · ") if top["platform"].nunique() > 1 else ""
            a = (label + top["community_a"]).tolist()
            b = (label + top["community_b"]).tolist()
            names: list[str] = []
            for x, y in zip(a, b, strict=True):
                for name in (x, y):
                    if name not in names and len(names) < max_communities:
                        names.append(name)
            names.sort()
            grid = np.full((len(names), len(names)), np.nan)
            for x, y, v in zip(a, b, top["lift"].astype(float), strict=True):
                if x in names and y in names and v > 0:
                    i, j = names.index(x), names.index(y)
                    grid[i, j] = grid[j, i] = v
            finite = grid[np.isfinite(grid)]
            # lift is a ratio: a log scale centred on 1 (chance), red above, blue below
            reach = max(float(finite.max()), 1.0 / float(finite.min()), 1.5)
            norm = LogNorm(vmin=1.0 / reach, vmax=reach)
            im = ax.imshow(np.ma.masked_invalid(grid), cmap="RdBu_r", norm=norm, aspect="equal")
            ax.set_xticks(range(len(names)), [_short(n, 22) for n in names], rotation=45, ha="right")
            ax.set_yticks(range(len(names)), [_short(n, 22) for n in names])
            ax.grid(False)
            for i in range(len(names)):
                for j in range(len(names)):
                    if np.isfinite(grid[i, j]):
                        dark = abs(float(norm(grid[i, j])) - 0.5) > 0.32
                        ax.text(
                            j,
                            i,
                            f"{grid[i, j]:.1f}",
                            ha="center",
                            va="center",
                            fontsize=7,
                            color="white" if dark else INK,
                        )
            bar = fig.colorbar(im, ax=ax, shrink=0.75, label="lift (shared members vs chance)")
            _log_ticks(bar.ax.yaxis)
        ax.set_title("Strongest community pairs by lift")
        return Chart(
            "chart_overlap",
            "Community overlap heatmap",
            "Heatmap of lift between the communities of the strongest pairs",
            _png(fig),
        )


def overlap_changes(changes: pd.DataFrame, top: int = 12) -> Chart:
    data = changes.head(top).iloc[::-1]
    with _figure(8.6, max(2.4, 0.3 * len(data) + 1.0)) as (fig, axes):
        ax = axes[0, 0]
        if data.empty:
            _no_data(ax, "no pairs in both weeks")
        else:
            label = (data["platform"] + " · ") if changes["platform"].nunique() > 1 else ""
            names = [
                _short(f"{x} – {y}", 44)
                for x, y in zip(label + data["community_a"], data["community_b"], strict=True)
            ]
            vals = data["npmi_change"].astype(float)
            ax.barh(
                np.arange(len(data)), vals, color=[ACCENT if v > 0 else PALETTE[0] for v in vals], height=0.7
            )
            ax.set_yticks(np.arange(len(data)), names)
            ax.axvline(0, color=INK, lw=0.8)
            ax.set_xlabel("change in NPMI vs previous week")
            ax.grid(axis="y", visible=False)
        ax.set_title("Community pairs whose overlap changed most")
        return Chart(
            "chart_overlap_changes",
            "Overlap changes",
            "Bar chart of the change in NPMI of community pairs versus the previous week",
            _png(fig),
        )


# ------------------------------------------------------------------------------------------- cascades
def ccdf_chart(ccdf: pd.DataFrame) -> Chart:
    with _figure(8.6, 3.4, ncols=2) as (fig, axes):
        for k, (metric, xlabel) in enumerate(
            (("size", "cascade size (items)"), ("depth", "cascade depth (hops)"))
        ):
            ax = axes[0, k]
            sub = ccdf[(ccdf["metric"] == metric) & (ccdf["value"] >= 1)]
            if sub.empty:
                _no_data(ax)
            else:
                for i, (platform, g) in enumerate(sub.groupby("platform", sort=True)):
                    ax.step(
                        g["value"],
                        g["ccdf"],
                        where="post",
                        color=PALETTE[i % len(PALETTE)],
                        lw=1.6,
                        label=str(platform),
                    )
                    ax.plot(g["value"], g["ccdf"], "o", ms=2.5, color=PALETTE[i % len(PALETTE)])
                ax.set_xscale("log")
                ax.set_yscale("log")
                _log_ticks(ax.xaxis)
                _log_ticks(ax.yaxis)
                ax.set_xlabel(xlabel)
                ax.set_ylabel("P(X ≥ x)")
                ax.legend(loc="lower left")
                ax.grid(True, which="major")
            ax.set_title(f"CCDF of {metric}")
        return Chart(
            "chart_cascade_ccdf",
            "Cascade size and depth (CCDF)",
            "Log-log complementary cumulative distributions of cascade size and depth",
            _png(fig),
        )


# ------------------------------------------------------------------------------------------- affect
def affect_trends(daily: pd.DataFrame, week_start: pd.Timestamp) -> Chart:
    """One panel per sentiment measure, each with its own labelled scale, and one for the NRC emotions."""
    with _figure(8.6, 7.4, nrows=4, sharex=True, gridspec_kw={"height_ratios": [1, 1, 1, 1.6]}) as (
        fig,
        axes,
    ):
        panels = [axes[k, 0] for k in range(4)]
        if daily.empty:
            for ax in panels:
                _no_data(ax)
        else:
            dates = pd.to_datetime(daily["date"])
            for k, (col, title, unit) in enumerate(SENTIMENT_SCALES):
                ax = panels[k]
                if col in daily.columns:
                    ax.plot(dates, daily[col], lw=1.6, color=PALETTE[k])
                if col != "arousal":
                    ax.axhline(0, color=MUTED, lw=0.8)
                ax.set_title(f"{title} per day", loc="left")
                ax.set_ylabel(unit)
            bottom = panels[3]
            emos = [c for c in daily.columns if c.startswith("nrc_")]
            for i, m in enumerate(emos):
                bottom.plot(
                    dates, daily[m], lw=1.4, color=PALETTE[i % len(PALETTE)], label=m.removeprefix("nrc_")
                )
            bottom.set_ylabel("emotion words per token")
            bottom.set_title("NRC emotions per day", loc="left")
            if emos:
                bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
            for ax in panels:
                ax.axvspan(week_start, week_start + pd.Timedelta(days=7), color="#f2f2f2", zorder=0, lw=0)
            bottom.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%d %b"))
        return Chart(
            "chart_affect_trends",
            "Sentiment and emotion trends (each measure on its own scale)",
            "Daily mean VADER compound, TextBlob polarity, arousal and NRC emotions, each in its own panel, "
            "over the report week and the four weeks before",
            _png(fig),
        )


# ------------------------------------------------------------------------------------------- terms
def trending(tables: dict[str, pd.DataFrame], top: int = 15) -> Chart:
    panels = [(k, t) for k, t in (("terms", "Words"), ("hashtags", "Hashtags"), ("domains", "Link domains"))]
    with _figure(8.6, max(3.0, 0.22 * top + 1.0), ncols=3) as (fig, axes):
        for k, (key, title) in enumerate(panels):
            ax = axes[0, k]
            df = tables.get(key)
            if df is None or df.empty:
                _no_data(ax, "nothing trending")
            else:
                data = df.head(top).iloc[::-1]
                ax.barh(np.arange(len(data)), data["z"].astype(float), color=PALETTE[k], height=0.7)
                ax.set_yticks(np.arange(len(data)), [_short(t, 22) for t in data["term"]])
                _bar_slots(ax, len(data), top)
                ax.set_xlabel("z-score (log-odds)")
                ax.grid(axis="y", visible=False)
            ax.set_title(title)
        fig.suptitle("Trending this week vs the four weeks before", fontsize=10, fontweight="bold")
        return Chart(
            "chart_trending",
            "Trending terms, hashtags and domains",
            "Bar charts of the terms, hashtags and domains most over-represented this week",
            _png(fig),
        )
