"""A small, seeded warehouse for the report tests, built the way production builds one.

Hand-made items (in the demo source's raw format) go through the lake's ingest (the demo source's mapping, the
validator, the quarantine), one window per day as the nightly runs would; the run log gets one entry per day;
affect scoring and the warehouse build (every sql/ model, community detection, the spread-driver fits, the
assertions) run as in ``ripple run``. The cascade trees are real (replies and shares with parent / shared), so
the report's numbers can be checked against independent pandas computations over the same items (``posts``).

Imported by tests/unit/test_report.py and tests/e2e/test_report_browser.py (by path); it holds no tests
itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import lake
from pipeline.config import Settings, load_settings
from pipeline.run import append_run_log, score_affect
from pipeline.sources.base import Window, get_source
from pipeline.warehouse import build

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
#: feelings in the texts, so that affect scores and the spread-driver fit have something to work with
MOODS = ["I love this, wonderful and happy", "This is terrible, I hate it and I am afraid", "Calm and fine"]
#: the pipeline settings of the fixture (small text limit: one record of February is over it; a 6-day membership
#: window, so that the lake's six weeks hold settled ones: 2026-W05 is the warm-up, and the report week has the
#: four settled weeks before it that an alert baseline needs)
WINDOW_DAYS = 6
OVERRIDES: dict[str, Any] = {
    "membership": {"window_days": WINDOW_DAYS},
    "report": {"top_items": 100},
    "lake": {"max_text_chars": 2_000},
    "affect": {"processes": 1},
}
MAX_TEXT = 2_000


@dataclass
class Built:
    settings: Settings
    posts: pd.DataFrame


def fixture_settings(data_dir: Path, **overrides: Any) -> Settings:
    merged = {**OVERRIDES, **overrides}
    return load_settings(
        data_dir=data_dir, overrides=merged, environ={"RIPPLE_PSEUDONYM_KEY": "report-tests-" + "0" * 32}
    )


def build_warehouse(settings: Settings, *, xss: bool = False, seed: int = 7) -> Built:
    """Ingest the fixture's items into the lake of ``settings``, score them, write the run log and build and
    publish the warehouse. ``posts`` are the accepted items as the mapping sees them (ids with the platform
    prefix, authors before pseudonymisation)."""
    items = _items(random.Random(seed), xss)
    source = get_source("demo", settings)
    by_day: dict[date, list[dict[str, Any]]] = {}
    for item in items:
        by_day.setdefault(pd.Timestamp(item["created_utc"]).date(), []).append(item)
    for day, rejects in _rejects().items():
        by_day.setdefault(day, []).extend(rejects)
    for day in sorted(by_day):
        since = datetime(day.year, day.month, day.day, tzinfo=UTC)
        page = {"data": {"items": by_day[day]}, "_fetched_at": (since + timedelta(days=2)).isoformat()}
        lake.ingest(source, settings, Window(since, since + timedelta(days=1)), pages=[page])
    imported = {"data": {"items": [{"id": "imp1", "created_utc": "2026-01-10T00:00:00Z"}]}}  # no kind
    lake.ingest(source, settings, None, run_id="demo-import-test", pages=[imported])
    for entry in _run_log():
        append_run_log(settings, entry)
    score_affect(settings)
    build(settings)
    return Built(settings, _as_posts(items))


def _items(rng: random.Random, xss: bool) -> list[dict[str, Any]]:
    """Six weeks of roots with reply trees in their community, some shared into other communities (they escape),
    an orphan reply whose parent was never fetched, and a few roots without a community."""
    communities = [*COMMUNITIES, XSS_COMMUNITY] if xss else list(COMMUNITIES)
    users = [f"u{i:03d}" for i in range(120)]
    home = {u: communities[i % len(communities)] for i, u in enumerate(users)}
    items: list[dict[str, Any]] = []
    n = 0
    for day in range(DAYS):
        day_start = FIRST_DAY + timedelta(days=day)
        for k in range(8 + (day % 3)):
            n += 1
            root = _root(rng, n, k, day, day_start, users, home, communities, xss)
            items.append(root)
            items.extend(_cascade(rng, root, users, communities, xss))
    report_monday = datetime(2026, 3, 2, tzinfo=UTC)
    items.append(
        _item(
            id="orphan1",
            kind="comment",
            community="c/alpha",
            author="u001",
            parent="missing",
            root="missing",
            created_utc=report_monday + timedelta(hours=5),
            body="orphan reply",
        )
    )
    for i in range(6):  # items without a community
        when = report_monday + timedelta(days=i % 7, hours=3)
        items.append(
            _item(id=f"nc{i}", author=f"xu{i}", created_utc=when, body=f"loose post {i} #eclipse eclipse")
        )
    return items


def _item(**kw: Any) -> dict[str, Any]:
    """An item in the demo source's raw format."""
    kw["created_utc"] = kw["created_utc"].isoformat()
    return {
        "kind": "post",
        "root": kw["id"] if kw.get("kind", "post") != "comment" else None,
        "score": 1,
        **kw,
    }


