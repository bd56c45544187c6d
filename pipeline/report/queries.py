"""The queries behind the weekly report: each returns pandas DataFrames in a stable order.

Every function reads the published warehouse only. A table or column that an older warehouse lacks raises
:class:`Unavailable`, which the report renders as "not available in this warehouse" for that section alone.
Ordering always ends with a unique key (ids, names), so two renders of the same warehouse are identical.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from pipeline.affect import NRC_COLUMNS
from pipeline.report.weeks import IsoWeek

AFFECT_MEASURES = ("vader_compound", "tb_polarity", "tb_subjectivity", "arousal")
EMOTIONS = NRC_COLUMNS
#: weeks before the report week that trends and trending terms compare against
BASELINE_WEEKS = 4
#: the informative Dirichlet prior of the log-odds ratio: each term's count in week + baseline, times this
PRIOR_SCALE = 1.0
#: a term must occur at least this often in the report week to be listed as trending
MIN_TERM_COUNT = 5
#: the cascade walk behind "where they went" stops at this depth (parent cycles cannot make it loop)
MAX_WALK_DEPTH = 1000
NO_COMMUNITY = "(no community)"

# URLs and @handles are addresses, not words; a token starts with a letter (any script), may carry a
# leading '#'
URL_RE = r"(https?://|www\.)[^\s<>\"']+"
HANDLE_RE = r"(^|[^\p{L}\p{N}_])@[\p{L}\p{N}_]+"
TOKEN_RE = r"#?\p{L}[\p{L}\p{N}_'’-]*"
DOMAIN_RE = r"https?://([^/\s:?#<>\"']+)"


class Unavailable(Exception):
    """A table or column the section needs is not in this warehouse."""


@dataclass
class Warehouse:
    con: duckdb.DuckDBPyConnection

    def __post_init__(self) -> None:
        rows = self.con.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'main' order by table_name, ordinal_position"
        ).fetchall()
        self.tables: dict[str, list[str]] = {}
        for table, column in rows:
            self.tables.setdefault(table, []).append(column)

    def has(self, table: str, *columns: str) -> bool:
        cols = self.tables.get(table)
        return cols is not None and all(c in cols for c in columns)

    def require(self, table: str, *columns: str) -> None:
        if table not in self.tables:
            raise Unavailable(f"table {table} is not in this warehouse")
        missing = [c for c in columns if c not in self.tables[table]]
        if missing:
            raise Unavailable(f"table {table} has no column {', '.join(missing)}")

    def pick(self, table: str, *candidates: str, required: bool = True) -> str | None:
        """The first of ``candidates`` that ``table`` has (column names differ between warehouse versions)."""
        cols = self.tables.get(table, [])
        for c in candidates:
            if c in cols:
                return c
        if required:
            raise Unavailable(f"table {table} has none of the columns {', '.join(candidates)}")
        return None

    def df(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        try:
            return self.con.execute(sql, params or []).df()
        except (duckdb.CatalogException, duckdb.BinderException) as exc:
            raise Unavailable(str(exc).splitlines()[0]) from exc

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        try:
            row = self.con.execute(sql, params or []).fetchone()
        except (duckdb.CatalogException, duckdb.BinderException) as exc:
            raise Unavailable(str(exc).splitlines()[0]) from exc
        return row[0] if row else None


def _bounds(week: IsoWeek) -> list[Any]:
    return [week.start, week.end]


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
    if not wh.has("stg_posts", "created_at"):
        return 0
    return int(
        wh.scalar("select count(*) from stg_posts where created_at >= ? and created_at < ?", _bounds(week))
    )


def latest_week_with_data(wh: Warehouse, before: IsoWeek) -> IsoWeek | None:
    """The latest ISO week before ``before`` (exclusive) that has items."""
    if not wh.has("stg_posts", "created_at"):
        return None
    latest = wh.scalar("select max(created_at) from stg_posts where created_at < ?", [before.start])
    return IsoWeek.of(pd.Timestamp(latest).to_pydatetime()) if latest is not None else None


def data_span(wh: Warehouse) -> tuple[Any, Any]:
    if not wh.has("stg_posts", "created_at"):
        return None, None
    row = wh.con.execute("select min(created_at), max(created_at) from stg_posts").fetchone()
    return (row[0], row[1]) if row else (None, None)


# ------------------------------------------------------------------------------------------- at a glance
def posts_table(wh: Warehouse) -> str:
    """``int_posts`` (stg_posts with detected communities filled in) when the warehouse has it, else
    stg_posts."""
    return "int_posts" if wh.has("int_posts", "post_id", "community", "created_at") else "stg_posts"


_TREND_COLUMNS = (
    "platform",
    "community",
    "iso_week",
    "items",
    "posts",
    "comments",
    "shares",
    "unique_authors",
    "cascades",
    "escaped_cascades",
    "median_depth",
    "p90_depth",
)


def volume(wh: Warehouse, week: IsoWeek) -> dict[str, pd.DataFrame]:
    """Items by platform and community this week and the week before, and daily items per platform.

    Read from fct_weekly_trends when the warehouse has it (the analysts' table: same definitions, detected
    communities included); older warehouses fall back to counting stg_posts and fct_item_spread.
    """
    posts = posts_table(wh)
    wh.require(posts, "platform", "community", "kind", "author_id", "created_at", "post_id")
    prev = week.shift(-1)
    bounds = {"prev_start": prev.start, "cur_start": week.start, "cur_end": week.end}
    if wh.has("fct_weekly_trends", *_TREND_COLUMNS):
        by_community = wh.df(
            f"""
            with t as (
                select platform, coalesce(community, '{NO_COMMUNITY}') as community, iso_week, items, posts,
                       comments, shares, unique_authors, cascades, escaped_cascades, median_depth, p90_depth
                from fct_weekly_trends
                where iso_week in ($cur, $prev)
            )
            select platform, community,
                   coalesce(sum(items) filter (where iso_week = $cur), 0) as items,
                   coalesce(sum(posts) filter (where iso_week = $cur), 0) as posts,
                   coalesce(sum(comments) filter (where iso_week = $cur), 0) as comments,
                   coalesce(sum(shares) filter (where iso_week = $cur), 0) as shares,
                   coalesce(sum(unique_authors) filter (where iso_week = $cur), 0) as unique_authors,
                   coalesce(sum(cascades) filter (where iso_week = $cur), 0) as roots,
                   coalesce(sum(escaped_cascades) filter (where iso_week = $cur), 0) as escaped_roots,
                   max(median_depth) filter (where iso_week = $cur) as median_depth,
                   max(p90_depth) filter (where iso_week = $cur) as p90_depth,
                   coalesce(sum(items) filter (where iso_week = $prev), 0) as items_prev_week,
                   coalesce(sum(unique_authors) filter (where iso_week = $prev), 0)
                       as unique_authors_prev_week,
                   coalesce(sum(cascades) filter (where iso_week = $prev), 0) as roots_prev_week,
                   coalesce(sum(escaped_cascades) filter (where iso_week = $prev), 0)
                       as escaped_roots_prev_week
            from t
            group by platform, community
            having sum(items) > 0 or sum(cascades) > 0
            order by items desc, items_prev_week desc, platform, community
            """,
            {"cur": week.label, "prev": prev.label},
        )
        for col in by_community.columns:
            if col not in ("platform", "community", "median_depth", "p90_depth"):
                by_community[col] = by_community[col].astype("int64")
    else:
        by_community = wh.df(
            f"""
            with items as (
                select platform, coalesce(community, '{NO_COMMUNITY}') as community, kind, author_id, post_id,
                       created_at >= $cur_start as is_current
                from {posts}
                where created_at >= $prev_start and created_at < $cur_end
            ),
            agg as (
                select platform, community,
                       count(*) filter (where is_current) as items,
                       count(*) filter (where is_current and kind = 'post') as posts,
                       count(*) filter (where is_current and kind = 'comment') as comments,
                       count(*) filter (where is_current and kind = 'share') as shares,
                       count(distinct author_id) filter (where is_current) as unique_authors,
                       count(*) filter (where not is_current) as items_prev_week,
                       count(distinct author_id) filter (where not is_current) as unique_authors_prev_week
                from items
                group by platform, community
            )
            select * from agg
            order by items desc, items_prev_week desc, platform, community
            """,
            bounds,
        )
        escaped = _escaped_by_community(wh, week)
        if escaped is not None:
            by_community = by_community.merge(escaped, on=["platform", "community"], how="left")
            for col in ("roots", "escaped_roots", "roots_prev_week", "escaped_roots_prev_week"):
                by_community[col] = by_community[col].fillna(0).astype("int64")
    by_community["items_change_pct"] = pct_change(by_community["items"], by_community["items_prev_week"])

    sum_cols = [
        c
        for c in by_community.columns
        if c
        not in (
            "platform",
            "community",
            "items_change_pct",
            "median_depth",
            "p90_depth",
            "unique_authors",
            "unique_authors_prev_week",
        )
    ]
    by_platform = by_community.groupby("platform", as_index=False, sort=True)[sum_cols].sum()
    # distinct authors do not add up over communities: count them again per platform
    authors = wh.df(
        f"""
        select platform,
               count(distinct author_id) filter (where created_at >= $cur_start) as unique_authors,
               count(distinct author_id) filter (where created_at < $cur_start) as unique_authors_prev_week
        from {posts}
        where created_at >= $prev_start and created_at < $cur_end
        group by platform
        """,
        bounds,
    )
    by_platform = by_platform.merge(authors, on="platform", how="left")
    for col in ("unique_authors", "unique_authors_prev_week"):
        by_platform[col] = by_platform[col].fillna(0).astype("int64")
    by_platform["items_change_pct"] = pct_change(by_platform["items"], by_platform["items_prev_week"])
    by_platform = by_platform.sort_values(["items", "platform"], ascending=[False, True], kind="mergesort")

    daily = wh.df(
        f"""
        select cast(created_at at time zone 'UTC' as date) as date, platform, count(*) as items
        from {posts}
        where created_at >= $prev_start and created_at < $cur_end
        group by all
        order by date, platform
        """,
        {"prev_start": prev.start, "cur_end": week.end},
    )
    return {
        "volume_by_platform": by_platform.reset_index(drop=True),
        "volume_by_community": by_community.reset_index(drop=True),
        "volume_daily": daily,
    }


def _escaped_by_community(wh: Warehouse, week: IsoWeek) -> pd.DataFrame | None:
    if not wh.has("fct_item_spread", "platform", "origin_community", "iso_week", "escaped"):
        return None
    prev = week.shift(-1)
    return wh.df(
        f"""
        select platform, coalesce(origin_community, '{NO_COMMUNITY}') as community,
               count(*) filter (where iso_week = $cur) as roots,
               count(*) filter (where iso_week = $cur and escaped) as escaped_roots,
               count(*) filter (where iso_week = $prev) as roots_prev_week,
               count(*) filter (where iso_week = $prev and escaped) as escaped_roots_prev_week
        from fct_item_spread
        where iso_week in ($cur, $prev)
        group by all
        """,
        {"cur": week.label, "prev": prev.label},
    )


def headline(tables: dict[str, pd.DataFrame], wh: Warehouse, week: IsoWeek) -> pd.DataFrame:
    """The few numbers at the top of the report, this week and the week before."""
    plat = tables["volume_by_platform"]
    comm = tables["volume_by_community"]
    prev = week.shift(-1)
    authors = wh.df(
        """
        select count(distinct author_id) filter (where created_at >= $cur_start) as cur,
               count(distinct author_id) filter (where created_at < $cur_start) as prev
        from stg_posts where created_at >= $prev_start and created_at < $cur_end
        """,
        {"prev_start": prev.start, "cur_start": week.start, "cur_end": week.end},
    ).iloc[0]
    rows: list[tuple[str, float, float]] = [
        ("items", plat["items"].sum(), plat["items_prev_week"].sum()),
        ("posts", plat["posts"].sum(), np.nan),
        ("comments", plat["comments"].sum(), np.nan),
        ("shares", plat["shares"].sum(), np.nan),
        ("active authors", authors["cur"], authors["prev"]),
        ("active communities", (comm["items"] > 0).sum(), (comm["items_prev_week"] > 0).sum()),
    ]
    if "escaped_roots" in plat.columns:
        roots, roots_prev = plat["roots"].sum(), plat["roots_prev_week"].sum()
        esc, esc_prev = plat["escaped_roots"].sum(), plat["escaped_roots_prev_week"].sum()
        rows.append(("escaped items", esc, esc_prev))
        rows.append(
            (
                "escape rate (%)",
                esc / roots * 100 if roots else np.nan,
                esc_prev / roots_prev * 100 if roots_prev else np.nan,
            )
        )
    out = pd.DataFrame(rows, columns=["metric", "this_week", "previous_week"])
    out["this_week"] = out["this_week"].astype(float)
    out["previous_week"] = out["previous_week"].astype(float)
    out["change_pct"] = [
        np.nan if m == "escape rate (%)" else pct_change(c, p)
        for m, c, p in zip(out["metric"], out["this_week"], out["previous_week"], strict=True)
    ]
    return out


# ------------------------------------------------------------------------------------------- escaped items
def escaped_items(wh: Warehouse, week: IsoWeek, *, with_author_names: bool) -> dict[str, pd.DataFrame]:
    wh.require(
        "fct_item_spread",
        "root_id",
        "platform",
        "origin_community",
        "iso_week",
        "size",
        "depth",
        "engagers",
        "outsider_engagers",
        "outsider_share",
        "communities_reached",
        "escaped",
    )
    entropy = "s.community_entropy" if wh.has("fct_item_spread", "community_entropy") else "null::double"
    items = wh.df(
        f"""
        select s.root_id, s.platform, s.origin_community,
               {"s.root_created_at" if wh.has("fct_item_spread", "root_created_at") else "null::timestamptz"}
                   as root_created_at,
               s.size, s.depth, s.engagers, s.outsider_engagers, s.outsider_share, s.communities_reached,
               {entropy} as community_entropy
        from fct_item_spread as s
        where s.iso_week = ? and s.escaped
        order by s.outsider_engagers desc, s.communities_reached desc, s.size desc, s.root_id
        """,
        [week.label],
    )
    items.insert(0, "rank", np.arange(1, len(items) + 1, dtype="int64"))
    roots = items["root_id"].tolist()

    if wh.has("stg_posts", "post_id", "title", "text"):
        author = ", p.author_name" if with_author_names and wh.has("stg_posts", "author_name") else ""
        posts = _for_ids(
            wh, f"select p.post_id as root_id, p.title, p.text, p.url{author} from stg_posts as p", roots
        )
        posts["title"] = [
            _snippet(t if isinstance(t, str) and t.strip() else x)
            for t, x in zip(posts["title"], posts["text"], strict=True)
        ]
        posts = posts.drop(columns=["text"])
        items = items.merge(posts, on="root_id", how="left")

    if wh.has("fct_cascades"):
        root_col = wh.pick("fct_cascades", "root_id", "root_post_id", "post_id")
        timing = sorted(
            (c for c in wh.tables["fct_cascades"] if re.fullmatch(r"minutes_to_(depth|size)_\d+", c)),
            key=lambda c: (c.split("_")[2], int(c.rsplit("_", 1)[1])),
        )
        if timing:
            cols = ", ".join(f"c.{c}" for c in timing)
            speed = _for_ids(
                wh, f"select c.{root_col} as root_id, {cols} from fct_cascades as c", roots, "c." + root_col
            )
            items = items.merge(speed, on="root_id", how="left")

    if wh.has("fct_affect", "post_id", *AFFECT_MEASURES[:2]):
        affect_cols = [c for c in (*AFFECT_MEASURES, *EMOTIONS) if wh.has("fct_affect", c)]
        affect = _for_ids(
            wh,
            f"select a.post_id as root_id, {', '.join('a.' + c for c in affect_cols)} from fct_affect as a",
            roots,
            "a.post_id",
        )
        emo = [c for c in EMOTIONS if c in affect.columns]
        affect["top_emotions"] = [_top_emotions(row) for row in affect[emo].to_dict("records")] if emo else ""
        items = items.merge(affect, on="root_id", how="left")

    if wh.has("fct_item_drivers", "root_id", "feature", "contribution", "rank"):
        drivers = _for_ids(
            wh,
            "select d.root_id, d.feature, d.contribution, d.rank from fct_item_drivers as d",
            roots,
            "d.root_id",
        ).sort_values(["root_id", "rank", "feature"], kind="mergesort")
        top = _join_per_root(
            drivers[drivers["rank"] <= 3],
            "top_drivers",
            lambda g: ", ".join(
                f"{f} ({c:+.2f})" for f, c in zip(g["feature"], g["contribution"], strict=True)
            ),
        )
        items = items.merge(top, on="root_id", how="left")

    destinations, reached = _destinations(wh, items)
    if reached is not None:
        items = items.merge(reached, on="root_id", how="left")
    items = items.sort_values("rank", kind="mergesort").reset_index(drop=True)
    return {"escaped_items": items, "escape_destinations": destinations}


def _join_per_root(df: pd.DataFrame, name: str, text: Callable[[pd.DataFrame], str]) -> pd.DataFrame:
    """One row per root_id with ``text(rows of that root)`` (rows keep their order)."""
    roots, texts = [], []
    for root, group in df.groupby("root_id", sort=True):
        roots.append(root)
        texts.append(text(group))
    return pd.DataFrame({"root_id": pd.Series(roots, dtype="str"), name: pd.Series(texts, dtype="str")})


def _for_ids(wh: Warehouse, select_sql: str, ids: list[str], key: str = "p.post_id") -> pd.DataFrame:
    """Run ``select_sql`` restricted to ``key in ids`` (ids passed as a list parameter, never inlined)."""
    return wh.df(f"{select_sql} where list_contains(?::varchar[], {key}) order by {key}", [ids])


def _snippet(text: Any, limit: int = 140) -> str:
    if not isinstance(text, str):
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _top_emotions(row: dict[str, Any], n: int = 2) -> str:
    scored = [(v, k) for k, v in row.items() if isinstance(v, float) and not math.isnan(v) and v > 0]
    scored.sort(key=lambda t: (-t[0], t[1]))
    return ", ".join(f"{k.removeprefix('nrc_')} {v:.2f}" for v, k in scored[:n])


def _destinations(wh: Warehouse, items: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Walk each escaped cascade (tree parent = parent_id, else shared_id) and count where its items were
    posted.

    Destination communities are the communities of cascade items other than the origin community.
    """
    empty = pd.DataFrame(
        {
            "platform": pd.Series(dtype="str"),
            "origin_community": pd.Series(dtype="str"),
            "destination_community": pd.Series(dtype="str"),
            "escaped_items": pd.Series(dtype="int64"),
            "items_posted": pd.Series(dtype="int64"),
        }
    )
    posts = posts_table(wh)
    if items.empty or not wh.has(posts, "post_id", "parent_id", "shared_id", "community"):
        return empty, None
    nodes = wh.df(
        f"""
        with recursive
        roots as (select unnest(?::varchar[]) as root_id),
        children as (
            select post_id, coalesce(parent_id, shared_id) as tree_parent_id
            from {posts}
            where coalesce(parent_id, shared_id) is not null and coalesce(parent_id, shared_id) <> post_id
        ),
        walk (root_id, post_id, depth) as (
            select root_id, root_id, 0 from roots
            union all
            select w.root_id, c.post_id, w.depth + 1
            from walk as w
            inner join children as c on c.tree_parent_id = w.post_id
            where w.depth < {MAX_WALK_DEPTH}
        )
        select w.root_id, coalesce(p.community, '{NO_COMMUNITY}') as community,
               count(distinct w.post_id) as items
        from walk as w
        inner join {posts} as p on p.post_id = w.post_id
        where w.depth > 0
        group by all
        order by w.root_id, items desc, community
        """,
        [items["root_id"].tolist()],
    )
    origin = items[["root_id", "platform", "origin_community"]].copy()
    origin["origin_community"] = origin["origin_community"].fillna(NO_COMMUNITY)
    nodes = nodes.merge(origin, on="root_id", how="inner")
    away = nodes[nodes["community"] != nodes["origin_community"]]
    if away.empty:
        reached = pd.DataFrame({"root_id": items["root_id"], "where_it_went": ""})
        return empty, reached
    away = away.sort_values(
        ["root_id", "items", "community"], ascending=[True, False, True], kind="mergesort"
    )
    reached = _join_per_root(
        away,
        "where_it_went",
        lambda g: ", ".join(f"{c} ({n})" for c, n in zip(g["community"], g["items"], strict=True)),
    )
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
    return dest, reached


