"""A small, seeded warehouse for the report tests: the tables the report reads, built directly in DuckDB.

It does not run the SQL models, so the report tests do not depend on the marts. The cascade trees are real
(replies and shares with parent_id / shared_id), and fct_cascades / fct_item_spread are computed from them,
so the
report's own walk of "where items went" can be checked against an independent computation.

Imported by tests/unit/test_report.py and tests/e2e/test_report_browser.py (by path); it holds no tests
itself.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

XSS = "<script>alert(1)</script>"
XSS_COMMUNITY = f"c/{XSS}"
REAL_NAME = "Alice Realname"
REPORT_WEEK = "2026-W10"  # Mon 2026-03-02 .. Sun 2026-03-08
FIRST_DAY = datetime(2026, 1, 26, tzinfo=UTC)  # Monday of 2026-W05
DAYS = 42  # 2026-W05 .. 2026-W10
COMMUNITIES = ["c/alpha", "c/beta", "c/gamma", "c/delta", "c/epsilon"]
WORDS = [
    "river",
    "garden",
    "engine",
    "market",
    "teacher",
    "window",
    "planet",
    "coffee",
    "ticket",
    "signal",
    "bridge",
    "museum",
    "forest",
    "camera",
    "pencil",
]
EMOTIONS = ["anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust"]


@dataclass
class Built:
    path: Path
    posts: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)


def build_warehouse(path: Path, *, xss: bool = False, seed: int = 7, tables: set[str] | None = None) -> Built:
    """Write a warehouse to ``path``. ``tables`` limits which tables are created (default: all)."""
    rng = random.Random(seed)
    communities = [*COMMUNITIES, XSS_COMMUNITY] if xss else list(COMMUNITIES)
    users = [f"u{i:03d}" for i in range(120)]
    home = {u: communities[i % len(communities)] for i, u in enumerate(users)}
    posts: list[dict[str, Any]] = []
    roots: list[str] = []
    report_monday = datetime(2026, 3, 2, tzinfo=UTC)

    def add(**kw: Any) -> dict[str, Any]:
        row = {
            "platform": "demo",
            "kind": "post",
            "share_type": None,
            "community": None,
            "author_id": None,
            "author_name": None,
            "parent_id": None,
            "root_id": None,
            "shared_id": None,
            "title": None,
            "text": None,
            "url": None,
            "lang": "en",
            "score": 1,
            "reply_count": 0,
            "share_count": 0,
            "is_deleted": False,
            "is_removed": False,
        }
        row.update(kw)
        posts.append(row)
        return row

    n = 0
    for day in range(DAYS):
        day_start = FIRST_DAY + timedelta(days=day)
        in_report_week = day_start >= report_monday
        for k in range(8 + (day % 3)):
            n += 1
            author = rng.choice(users)
            community = home[author] if rng.random() < 0.8 else rng.choice(communities)
            created = day_start + timedelta(hours=rng.randint(0, 20), minutes=rng.randint(0, 59))
            words = rng.sample(WORDS, 4)
            if in_report_week and k % 2 == 0:
                words += ["eclipse", "eclipse"]  # the trending word of the report week
            tag = " #eclipse" if in_report_week and k % 3 == 0 else (" #weekly" if k % 4 == 0 else "")
            link = rng.choice(["https://www.example.org/a", "https://news.example.com/b?x=1", None])
            if in_report_week and k == 1:
                link = "https://eclipse.example.net/live"
            root_id = f"demo:r{n:05d}"
            title = f"About the {words[0]} {words[1]}"
            text = " ".join(words) + tag + (f" see {link}" if link and k % 2 else "")
            name = REAL_NAME if n == 1 else f"name of {author}"
            if xss and in_report_week and day == DAYS - 3 and k == 0:
                community = XSS_COMMUNITY
                title = f"{XSS} headline"
                text = f'{XSS} and <img src=x onerror="alert(2)"> inside'
                name = REAL_NAME
            add(
                post_id=root_id,
                root_id=root_id,
                community=community,
                author_id=author,
                author_name=name,
                created_at=created,
                title=title,
                text=text,
                url=link if k % 2 == 0 else None,
            )
            roots.append(root_id)
            # a reply tree in the origin community
            nodes = [(root_id, root_id, created)]
            for r in range(rng.choice([0, 0, 1, 2, 3, 5, 8, 13])):
                parent_id, thread_root, parent_time = rng.choice(nodes)
                pid = f"{root_id}c{r:02d}"
                t = parent_time + timedelta(minutes=rng.randint(3, 240))
                add(
                    post_id=pid,
                    kind="comment",
                    community=community,
                    author_id=rng.choice(users),
                    parent_id=parent_id,
                    root_id=thread_root,
                    created_at=t,
                    text=rng.choice(
                        ["Good point.", "I disagree.", "Source?", f"The {rng.choice(WORDS)} again"]
                    ),
                )
                nodes.append((pid, thread_root, t))
            # escape: shares into other communities, with replies there
            escape = rng.random() < 0.25 or (xss and community == XSS_COMMUNITY)
            if escape:
                others = [c for c in communities if c != community]
                for s, target in enumerate(rng.sample(others, rng.choice([1, 1, 2, 3]))):
                    sid = f"{root_id}s{s}"
                    t = created + timedelta(minutes=rng.randint(20, 600))
                    add(
                        post_id=sid,
                        kind="share",
                        share_type="crosspost",
                        community=target,
                        author_id=rng.choice(users),
                        shared_id=root_id,
                        root_id=sid,
                        created_at=t,
                        title=title,
                    )
                    prev = sid
                    for r in range(rng.randint(1, 4)):
                        cid = f"{sid}c{r}"
                        t = t + timedelta(minutes=rng.randint(5, 90))
                        add(
                            post_id=cid,
                            kind="comment",
                            community=target,
                            author_id=rng.choice(users),
                            parent_id=prev,
                            root_id=sid,
                            created_at=t,
                            text="Interesting share",
                        )
                        prev = cid if rng.random() < 0.5 else sid
    # an item whose parent was never fetched: its cascade is incomplete
    add(
        post_id="demo:orphan1",
        kind="comment",
        community="c/alpha",
        author_id="u001",
        parent_id="demo:missing",
        root_id="demo:missing",
        created_at=report_monday + timedelta(hours=5),
        text="orphan reply",
    )
    # a second platform without communities
    for i in range(6):
        add(
            platform="x",
            post_id=f"x:{i}",
            root_id=f"x:{i}",
            author_id=f"xu{i}",
            created_at=report_monday + timedelta(days=i % 7, hours=3),
            text=f"x post {i} #eclipse eclipse",
        )

    df = pd.DataFrame(posts)
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True)
    df["fetched_at"] = df["created_at"] + pd.Timedelta(days=1)
    df["run_id"] = "demo-test"
    df["source"] = "demo"
    df["date"] = df["created_at"].dt.date
    for col in ("score", "reply_count", "share_count"):
        df[col] = df[col].astype("int64")

    cascades, spread = _cascade_tables(df)
    affect = _affect_table(df, rng)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    con = duckdb.connect(str(path))
    con.execute("set TimeZone = 'UTC'")
    want = tables

    def create(name: str, frame: pd.DataFrame, sql: str | None = None) -> None:
        if want is not None and name not in want:
            return
        con.register("frame", frame)
        con.execute(f"create table {name} as {sql or 'select * from frame'}")
        con.unregister("frame")

    create(
        "stg_posts",
        df,
        "select * replace (cast(created_at as timestamptz) as created_at, "
        "cast(fetched_at as timestamptz) as fetched_at) from frame",
    )
    create(
        "fct_affect", affect, "select * replace (cast(created_at as timestamptz) as created_at) from frame"
    )
    create(
        "fct_cascades",
        cascades,
        "select * replace (cast(root_created_at as timestamptz) as root_created_at) from frame",
    )
    create("fct_weekly_trends", weekly_trends(df, spread))
    create(
        "fct_item_spread",
        spread,
        "select * replace (cast(root_created_at as timestamptz) as root_created_at) from frame",
    )
    create("fct_community_overlap", _overlap_table(communities, rng))
    create("dim_communities", pd.DataFrame({"platform": "demo", "community": communities}))
    create("fct_spread_drivers", _drivers_table())
    escaped_roots = spread.loc[spread["escaped"], ["root_id", "iso_week"]]
    create("fct_item_drivers", _item_drivers_table(escaped_roots))
    create("stg_quarantine", _quarantine_table())
    create(
        "stg_runs",
        _runs_table(),
        "select * replace (cast(since as timestamptz) as since, "
        "cast(until as timestamptz) as until, cast(started_at as timestamptz) as "
        "started_at, cast(finished_at as timestamptz) as finished_at) from frame",
    )
    con.close()
    return Built(path, df, {"roots": roots})


def _children(df: pd.DataFrame) -> dict[str, list[str]]:
    kids: dict[str, list[str]] = {}
    for pid, parent, shared in zip(df["post_id"], df["parent_id"], df["shared_id"], strict=True):
        tp = parent if isinstance(parent, str) else shared if isinstance(shared, str) else None
        if tp is not None and tp != pid:
            kids.setdefault(tp, []).append(pid)
    return kids


def walk(df: pd.DataFrame, root: str) -> dict[str, int]:
    """post_id -> depth of every item in the cascade of ``root`` (an independent BFS over
    parent_id/shared_id)."""
    kids = _children(df)
    depth = {root: 0}
    frontier = [root]
    while frontier:
        nxt = []
        for p in frontier:
            for c in kids.get(p, []):
                if c not in depth:
                    depth[c] = depth[p] + 1
                    nxt.append(c)
        frontier = nxt
    return depth


def _cascade_tables(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    by_id = df.set_index("post_id")
    known = set(df["post_id"])
    root_ids = [
        p
        for p, parent, shared in zip(df["post_id"], df["parent_id"], df["shared_id"], strict=True)
        if (not isinstance(parent, str) and not isinstance(shared, str))
        or (isinstance(parent, str) and parent not in known)
    ]
    kids = _children(df)
    casc, spread = [], []
    for root in root_ids:
        depth = {root: 0}
        frontier = [root]
        while frontier:
            nxt = []
            for p in frontier:
                for c in kids.get(p, []):
                    if c not in depth:
                        depth[c] = depth[p] + 1
                        nxt.append(c)
            frontier = nxt
        nodes = list(depth)
        r = by_id.loc[root]
        created = r["created_at"]
        times = sorted(by_id.loc[nodes, "created_at"])
        size = len(nodes)
        max_depth = max(depth.values())
        t_depth = {}
        for node, d in depth.items():
            t = by_id.loc[node, "created_at"]
            t_depth[d] = min(t_depth.get(d, t), t)
        complete = not (isinstance(r["parent_id"], str) and r["parent_id"] not in known)
        casc.append(
            {
                "root_id": root,
                "platform": r["platform"],
                "root_created_at": created,
                "iso_week": f"{created.isocalendar()[0]}-W{created.isocalendar()[1]:02d}",
                "size": size,
                "unique_users": by_id.loc[nodes, "author_id"].nunique(),
                "depth": max_depth,
                "thread_depth": max_depth,
                "share_depth": 1 if "s0" in "".join(nodes) else 0,
                "max_breadth": max(pd.Series(list(depth.values())).value_counts()),
                "wiener_index": float(size),
                "structural_virality": None if size == 1 else 1.5,
                "minutes_to_depth_2": (t_depth[2] - created).total_seconds() / 60 if 2 in t_depth else None,
                "minutes_to_depth_3": (t_depth[3] - created).total_seconds() / 60 if 3 in t_depth else None,
                "minutes_to_size_5": (times[4] - created).total_seconds() / 60 if size >= 5 else None,
                "minutes_to_size_10": (times[9] - created).total_seconds() / 60 if size >= 10 else None,
                "is_complete": complete,
                "missing_parents": 0 if complete else 1,
                "reshare_tree": "reconstructed",
            }
        )
        comms = by_id.loc[nodes, "community"].dropna()
        counts = comms.value_counts()
        shares = counts / counts.sum() if len(counts) else counts
        engagers = set(by_id.loc[nodes, "author_id"].dropna()) - {r["author_id"]}
        outsiders = {
            a
            for a, c in zip(by_id.loc[nodes, "author_id"], by_id.loc[nodes, "community"], strict=True)
            if a in engagers and c != r["community"]
        }
        reached = int(comms.nunique())
        spread.append(
            {
                "root_id": root,
                "platform": r["platform"],
                "origin_community": r["community"],
                "root_author_id": r["author_id"],
                "root_created_at": created,
                "iso_week": f"{created.isocalendar()[0]}-W{created.isocalendar()[1]:02d}",
                "size": size,
                "depth": max_depth,
                "engagers": len(engagers),
                "outsider_engagers": len(outsiders),
                "outsider_share": len(outsiders) / len(engagers) if engagers else 0.0,
                "communities_reached": reached,
                "community_entropy": float(-(shares * shares.map(math.log)).sum()) if len(shares) else 0.0,
                "escaped": reached > 1,
            }
        )
    return pd.DataFrame(casc), pd.DataFrame(spread)


def iso_week(ts: pd.Timestamp) -> str:
    year, week, _ = ts.isocalendar()
    return f"{year}-W{week:02d}"


def weekly_trends(df: pd.DataFrame, spread: pd.DataFrame) -> pd.DataFrame:
    """fct_weekly_trends computed with pandas: items by kind and authors per (platform, community, week)."""
    posts = df.assign(iso_week=df["created_at"].map(iso_week), community=df["community"].fillna("\x00"))
    activity = posts.groupby(["platform", "community", "iso_week"], as_index=False).agg(
        items=("post_id", "size"),
        posts=("kind", lambda k: int((k == "post").sum())),
        comments=("kind", lambda k: int((k == "comment").sum())),
        shares=("kind", lambda k: int((k == "share").sum())),
        unique_authors=("author_id", "nunique"),
    )
    sp = spread.assign(community=spread["origin_community"].fillna("\x00"))
    casc = sp.groupby(["platform", "community", "iso_week"], as_index=False).agg(
        cascades=("root_id", "size"),
        escaped_cascades=("escaped", "sum"),
        median_depth=("depth", "median"),
        p90_depth=("depth", lambda d: float(d.quantile(0.9))),
    )
    out = activity.merge(casc, on=["platform", "community", "iso_week"], how="outer")
    for col in ("items", "posts", "comments", "shares", "unique_authors", "cascades", "escaped_cascades"):
        out[col] = out[col].fillna(0).astype("int64")
    out["community"] = out["community"].replace("\x00", None)
    out["escape_rate"] = out["escaped_cascades"] / out["cascades"].where(out["cascades"] > 0)
    return out.sort_values(["platform", "iso_week", "community"], na_position="first").reset_index(drop=True)


def _affect_table(df: pd.DataFrame, rng: random.Random) -> pd.DataFrame:
    rows = []
    for rec in df[df["text"].notna() | df["title"].notna()].to_dict("records"):
        row = {k: rec[k] for k in ("post_id", "platform", "community", "created_at", "kind")}
        row["tb_polarity"] = round(rng.uniform(-1, 1), 4)
        row["tb_subjectivity"] = round(rng.uniform(0, 1), 4)
        row["vader_compound"] = round(rng.uniform(-1, 1), 4)
        pos = rng.uniform(0, 0.5)
        neg = rng.uniform(0, 0.5)
        row.update({"vader_pos": pos, "vader_neg": neg, "vader_neu": 1 - pos - neg})
        for e in EMOTIONS:
            row[f"nrc_{e}"] = round(rng.choice([0.0, 0.0, rng.uniform(0, 0.3)]), 4)
        row["arousal"] = round(rng.uniform(0, 0.5), 4)
        row["n_tokens"] = rng.randint(1, 40)
        rows.append(row)
    return pd.DataFrame(rows)


def _overlap_table(communities: list[str], rng: random.Random) -> pd.DataFrame:
    rows = []
    for w in range(5, 11):
        for i, a in enumerate(communities):
            for b in communities[i + 1 :]:
                if (w + i) % 7 == 0:
                    continue  # some pairs are missing in some weeks
                shared = rng.randint(5, 40)
                rows.append(
                    {
                        "iso_week": f"2026-W{w:02d}",
                        "platform": "demo",
                        "community_a": a,
                        "community_b": b,
                        "shared_members": shared,
                        "members_a": 60,
                        "members_b": 50,
                        "jaccard": round(shared / (110 - shared), 4),
                        "overlap_coefficient": round(shared / 50, 4),
                        "containment_a_in_b": round(shared / 60, 4),
                        "containment_b_in_a": round(shared / 50, 4),
                        "lift": round(shared * 120 / (60 * 50), 4),
                        "npmi": round(rng.uniform(-0.2, 0.6), 4),
                    }
                )
    return pd.DataFrame(rows)


def _drivers_table() -> pd.DataFrame:
    """The shape pipeline.explain writes: an overall fit with affect terms, controls and a 0/1 indicator, and
    a weekly fit without enough data."""
    base = {"fit_scope": "overall", "fit_key": "all", "n": 400, "n_escaped": 90, "status": "ok", "note": None}
    affect = {**base, "term_kind": "affect", "scale": "per_sd"}
    control = {**base, "term_kind": "control", "scale": "per_sd"}
    rows = [
        {
            **affect,
            "term": "nrc_anger",
            "odds_ratio_per_sd": 1.82,
            "ci_low": 1.41,
            "ci_high": 2.35,
            "p_value": 0.0001,
        },
        {
            **affect,
            "term": "nrc_trust",
            "odds_ratio_per_sd": 0.70,
            "ci_low": 0.55,
            "ci_high": 0.89,
            "p_value": 0.004,
        },
        {
            **affect,
            "term": "vader_compound",
            "odds_ratio_per_sd": 1.04,
            "ci_low": 0.88,
            "ci_high": 1.22,
            "p_value": 0.61,
        },
        {
            **control,
            "term": "log_author_prior_items",
            "odds_ratio_per_sd": 1.20,
            "ci_low": 1.01,
            "ci_high": 1.43,
            "p_value": 0.04,
        },
        {
            **control,
            "scale": "per_unit",
            "term": "weekday[sat]",
            "odds_ratio_per_sd": 3.5,
            "ci_low": 2.0,
            "ci_high": 6.0,
            "p_value": 0.001,
        },
        {
            "fit_scope": "week",
            "fit_key": REPORT_WEEK,
            "term": "nrc_anger",
            "term_kind": "affect",
            "scale": "per_sd",
            "odds_ratio_per_sd": None,
            "ci_low": None,
            "ci_high": None,
            "p_value": None,
            "n": 60,
            "n_escaped": 9,
            "status": "insufficient_data",
            "note": "fewer than 20 escaped items",
        },
    ]
    return pd.DataFrame(rows)


def _item_drivers_table(escaped: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for root, week in zip(escaped["root_id"], escaped["iso_week"], strict=True):
        for rank, (feature, c) in enumerate(
            (("nrc_anger", 0.8), ("nrc_trust", -0.3), ("vader_compound", 0.1)), 1
        ):
            rows.append(
                {"root_id": root, "iso_week": week, "feature": feature, "contribution": c, "rank": rank}
            )
    return pd.DataFrame(rows)


def _quarantine_table() -> pd.DataFrame:
    rows = []
    for i in range(3):
        rows.append(
            {
                "source": "demo",
                "run_id": "demo-20260303T000000Z-20260304T000000Z",
                "reason": f"bad timestamp: {i}",
                "reason_kind": "bad timestamp",
                "location": None,
            }
        )
    rows.append(
        {
            "source": "demo",
            "run_id": "demo-20260201T000000Z-20260202T000000Z",
            "reason": "missing id",
            "reason_kind": "missing id",
            "location": None,
        }
    )
    rows.append(
        {
            "source": "reddit_dump",
            "run_id": "reddit_dump-RS_2026-01",
            "reason": "text too long (50001)",
            "reason_kind": "text too long",
            "location": "RS_2026-01.zst:12",
        }
    )
    return pd.DataFrame(rows)


def _runs_table() -> pd.DataFrame:
    rows = []
    for day in range(DAYS):
        since = FIRST_DAY + timedelta(days=day)
        until = since + timedelta(days=1)
        failed = {"x": "401 Unauthorized"} if since.date().isoformat() == "2026-03-04" else {}
        rows.append(
            {
                "run_id": f"run-{since:%Y%m%dT%H%M%SZ}-{until:%Y%m%dT%H%M%SZ}",
                "since": since,
                "until": until,
                "status": "partial" if failed else "succeeded",
                "started_at": until,
                "finished_at": until,
                "rows": 100 + day,
                "quarantined": 3 if since.date().isoformat() == "2026-03-03" else 0,
                "failed_sources": json.dumps(failed),
                "resumed": False,
            }
        )
    return pd.DataFrame(rows)