def _root(
    rng: random.Random,
    n: int,
    k: int,
    day: int,
    day_start: datetime,
    users: list[str],
    home: dict[str, str],
    communities: list[str],
    xss: bool,
) -> dict[str, Any]:
    in_report_week = day_start >= datetime(2026, 3, 2, tzinfo=UTC)
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
    mood = rng.randrange(len(MOODS))
    title = f"About the {words[0]} {words[1]}"
    text = " ".join(words) + tag + f". {MOODS[mood]}." + (f" see {link}" if link and k % 2 else "")
    if n == 1:
        author = REAL_NAME
    if xss and in_report_week and day == DAYS - 3 and k == 0:
        community, author = XSS_COMMUNITY, REAL_NAME
        title = f"{XSS} headline"
        text = f'{XSS} and <img src=x onerror="alert(2)"> inside'
    root = _item(
        id=f"r{n:05d}",
        community=community,
        author=author,
        created_utc=created,
        title=title,
        body=text,
        url=link if k % 2 == 0 else None,
    )
    root["_escape"] = rng.random() < 0.15 + 0.25 * (mood == 1) or (xss and community == XSS_COMMUNITY)
    return root


def _cascade(
    rng: random.Random, root: dict[str, Any], users: list[str], communities: list[str], xss: bool
) -> list[dict[str, Any]]:
    """A reply tree in the root's community and, when the root escapes, shares into others with replies."""
    out: list[dict[str, Any]] = []
    root_id, community = root["id"], root["community"]
    created = datetime.fromisoformat(root["created_utc"])
    nodes = [(root_id, created)]
    for r in range(rng.choice([0, 0, 1, 2, 3, 5, 8, 13])):
        parent_id, parent_time = rng.choice(nodes)
        t = parent_time + timedelta(minutes=rng.randint(3, 240))
        text = rng.choice(["Good point.", "I disagree.", "Source?", f"The {rng.choice(WORDS)} again"])
        reply = _item(
            id=f"{root_id}c{r:02d}",
            kind="comment",
            community=community,
            author=rng.choice(users),
            parent=parent_id,
            created_utc=t,
            body=text,
        )
        out.append(reply)
        nodes.append((reply["id"], t))
    if not root.pop("_escape"):
        return out
    others = [c for c in communities if c != community]
    for s, target in enumerate(rng.sample(others, rng.choice([1, 1, 2, 3]))):
        t = created + timedelta(minutes=rng.randint(20, 600))
        share = _item(
            id=f"{root_id}s{s}",
            kind="share",
            share_type="crosspost",
            community=target,
            author=rng.choice(users),
            shared=root_id,
            created_utc=t,
            title=root["title"],
        )
        out.append(share)
        prev = share["id"]
        for r in range(rng.randint(1, 4)):
            t = t + timedelta(minutes=rng.randint(5, 90))
            cid = f"{share['id']}c{r}"
            out.append(
                _item(
                    id=cid,
                    kind="comment",
                    community=target,
                    author=rng.choice(users),
                    parent=prev,
                    created_utc=t,
                    body="Interesting share",
                )
            )
            prev = cid if rng.random() < 0.5 else share["id"]
    return out


def _rejects() -> dict[date, list[dict[str, Any]]]:
    """Records the lake quarantines: three without a kind in a run of the report week, one over the text limit in
    a run of February."""
    bad = [{"id": f"bad{i}", "created_utc": "2026-03-03T10:00:00+00:00"} for i in range(3)]
    long = _item(
        id="long1", author="u002", created_utc=datetime(2026, 2, 1, 9, tzinfo=UTC), body="x" * (MAX_TEXT + 1)
    )
    return {date(2026, 3, 3): bad, date(2026, 2, 1): [long]}


def _as_posts(items: list[dict[str, Any]]) -> pd.DataFrame:
    """The items as the demo mapping turns them into posts (before pseudonymisation)."""

    def prefixed(value: Any) -> Any:
        return f"demo:{value}" if isinstance(value, str) else None

    df = pd.DataFrame(
        {
            "platform": "demo",
            "post_id": [prefixed(i["id"]) for i in items],
            "kind": [i["kind"] for i in items],
            "community": [i.get("community") for i in items],
            "author_id": [i.get("author") for i in items],
            "parent_id": [prefixed(i.get("parent")) for i in items],
            "shared_id": [prefixed(i.get("shared")) for i in items],
            "created_at": pd.to_datetime([i["created_utc"] for i in items], utc=True),
            "title": [i.get("title") for i in items],
            "text": [i.get("body") for i in items],
            "url": [i.get("url") for i in items],
        }
    )
    return df


def _run_log() -> list[dict[str, Any]]:
    """One nightly run per day; the one of 2026-03-04 lost the x source."""
    entries = []
    for day in range(DAYS):
        since = FIRST_DAY + timedelta(days=day)
        until = since + timedelta(days=1)
        failed = {"x": "401 Unauthorized"} if since.date().isoformat() == "2026-03-04" else {}
        entries.append(
            {
                "run_id": f"run-{since:%Y%m%dT%H%M%SZ}-{until:%Y%m%dT%H%M%SZ}",
                "since": since.isoformat(),
                "until": until.isoformat(),
                "status": "partial" if failed else "succeeded",
                "started_at": until.isoformat(),
                "finished_at": until.isoformat(),
                "rows": 100 + day,
                "quarantined": 3 if since.date().isoformat() == "2026-03-03" else 0,
                "failed_sources": failed,
                "resumed": False,
            }
        )
    return entries


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