def escaped_affect_profile(wh: Warehouse, week: IsoWeek) -> pd.DataFrame:
    """Mean affect of the week's roots that escaped vs those that did not."""
    wh.require("fct_item_spread", "root_id", "iso_week", "escaped")
    wh.require("fct_affect", "post_id")
    measures = [c for c in (*AFFECT_MEASURES, *EMOTIONS) if wh.has("fct_affect", c)]
    if not measures:
        raise Unavailable("fct_affect has no affect columns")
    means = ", ".join(
        f"avg(a.{m}) filter (where s.escaped) as {m}__escaped, avg(a.{m}) filter (where not s.escaped) as "
        f"{m}__other"
        for m in measures
    )
    row = wh.df(
        f"""
        select count(a.post_id) filter (where s.escaped) as n__escaped,
               count(a.post_id) filter (where not s.escaped) as n__other, {means}
        from fct_item_spread as s
        inner join fct_affect as a on a.post_id = s.root_id
        where s.iso_week = ?
        """,
        [week.label],
    ).iloc[0]
    out = pd.DataFrame(
        {
            "measure": measures,
            "escaped_mean": [row[f"{m}__escaped"] for m in measures],
            "other_mean": [row[f"{m}__other"] for m in measures],
        }
    )
    out["escaped_mean"] = out["escaped_mean"].astype(float)
    out["other_mean"] = out["other_mean"].astype(float)
    out["difference"] = out["escaped_mean"] - out["other_mean"]
    out["escaped_roots"] = int(row["n__escaped"])
    out["other_roots"] = int(row["n__other"])
    return out


