"""Leiden communities for platforms without their own: detected, stored with parameters, used by the marts."""

from __future__ import annotations

from pathlib import Path

import igraph as ig
import pytest

from .conftest import build_warehouse, post, records

DAY = 24 * 60


def group_rows(week: int, groups: dict[str, list[str]], bridge: tuple[str, str] | None) -> list[dict]:
    """Every user of a group tweets once; every other member of the group replies to it."""
    rows = []
    base = week * 7 * DAY
    for name, users in groups.items():
        for i, author in enumerate(users):
            root = f"x:{week}{name}{i}"
            rows.append(post(root, author_id=author, created_at=base + i))
            for j, replier in enumerate(users):
                if replier != author:
                    rows.append(
                        post(
                            f"{root}r{j}",
                            parent_id=root,
                            root_id=root,
                            author_id=replier,
                            created_at=base + i + j + 1,
                        )
                    )
    if bridge:
        rows.append(
            post(
                f"x:{week}bridge",
                shared_id=f"x:{week}a0",
                share_type="quote",
                author_id=bridge[1],
                created_at=base + 100,
            )
        )
    return rows


GROUPS = {"a": [f"a{i}" for i in range(6)], "b": [f"b{i}" for i in range(6)]}


def rows_two_weeks() -> list[dict]:
    rows = group_rows(0, GROUPS, ("a0", "b0")) + group_rows(1, GROUPS, None)
    # a pair that only talks to each other: a community of 2 < communities.min_size, so no community
    rows += [
        post("x:p1", author_id="p1", created_at=5),
        post("x:p2", parent_id="x:p1", root_id="x:p1", author_id="p2", created_at=6),
    ]
    # an explicit X Community id wins over the detected one
    rows.append(post("x:explicit", author_id="a1", community="1234567890", created_at=7))
    # reddit has its own communities: never detected
    rows += [
        post("reddit:t3_r", community="r/a", author_id="a0"),
        post("reddit:t1_r", parent_id="reddit:t3_r", root_id="reddit:t3_r", author_id="b0", created_at=1),
    ]
    return rows


def test_two_planted_groups_are_found_and_keep_their_labels(tmp_path: Path) -> None:
    con = build_warehouse(tmp_path, rows_two_weeks(), overrides={"privacy": {"pseudonymize": False}})
    assigned = records(
        con, "select iso_week, author_id, community from int_detected_communities order by all"
    )
    by_week: dict[str, dict[str, str]] = {}
    for row in assigned:
        by_week.setdefault(row["iso_week"], {})[row["author_id"]] = row["community"]
    assert sorted(by_week) == ["2024-W10", "2024-W11"]
    for labels in by_week.values():
        assert set(labels) == set(GROUPS["a"]) | set(GROUPS["b"])  # p1, p2 form a community below min_size
        assert len({labels[u] for u in GROUPS["a"]}) == 1
        assert len({labels[u] for u in GROUPS["b"]}) == 1
        assert labels["a0"] != labels["b0"]
    assert by_week["2024-W10"] == by_week["2024-W11"]  # the same groups keep the same names

    posts = {
        r["post_id"]: r
        for r in records(con, "select post_id, community, is_community_detected from int_posts")
    }
    assert (
        posts["x:0a0"]["community"] == by_week["2024-W10"]["a0"] and posts["x:0a0"]["is_community_detected"]
    )
    assert (
        posts["x:explicit"]["community"] == "1234567890" and not posts["x:explicit"]["is_community_detected"]
    )
    assert posts["x:p1"]["community"] is None
    assert posts["reddit:t3_r"]["community"] == "r/a"
    dims = {r["community"]: r for r in records(con, "select * from dim_communities where platform = 'x'")}
    assert dims[by_week["2024-W10"]["a0"]]["is_detected"] is True
    assert dims["1234567890"]["is_detected"] is False


