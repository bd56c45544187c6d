"""fct_item_spread: engagers, outsiders at the root's time, reach, entropy and the escaped rule."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from .conftest import build_warehouse, post, records

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