# ------------------------------------------------------------------------------------------- drivers
def spread_drivers(wh: Warehouse) -> pd.DataFrame:
    wh.require("fct_spread_drivers", "fit_scope", "fit_key", "term", "odds_ratio_per_sd", "ci_low", "ci_high")
    optional = [
        c
        for c in ("term_kind", "scale", "p_value", "n", "n_escaped", "status", "note")
        if wh.has("fct_spread_drivers", c)
    ]
    cols = ", ".join(["fit_scope", "fit_key", "term", "odds_ratio_per_sd", "ci_low", "ci_high", *optional])
    return wh.df(f"select {cols} from fct_spread_drivers order by fit_scope, fit_key nulls first, term")


_INTERCEPTS = ("intercept", "const", "(intercept)")


def per_sd_terms(drivers: pd.DataFrame) -> pd.DataFrame:
    """Terms whose odds ratio is per standard deviation (no intercept, no 0/1 indicators such as weekdays)."""
    rows = drivers[~drivers["term"].str.lower().isin(_INTERCEPTS)]
    if "scale" in rows.columns:
        rows = rows[rows["scale"].fillna("per_sd") == "per_sd"]
    return rows


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
def _overlap_columns(wh: Warehouse) -> dict[str, str]:
    t = "fct_community_overlap"
    wh.require(t)
    return {
        "week": wh.pick(t, "iso_week", "week", "week_start"),
        "platform": wh.pick(t, "platform"),
        "a": wh.pick(t, "community_a", "community_1", "community_x", "source_community", "a_community"),
        "b": wh.pick(t, "community_b", "community_2", "community_y", "target_community", "b_community"),
        "shared": wh.pick(t, "shared_members", "shared", "n_shared"),
        "jaccard": wh.pick(t, "jaccard"),
        "overlap": wh.pick(t, "overlap_coefficient", "overlap_coef", "overlap", required=False) or "null",
        "lift": wh.pick(t, "lift"),
        "npmi": wh.pick(t, "npmi"),
    }


