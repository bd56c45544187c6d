"""fct_item_spread: engagers, outsiders at the root's time, reach, entropy and the escaped rule."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from .conftest import T0, build_warehouse, post, records

DAY = 24 * 60
REQUIRED_COLUMNS = [
    "root_id",
    "platform",
    "origin_community",
    "root_author_id",
    "root_created_at",
    "iso_week",
    "size",
    "depth",
    "engagers",
    "outsider_engagers",
    "outsider_share",
    "communities_reached",
    "community_entropy",
    "escaped",
]


def reply(i: str, parent: str, root: str, author: str | None, minutes: float, community: str = "r/a") -> dict:
    return post(
        f"reddit:t1_{i}",
        parent_id=parent,
        root_id=root,
        author_id=author,
        community=community,
        created_at=minutes,
    )


def spread_rows() -> list[dict]:
    root = "reddit:t3_root"
    rows = [
        # history before the root: u2 is a member of r/a, u41 was one 100 days ago, u40 only posts in r/b
        post("reddit:t3_h1", community="r/a", author_id="u2", created_at=-10 * DAY),
        post("reddit:t3_h2", community="r/a", author_id="u41", created_at=-100 * DAY),
        post("reddit:t3_h3", community="r/b", author_id="u40", created_at=-5 * DAY),
        post(root, community="r/a", author_id="u1", created_at=0),
        reply("1", root, root, "u2", 5),
        reply("2", "reddit:t1_1", root, "u40", 6),
        reply("3", "reddit:t1_2", root, "u41", 7),
        reply("4", root, root, "u1", 8),  # the root's author does not engage with themself
        reply("5", root, root, "AutoModerator", 1),  # bots do not count
        reply("6", root, root, None, 9),  # nor deleted authors
        post(
            "reddit:t3_xpost",
            shared_id=root,
            share_type="crosspost",
            community="r/b",
            author_id="u42",
            created_at=30,
        ),
        # five outsiders, all inside the origin community: escapes through the outsider rule
        post("reddit:t3_many", community="r/c", author_id="v0", created_at=60),
        *(reply(f"m{i}", "reddit:t3_many", "reddit:t3_many", f"v{i}", 61 + i, "r/c") for i in range(1, 6)),
        # five engagers, three of them members: outsider share 0.4 stays local
        *(post(f"reddit:t3_w{i}", community="r/e", author_id=f"w{i}", created_at=-DAY) for i in range(1, 4)),
        post("reddit:t3_few", community="r/e", author_id="w0", created_at=60),
        *(reply(f"f{i}", "reddit:t3_few", "reddit:t3_few", f"w{i}", 61 + i, "r/e") for i in range(1, 6)),
        # no engagement at all
        post("reddit:t3_alone", community="r/a", author_id="u9", created_at=90),
        # an X item without any community (none detected: too few users)
        post("x:1", author_id="x1", created_at=0),
        post("x:2", shared_id="x:1", share_type="retweet", author_id="x2", created_at=1),
    ]
    return rows


@pytest.fixture
def spread(tmp_path: Path) -> dict[str, dict]:
    con = build_warehouse(tmp_path, spread_rows(), overrides={"privacy": {"pseudonymize": False}})
    columns = [r[0] for r in con.execute("describe fct_item_spread").fetchall()]
    assert set(REQUIRED_COLUMNS) <= set(columns)
    assert columns[: len(REQUIRED_COLUMNS)] == REQUIRED_COLUMNS  # the contract's columns come first
    return {r["root_id"]: r for r in records(con, "select * from fct_item_spread")}


def test_outsiders_are_judged_at_the_roots_time(spread: dict[str, dict]) -> None:
    row = spread["reddit:t3_root"]
    assert row["origin_community"] == "r/a"
    assert row["size"] == 8 and row["depth"] == 3
    assert row["engagers"] == 4  # u2, u40, u41, u42
    assert row["outsider_engagers"] == 3  # u40 (other community), u41 (too long ago), u42 (never in r/a)
    assert row["outsider_share"] == pytest.approx(0.75)
    assert row["communities_reached"] == 2
    assert row["community_entropy"] == pytest.approx(-(7 / 8) * math.log2(7 / 8) - (1 / 8) * math.log2(1 / 8))
    assert row["escaped"] is True
    assert row["iso_week"] == "2024-W10"


def test_escaped_rule(spread: dict[str, dict]) -> None:
    many, few, alone = spread["reddit:t3_many"], spread["reddit:t3_few"], spread["reddit:t3_alone"]
    assert (many["engagers"], many["outsider_engagers"], many["communities_reached"]) == (5, 5, 1)
    assert many["escaped"] is True
    assert (few["engagers"], few["outsider_engagers"], few["outsider_share"]) == (5, 2, pytest.approx(0.4))
    assert few["escaped"] is False
    assert (alone["engagers"], alone["outsider_engagers"], alone["outsider_share"]) == (0, 0, None)
    assert alone["escaped"] is False and alone["community_entropy"] == 0


def test_item_without_community(spread: dict[str, dict]) -> None:
    row = spread["x:1"]
    assert row["origin_community"] is None
    assert (row["engagers"], row["outsider_engagers"], row["outsider_share"]) == (1, None, None)
    assert row["communities_reached"] == 0 and row["escaped"] is False


def test_thresholds_come_from_configuration(tmp_path: Path) -> None:
    con = build_warehouse(
        tmp_path,
        spread_rows(),
        overrides={
            "privacy": {"pseudonymize": False},
            "spread": {"min_engagers": 6, "min_outsider_share": 0.3},
        },
    )
    got = {r["root_id"]: r["escaped"] for r in records(con, "select root_id, escaped from fct_item_spread")}
    assert got["reddit:t3_many"] is False  # 5 engagers < 6
    assert got["reddit:t3_root"] is True  # still reached two communities


def coverage_rows() -> list[dict]:
    """Reddit from day -150 (a post every 3 days, a reply a day later), X from day -20; T0 is a Monday noon."""
    rows = []
    for k in range(50):
        day = -150 + 3 * k
        rows.append(post(f"reddit:t3_c{k}", community="r/a", author_id=f"u{k % 7}", created_at=day * DAY))
        rows.append(reply(f"c{k}", f"reddit:t3_c{k}", f"reddit:t3_c{k}", f"u{(k + 3) % 7}", day * DAY + 60))
    rows += [
        post(f"x:c{k}", community="xc", author_id=f"x{k}", created_at=(-20 + 2 * k) * DAY) for k in range(10)
    ]
    return rows


def expected_history(created_at, start) -> float:
    return max(0.0, (created_at - start).total_seconds() / 86400)


@pytest.mark.parametrize("with_run_log", [False, True])
def test_history_warmup_and_complete_weeks_match_plain_python(tmp_path: Path, with_run_log: bool) -> None:
    """history_days / is_warmup / is_complete_week recomputed from the items (and the run log, when there is one)."""
    rows = coverage_rows()
    first = {p: min(r["created_at"] for r in rows if r["platform"] == p) for p in ("reddit", "x")}
    last = {p: max(r["created_at"] for r in rows if r["platform"] == p) for p in ("reddit", "x")}
    start, end = dict(first), dict(last)
    if with_run_log:
        # the first run began 100 days before T0 (reddit's older items came in as history); the last ended mid-week
        since, until = T0 - timedelta(days=100), T0 - timedelta(days=1)
        state = tmp_path / "data" / "state"
        state.mkdir(parents=True)
        runs = [
            {
                "run_id": "r0",
                "since": since.isoformat(),
                "until": (T0 - timedelta(days=50)).isoformat(),
                "status": "succeeded",
            },
            {
                "run_id": "r1",
                "since": (T0 - timedelta(days=50)).isoformat(),
                "until": until.isoformat(),
                "status": "partial",
            },
            {
                "run_id": "r2",
                "since": (T0 - timedelta(days=400)).isoformat(),
                "until": until.isoformat(),
                "status": "failed",
            },
        ]
        (state / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs), encoding="utf-8")
        start = {p: max(first[p], since) for p in first}
        end = {p: max(last[p], until) for p in last}
    con = build_warehouse(tmp_path, rows, {"membership": {"window_days": 60}})

    spread_rows_ = records(
        con, "select root_id, platform, root_created_at, history_days, is_warmup from fct_item_spread"
    )
    created = {r["post_id"]: r["created_at"] for r in rows}
    assert len(spread_rows_) == 60
    for r in spread_rows_:
        want = expected_history(created[r["root_id"]], start[r["platform"]])
        assert r["history_days"] == pytest.approx(want, abs=1e-6), r["root_id"]
        assert r["is_warmup"] == (want < 60), r["root_id"]

    weeks = records(
        con,
        "select platform, community, week_start, history_days, is_warmup, is_complete_week "
        "from fct_weekly_trends",
    )
    assert {(w["platform"], w["week_start"]) for w in weeks} >= {
        ("x", (T0 - timedelta(days=20)).date() - timedelta(days=(T0 - timedelta(days=20)).weekday()))
    }
    for w in weeks:
        monday = datetime.combine(w["week_start"], datetime.min.time(), tzinfo=UTC)
        want = expected_history(monday, start[w["platform"]])
        assert w["history_days"] == pytest.approx(want, abs=1e-6)
        assert w["is_warmup"] == (want < 60)
        assert w["is_complete_week"] == (monday + timedelta(days=7) <= end[w["platform"]])
    # some weeks are settled, the first ones are not, and the running week is incomplete
    assert {w["is_warmup"] for w in weeks if w["platform"] == "reddit"} == {True, False}
    assert not all(w["is_complete_week"] for w in weeks)

    last_complete = {r["platform"]: r["week_start"] for r in records(con, "select * from last_complete_week")}
    for p in ("reddit", "x"):
        complete = [w["week_start"] for w in weeks if w["platform"] == p and w["is_complete_week"]]
        assert last_complete[p] == max(complete)
    coverage = {r["platform"]: r for r in records(con, "select * from dim_platform_coverage")}
    assert {p: coverage[p]["coverage_start"] for p in coverage} == start
    assert coverage["x"]["coverage_source"] == ("run_log" if with_run_log else "items")


def test_engagers_and_first_outsider_are_judged_at_each_engagement(tmp_path: Path) -> None:
    root = "reddit:t3_eng"
    rows = [
        post("reddit:t3_hm", community="r/a", author_id="m1", created_at=-10 * DAY),
        post("reddit:t3_h1", community="r/b", author_id="h1", created_at=-3 * DAY),
        post("reddit:t3_h2", community="r/b", author_id="h1", created_at=-2 * DAY),
        post("reddit:t3_h3", community="r/a", author_id="h1", created_at=-50 * DAY),
        post(
            root,
            community="r/a",
            author_id="a0",
            created_at=0,
            title="  Why   the\nsky is blue  ",
            text="body",
        ),
        reply("e0", root, root, "AutoModerator", 1),  # a bot: not an engager
        post("reddit:t3_j1", community="r/a", author_id="j1", created_at=2),  # j1 joins r/a after the root
        reply("e1", root, root, "m1", 5),
        reply("e2", "reddit:t1_e1", root, "j1", 10),
        reply("e3", root, root, "o1", 20),
        reply("e4", "reddit:t1_e3", root, "o1", 25),
        reply("e5", root, root, "h1", 30),
        reply("e6", root, root, "a0", 40),  # the root's author
    ]
    con = build_warehouse(tmp_path, rows, overrides={"privacy": {"pseudonymize": False}})
    got = {
        r["engager_id"]: r for r in records(con, "select * from fct_item_engagers where root_id = ?", [root])
    }
    minutes = {
        k: (v["minutes_after_root"], v["engagements"], v["home_community"], v["is_outsider"])
        for k, v in got.items()
    }
    assert minutes == {
        "m1": (5, 1, "r/a", False),
        "j1": (10, 1, "r/a", False),  # a member by the time of the engagement
        "o1": (20, 2, None, True),
        "h1": (30, 1, "r/b", False),  # most items in r/b, still a member of r/a
    }
    assert all(r["is_member"] == (not r["is_outsider"]) for r in got.values())
    spread = records(con, "select * from fct_item_spread where root_id = ?", [root])[0]
    assert spread["engagers"] == len(got) == 4
    assert spread["outsider_engagers"] == 2  # at the root's time: j1 and o1
    assert spread["first_outsider_at"] == T0 + timedelta(minutes=20)
    assert spread["minutes_to_first_outsider"] == pytest.approx(20)
    assert spread["permalink"] == "https://www.reddit.com/comments/eng/"
    assert spread["text_snippet"] == "Why the sky is blue"
    assert spread["dominant_emotion"] is None  # no affect scores in this lake
    reply_root = records(con, "select permalink from fct_item_spread where root_id = 'reddit:t3_j1'")[0]
    assert reply_root["permalink"] == "https://www.reddit.com/comments/j1/"
