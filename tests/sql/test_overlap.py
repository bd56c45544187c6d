"""Membership and community overlap against values computed in plain Python."""

from __future__ import annotations

import math
from datetime import date, timedelta
from itertools import permutations
from pathlib import Path

import pytest

from .conftest import T0, build_warehouse, post, records

WEEK = date(2024, 3, 4)  # the ISO week of T0 (2024-W10); members are counted at its end, 2024-03-11 00:00 UTC
WEEK_END_MINUTES = 7 * 24 * 60 - 12 * 60  # minutes from T0 (Monday 12:00) to the end of its week


def minutes_before_week_end(days: float) -> float:
    return WEEK_END_MINUTES - days * 24 * 60


MEMBERS = {
    "r/a": {f"u{i}" for i in range(1, 11)},
    "r/b": {f"u{i}" for i in range(6, 16)},
    "r/c": {f"u{i}" for i in range(14, 21)} | {"u1"},
    "r/d": {"u1", "u2"},
}


def membership_rows() -> list[dict]:
    rows = []
    n = 0
    for community, users in MEMBERS.items():
        for user in sorted(users):
            n += 1
            rows.append(post(f"reddit:t3_{n}", community=community, author_id=user, created_at=60 + n))
    # activity 89 days before the end of the week still counts; 91 days before does not
    for community in ("r/a", "r/b"):
        rows.append(
            post(
                f"reddit:t3_recent{community[-1]}",
                community=community,
                author_id="u30",
                created_at=minutes_before_week_end(89),
            )
        )
        rows.append(
            post(
                f"reddit:t3_old{community[-1]}",
                community=community,
                author_id="u31",
                created_at=minutes_before_week_end(91),
            )
        )
        # deleted authors and bots never count
        rows.append(post(f"reddit:t3_del{community[-1]}", community=community, author_id=None, created_at=5))
        rows.append(
            post(
                f"reddit:t3_bot{community[-1]}", community=community, author_id="AutoModerator", created_at=6
            )
        )
    # the week after has items too, so it is a snapshot week; its window still covers this week's activity
    rows.append(post("reddit:t3_later", community="r/a", author_id="u1", created_at=8 * 24 * 60))
    return rows


def expected_overlap(
    members: dict[str, set[str]], min_shared: int
) -> dict[tuple[str, str], dict[str, float]]:
    n = len(set().union(*members.values()))
    out = {}
    for a, b in permutations(sorted(members), 2):
        shared = len(members[a] & members[b])
        if shared < min_shared:
            continue
        na, nb = len(members[a]), len(members[b])
        p_ab, p_a, p_b = shared / n, na / n, nb / n
        out[(a, b)] = {
            "members_a": na,
            "members_b": nb,
            "shared_members": shared,
            "active_users": n,
            "jaccard": shared / len(members[a] | members[b]),
            "overlap_coefficient": shared / min(na, nb),
            "containment_a_in_b": shared / na,
            "containment_b_in_a": shared / nb,
            "lift": p_ab / (p_a * p_b),
            "npmi": 1.0 if p_ab == 1 else math.log(p_ab / (p_a * p_b)) / -math.log(p_ab),
        }
    return out


@pytest.fixture
def warehouse(tmp_path: Path):
    return build_warehouse(
        tmp_path,
        membership_rows(),
        overrides={"overlap": {"min_shared": 2}, "privacy": {"pseudonymize": False}},
    )


def test_membership_window_bots_and_deleted(warehouse) -> None:
    got: dict[str, set[str]] = {}
    for row in records(
        warehouse, "select community, author_id from int_membership where week_start = ?", [WEEK]
    ):
        got.setdefault(row["community"], set()).add(row["author_id"])
    want = {c: set(users) for c, users in MEMBERS.items()}
    want["r/a"].add("u30")
    want["r/b"].add("u30")
    assert got == want


def test_overlap_metrics_match_plain_python(warehouse) -> None:
    members = {c: set(users) for c, users in MEMBERS.items()}
    members["r/a"].add("u30")
    members["r/b"].add("u30")
    want = expected_overlap(members, min_shared=2)
    rows = records(warehouse, "select * from fct_community_overlap where week_start = ?", [WEEK])
    got = {(r["community_a"], r["community_b"]): r for r in rows}
    assert set(got) == set(want)
    assert ("r/a", "r/d") in got and ("r/c", "r/d") not in got  # r/c and r/d share only u1
    for pair, metrics in want.items():
        assert got[pair]["iso_week"] == "2024-W10"
        for key, value in metrics.items():
            assert got[pair][key] == pytest.approx(value, rel=1e-12), (pair, key)


def test_min_items_counts_items_in_window(tmp_path: Path) -> None:
    rows = [
        post("reddit:t3_1", community="r/a", author_id="once", created_at=0),
        post("reddit:t3_2", community="r/a", author_id="twice", created_at=0),
        post("reddit:t3_3", community="r/a", author_id="twice", created_at=10),
        post("reddit:t3_4", community="r/a", author_id="spread", created_at=0),
        post("reddit:t3_5", community="r/a", author_id="spread", created_at=minutes_before_week_end(95)),
    ]
    con = build_warehouse(tmp_path, rows, overrides={"membership": {"min_items": 2}})
    got = records(con, "select author_id, items_in_window from int_membership where week_start = ?", [WEEK])
    assert got == [{"author_id": "twice", "items_in_window": 2}]
    assert T0.date() == WEEK and WEEK + timedelta(days=7) == date(2024, 3, 11)