def community_overlap(wh: Warehouse, week: IsoWeek, top: int = 30) -> dict[str, pd.DataFrame]:
    c = _overlap_columns(wh)
    week_col = c["week"]
    if week_col == "week_start":
        week_expr = "strftime(cast(week_start as date), '%G-W%V')"
    else:
        week_expr = week_col
    # pairs are unordered: put the two names in a fixed order so that this week and last week line up
    base = f"""
        select {week_expr} as iso_week, {c["platform"]} as platform,
               least({c["a"]}, {c["b"]}) as community_a, greatest({c["a"]}, {c["b"]}) as community_b,
               {c["shared"]} as shared_members, {c["jaccard"]} as jaccard,
               {c["overlap"]} as overlap_coefficient,
               {c["lift"]} as lift, {c["npmi"]} as npmi
        from fct_community_overlap
    """
    cur = wh.df(f"select * from ({base}) where iso_week = ?", [week.label])
    prev = wh.df(f"select * from ({base}) where iso_week = ?", [week.shift(-1).label])
    cur = cur.drop(columns=["iso_week"]).drop_duplicates(["platform", "community_a", "community_b"])
    prev = prev.drop(columns=["iso_week"]).drop_duplicates(["platform", "community_a", "community_b"])
    top_pairs = cur.sort_values(
        ["lift", "npmi", "shared_members", "platform", "community_a", "community_b"],
        ascending=[False, False, False, True, True, True],
        kind="mergesort",
        na_position="last",
    ).head(top)

    key = ["platform", "community_a", "community_b"]
    both = cur.merge(prev, on=key, how="outer", suffixes=("", "_prev_week"), indicator=True)
    both["status"] = (
        both["_merge"]
        .map({"both": "both weeks", "left_only": "new this week", "right_only": "gone this week"})
        .astype(str)
    )
    both = both.drop(columns=["_merge"])
    both["lift_change"] = both["lift"] - both["lift_prev_week"]
    both["npmi_change"] = both["npmi"] - both["npmi_prev_week"]
    both["abs_npmi_change"] = both["npmi_change"].abs()
    changes = both[both["status"] == "both weeks"].sort_values(
        ["abs_npmi_change", "platform", "community_a", "community_b"],
        ascending=[False, True, True, True],
        kind="mergesort",
    )
    changes = changes[
        [
            *key,
            "shared_members",
            "shared_members_prev_week",
            "lift",
            "lift_prev_week",
            "lift_change",
            "npmi",
            "npmi_prev_week",
            "npmi_change",
        ]
    ].head(20)
    counts = pd.DataFrame(
        {
            "status": ["both weeks", "new this week", "gone this week"],
            "pairs": [
                int((both["status"] == s).sum()) for s in ("both weeks", "new this week", "gone this week")
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
    wh.require("fct_cascades", "size", "depth")
    root = wh.pick("fct_cascades", "root_id", "root_post_id", "post_id")
    complete = "c.is_complete" if wh.has("fct_cascades", "is_complete") else "null::boolean"
    missing = "c.missing_parents" if wh.has("fct_cascades", "missing_parents") else "null::bigint"
    if wh.has("fct_cascades", "iso_week", "platform"):
        rows = wh.df(
            f"""
            select c.platform, c.{root} as root_id, c.size, c.depth,
                   {complete} as is_complete, {missing} as missing_parents
            from fct_cascades as c
            where c.iso_week = ?
            order by c.platform, c.{root}
            """,
            [week.label],
        )
    else:
        wh.require("stg_posts", "post_id", "platform", "created_at")
        rows = wh.df(
            f"""
            select p.platform, c.{root} as root_id, c.size, c.depth,
                   {complete} as is_complete, {missing} as missing_parents
            from fct_cascades as c
            inner join stg_posts as p on p.post_id = c.{root}
            where p.created_at >= ? and p.created_at < ?
            order by p.platform, c.{root}
            """,
            _bounds(week),
        )
    ccdf_parts = []
    for platform, group in rows.groupby("platform", sort=True):
        for metric in ("size", "depth"):
            ccdf_parts.append(ccdf(group[metric], platform=str(platform), metric=metric))
    ccdf_df = (
        pd.concat(ccdf_parts, ignore_index=True)
        if ccdf_parts
        else pd.DataFrame(columns=["platform", "metric", "value", "cascades_at_least", "ccdf"])
    )
    summary_rows = []
    for platform, g in rows.groupby("platform", sort=True):
        summary_rows.append(
            {
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
        )
    summary = pd.DataFrame(summary_rows)
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
    wh.require("fct_affect", "created_at")
    measures = [c for c in (*AFFECT_MEASURES, *EMOTIONS) if wh.has("fct_affect", c)]
    if not measures:
        raise Unavailable("fct_affect has no affect columns")
    start = week.shift(-BASELINE_WEEKS).start
    avg = ", ".join(f"avg({m}) as {m}" for m in measures)
    daily = wh.df(
        f"""
        select cast(created_at at time zone 'UTC' as date) as date, count(*) as items, {avg}
        from fct_affect
        where created_at >= ? and created_at < ?
        group by all
        order by date
        """,
        [start, week.end],
    )
    cnt = ", ".join(
        f"avg({m}) filter (where created_at >= $cur) as {m}__week, "
        f"avg({m}) filter (where created_at < $cur) as {m}__base"
        for m in measures
    )
    row = wh.df(
        f"""
        select count(*) filter (where created_at >= $cur) as n__week,
               count(*) filter (where created_at < $cur) as n__base, {cnt}
        from fct_affect where created_at >= $start and created_at < $end
        """,
        {"cur": week.start, "start": start, "end": week.end},
    ).iloc[0]
    compare = pd.DataFrame(
        {
            "measure": measures,
            "week_mean": [
                float(row[f"{m}__week"]) if row[f"{m}__week"] is not None else np.nan for m in measures
            ],
            "baseline_mean": [
                float(row[f"{m}__base"]) if row[f"{m}__base"] is not None else np.nan for m in measures
            ],
        }
    )
    compare["change"] = compare["week_mean"] - compare["baseline_mean"]
    compare["week_items"] = int(row["n__week"])
    compare["baseline_items"] = int(row["n__base"])
    return {"affect_daily": daily, "affect_week_vs_baseline": compare}


# ------------------------------------------------------------------------------------------- trending terms
def term_counts(wh: Warehouse, week: IsoWeek) -> dict[str, pd.DataFrame]:
    """Occurrences of words, hashtags and link domains in the report week and in the baseline weeks before it.

    Words: title and text, lower-cased, URLs and @handles removed, tokens that start with a letter (any
    script), a leading '#' stripped. Hashtags: tokens with the '#'. Domains: host names of the url column and
    of links in the text, lower-cased, without a leading ``www.``.
    """
    wh.require("stg_posts", "created_at", "title", "text", "url")
    bounds = {"cur": week.start, "start": week.shift(-BASELINE_WEEKS).start, "end": week.end}
    texts = """
        select created_at >= $cur as in_week,
               lower(concat_ws(' ', title, text)) as body, url
        from stg_posts
        where created_at >= $start and created_at < $end
    """
    tokens = wh.df(
        f"""
        with texts as ({texts}),
        cleaned as (
            select in_week,
                   regexp_replace(regexp_replace(body, $url_re, ' ', 'g'), $handle_re, ' ', 'g') as body
            from texts
        ),
        tokens as (select in_week, unnest(regexp_extract_all(body, $token_re)) as token from cleaned)
        select token,
               count(*) filter (where in_week) as count_week,
               count(*) filter (where not in_week) as count_baseline
        from tokens group by token order by token
        """,
        {**bounds, "url_re": URL_RE, "handle_re": HANDLE_RE, "token_re": TOKEN_RE},
    )
    out: dict[str, pd.DataFrame] = {}
    words = tokens.assign(term=tokens["token"].str.lstrip("#"))
    out["terms"] = (
        words.groupby("term", as_index=False, sort=True)[["count_week", "count_baseline"]].sum()
        if not words.empty
        else pd.DataFrame(columns=["term", "count_week", "count_baseline"])
    )
    tags = tokens[tokens["token"].str.startswith("#")].rename(columns={"token": "term"})
    out["hashtags"] = tags.reset_index(drop=True)
    out["domains"] = wh.df(
        f"""
        with texts as ({texts}),
        links as (
            select in_week, unnest(regexp_extract_all(body, $domain_re, 1)) as host from texts
            union all
            select in_week, regexp_extract(lower(url), $domain_re, 1) as host from texts where url is not null
        )
        select regexp_replace(host, '^www[.]', '') as term,
               count(*) filter (where in_week) as count_week,
               count(*) filter (where not in_week) as count_baseline
        from links where host <> '' group by 1 order by 1
        """,
        {**bounds, "domain_re": DOMAIN_RE},
    )
    return out


def fightin_words(
    counts: pd.DataFrame, *, prior_scale: float = PRIOR_SCALE, min_count: int = MIN_TERM_COUNT, top: int = 25
) -> pd.DataFrame:
    """Log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008), week vs baseline.

    ``counts`` has term, count_week, count_baseline. The informative prior is the terms' counts in both
    periods together (the background corpus), scaled by ``prior_scale``: α_w = prior_scale · (y_w,week +
    y_w,base), α0 = Σ α_w. Then δ_w = log((y_wi + α_w) / (n_i + α0 − y_wi − α_w)) − log((y_wj + α_w) / (n_j +
    α0 − y_wj − α_w)), Var(δ_w) ≈ 1/(y_wi + α_w) + 1/(y_wj + α_w), z_w = δ_w / sqrt(Var). Returns the ``top``
    terms by z among those seen at least ``min_count`` times this week and with z > 0 (over-represented this
    week).
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
    out = out[(out["count_week"] >= min_count) & (out["z"] > 0)]
    out = out.sort_values(["z", "count_week", "term"], ascending=[False, False, True], kind="mergesort")
    return out.head(top).reset_index(drop=True)[cols]


# ------------------------------------------------------------------------------------------- data quality
_WINDOW_KEY = r"(\d{8}T\d{6}Z)-(\d{8}T\d{6}Z)$"


def quality(wh: Warehouse, week: IsoWeek) -> dict[str, pd.DataFrame]:
    """Quarantined records (by source and reason) and the nightly runs whose window overlaps the week."""
    out: dict[str, pd.DataFrame] = {}
    wh.require("stg_quarantine", "source", "run_id", "reason_kind")
    # an ingest run id ends with its window (<since>-<until>); imports carry a label instead and have no week
    out["quality_quarantine"] = wh.df(
        f"""
        with q as (
            select source, reason_kind,
                   try_strptime(regexp_extract(run_id, '{_WINDOW_KEY}', 1), '%Y%m%dT%H%M%SZ') as since,
                   try_strptime(regexp_extract(run_id, '{_WINDOW_KEY}', 2), '%Y%m%dT%H%M%SZ') as until
            from stg_quarantine
        )
        select source, reason_kind,
               count(*) filter (where since < $end and until > $start) as records_this_week,
               count(*) as records_all_time
        from q
        group by all
        order by records_this_week desc, records_all_time desc, source, reason_kind
        """,
        {"start": week.start.replace(tzinfo=None), "end": week.end.replace(tzinfo=None)},
    )
    return out


def quality_runs(wh: Warehouse, week: IsoWeek) -> pd.DataFrame:
    wh.require("stg_runs", "run_id", "since", "until", "status")
    optional = [
        c
        for c in ("started_at", "finished_at", "rows", "quarantined", "failed_sources", "resumed")
        if wh.has("stg_runs", c)
    ]
    cols = ", ".join(["run_id", "since", "until", "status", *optional])
    runs = wh.df(
        f"""
        select {cols} from stg_runs
        where cast(since as timestamptz) < ? and cast(until as timestamptz) > ?
        order by since, run_id
        """,
        [week.end, week.start],
    )
    if "failed_sources" in runs.columns:
        runs["failed_sources"] = [_failed_text(v) for v in runs["failed_sources"]]
    return runs


def _failed_text(value: Any) -> str:
    """failed_sources is a JSON object source -> message; render it as 'source: message; ...'."""
    import json

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


def week_window(week: IsoWeek) -> tuple[Any, Any]:
    return week.start, week.end - timedelta(microseconds=1)