def test_partition_is_stored_with_parameters_and_true_modularity(tmp_path: Path) -> None:
    rows = rows_two_weeks()
    con = build_warehouse(
        tmp_path,
        rows,
        overrides={"privacy": {"pseudonymize": False}, "communities": {"resolution": 0.8, "seed": 7}},
    )
    part = records(con, "select * from dim_detected_partitions where iso_week = '2024-W10'")[0]
    assert (part["platform"], part["resolution"], part["seed"], part["min_size"]) == ("x", 0.8, 7, 5)
    assert part["algorithm"].startswith("leiden")
    assert (part["users"], part["communities"], part["assigned_users"]) == (14, 2, 12)

    # recompute modularity independently from the raw rows of that week and the stored membership
    by_id = {r["post_id"]: r for r in rows if r["platform"] == "x"}
    weights: dict[tuple[str, str], float] = {}
    for r in by_id.values():
        for target in (r["parent_id"], r["shared_id"]):
            if target and r["created_at"].isocalendar().week == 10 and r["community"] is None:
                pair = tuple(sorted((r["author_id"], by_id[target]["author_id"])))
                weights[pair] = weights.get(pair, 0) + 1
    users = sorted({u for pair in weights for u in pair})
    graph = ig.Graph(n=len(users), edges=[(users.index(a), users.index(b)) for a, b in weights])
    labels = {
        r["author_id"]: r["community"]
        for r in records(
            con, "select author_id, community from int_detected_communities where iso_week = '2024-W10'"
        )
    }
    names = sorted(set(labels.values()))
    # the full partition: p1 and p2 form their own (too small to keep) community
    membership = [names.index(labels[u]) if u in labels else len(names) for u in users]
    expected = graph.modularity(membership, weights=list(weights.values()))
    assert part["edges"] == len(weights)
    assert part["modularity"] == pytest.approx(expected, abs=1e-9)


def test_detection_is_deterministic(tmp_path: Path) -> None:
    first = build_warehouse(tmp_path / "one", rows_two_weeks())
    second = build_warehouse(tmp_path / "two", rows_two_weeks())
    query = "select * from int_detected_communities order by all"
    # pseudonymized ids depend on the (test) key only, so both builds see the same users
    assert first.execute(query).fetchall() == second.execute(query).fetchall()
    assert first.execute("select count(*) from int_detected_communities").fetchone()[0] == 24


def test_no_detection_when_switched_off(tmp_path: Path) -> None:
    con = build_warehouse(tmp_path, rows_two_weeks(), overrides={"communities": {"detect_platforms": []}})
    assert con.execute("select count(*) from int_detected_communities").fetchone()[0] == 0
    assert con.execute("select count(*) from dim_detected_partitions").fetchone()[0] == 0
    assert (
        con.execute(
            "select count(*) from int_posts where platform = 'x' and community is not null"
        ).fetchone()[0]
        == 1
    )


def test_spread_features_measure_the_detected_origin_community(tmp_path: Path) -> None:
    # X has no communities of its own: the explanation's community size must count the detected community's
    # authors of the window before the root's week, as the marts see them (int_posts), not zero
    rows = rows_two_weeks()
    con = build_warehouse(tmp_path, rows, overrides={"privacy": {"pseudonymize": False}})
    week10 = records(
        con, "select author_id, community from int_detected_communities where iso_week = '2024-W10'"
    )
    # independently: distinct authors of week-10 X items, grouped by their week-10 community
    label_of = {r["author_id"]: r["community"] for r in week10}
    authors_by_label: dict[str, set[str]] = {}
    for r in rows:
        if r["platform"] == "x" and r["created_at"].isocalendar().week == 10 and r["author_id"] in label_of:
            if r["community"] is None:
                authors_by_label.setdefault(label_of[r["author_id"]], set()).add(r["author_id"])
    frame = records(
        con,
        "select root_id, origin_community, origin_community_authors from int_spread_features"
        " where platform = 'x' and iso_week = '2024-W11' and origin_community like 'leiden-%'",
    )
    assert {r["root_id"] for r in frame} == {f"x:1{g}{i}" for g in GROUPS for i in range(6)}
    for row in frame:
        expected = len(authors_by_label[row["origin_community"]])
        assert row["origin_community_authors"] == expected == 6


def as_platform(rows: list[dict], platform: str) -> list[dict]:
    """The same items on another platform (ids re-prefixed)."""
    out = []
    for r in rows:
        moved = dict(r, platform=platform, source=platform)
        for key in ("post_id", "parent_id", "root_id", "shared_id"):
            if moved[key]:
                moved[key] = platform + ":" + moved[key].split(":", 1)[1]
        out.append(moved)
    return out


@pytest.mark.parametrize("community", ["instance", "detected"])
def test_mastodon_communities_are_detected_only_when_configured(tmp_path: Path, community: str) -> None:
    rows = as_platform(group_rows(0, GROUPS, None), "mastodon")
    con = build_warehouse(
        tmp_path,
        rows,
        overrides={"privacy": {"pseudonymize": False}, "mastodon": {"community": community}},
    )
    assigned = records(
        con, "select author_id, community from int_detected_communities where platform = 'mastodon'"
    )
    edges = con.execute("select count(*) from int_interaction_edges where platform = 'mastodon'").fetchone()[
        0
    ]
    if community == "instance":
        assert assigned == [] and edges == 0
    else:
        # every pair inside a group talks: 15 edges per group of 6
        assert edges == 2 * 15
        labels = {r["author_id"]: r["community"] for r in assigned}
        assert set(labels) == set(GROUPS["a"]) | set(GROUPS["b"])
        assert len({labels[u] for u in GROUPS["a"]}) == 1 and labels["a0"] != labels["b0"]


def test_detected_platforms_come_from_the_declarations_unless_configured(tmp_path: Path) -> None:
    from pipeline.communities import detect_platforms
    from pipeline.config import load_settings

    def detected(**overrides: dict) -> list[str]:
        return detect_platforms(load_settings(data_dir=tmp_path, environ={}, overrides=overrides))

    # unset: the platforms declared without native communities (pipeline.platforms)
    assert detected() == ["bluesky", "x"]
    # set: that list instead; [] turns detection off
    assert detected(communities={"detect_platforms": ["x"]}) == ["x"]
    assert detected(communities={"detect_platforms": []}) == []
    # a platform whose section says community = "detected" is added either way
    assert detected(mastodon={"community": "detected"}) == ["bluesky", "x", "mastodon"]
    both = {"communities": {"detect_platforms": []}, "mastodon": {"community": "detected"}}
    assert detected(**both) == ["mastodon"]


def _as_mastodon(row: dict) -> dict:
    moved = {
        k: v.replace("x:", "mastodon:", 1) if k.endswith("_id") and isinstance(v, str) else v
        for k, v in row.items()
    }
    return {**moved, "post_id": row["post_id"].replace("x:", "mastodon:", 1), "platform": "mastodon"}


def test_the_interaction_edges_follow_the_detected_platforms(tmp_path: Path) -> None:
    x_rows = group_rows(0, GROUPS, ("a0", "b0"))
    rows = x_rows + [_as_mastodon(r) for r in x_rows]
    query = "select platform, count(*) as edges from int_interaction_edges group by all order by all"
    # default: x is declared without native communities, mastodon uses instances
    con = build_warehouse(tmp_path / "default", rows)
    assert con.execute("select * from cfg_detect_platforms order by all").fetchall() == [("bluesky",), ("x",)]
    # each group of 6 is a clique (15 edges), plus the bridge a0-b0
    assert con.execute(query).fetchall() == [("x", 31)]
    overrides = {"communities": {"detect_platforms": []}, "mastodon": {"community": "detected"}}
    con = build_warehouse(tmp_path / "mastodon", rows, overrides=overrides)
    assert con.execute("select * from cfg_detect_platforms").fetchall() == [("mastodon",)]
    assert con.execute(query).fetchall() == [("mastodon", 31)]
    detected = con.execute("select distinct platform from int_detected_communities").fetchall()
    assert detected == [("mastodon",)]
