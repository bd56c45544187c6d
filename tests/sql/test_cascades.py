"""fct_cascades against networkx computed independently: random trees, stars, chains, a real Reddit thread."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from .conftest import T0, build_warehouse, post, records

METRICS = ("size", "unique_users", "depth", "thread_depth", "share_depth", "max_breadth", "wiener_index")


def expected_metrics(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every cascade metric per root, computed with networkx from the rows' parent links."""
    graph = nx.DiGraph()
    by_id = {r["post_id"]: r for r in rows}
    graph.add_nodes_from(by_id)
    for r in rows:
        parent = r["parent_id"] or r["shared_id"]
        if parent:
            graph.add_edge(parent, r["post_id"], share=r["parent_id"] is None)
    out = {}
    for root in (v for v in graph if graph.in_degree(v) == 0):
        tree = graph.subgraph(nx.descendants(graph, root) | {root})
        depth = nx.single_source_shortest_path_length(tree, root)
        hops = {root: (0, 0)}
        for u, v in nx.bfs_edges(tree, root):
            reply, share = hops[u]
            hops[v] = (reply, share + 1) if tree.edges[u, v]["share"] else (reply + 1, share)
        size = tree.number_of_nodes()
        start = by_id[root]["created_at"]
        times = sorted((by_id[v]["created_at"] - start).total_seconds() / 60 for v in tree)
        first_at_depth = {
            k: min(
                ((by_id[v]["created_at"] - start).total_seconds() / 60 for v, d in depth.items() if d >= k),
                default=None,
            )
            for k in (1, 2, 3, 5, 10)
        }
        wiener = nx.wiener_index(tree.to_undirected()) if size > 1 else 0
        out[root] = {
            "size": size,
            "unique_users": len({by_id[v]["author_id"] for v in tree} - {None}),
            "depth": max(depth.values()),
            "thread_depth": max(h[0] for h in hops.values()),
            "share_depth": max(h[1] for h in hops.values()),
            "max_breadth": max(Counter(depth.values()).values()),
            "wiener_index": int(wiener),
            "structural_virality": 2 * wiener / (size * (size - 1)) if size > 1 else None,
            **{f"minutes_to_depth_{k}": v for k, v in first_at_depth.items()},
            **{f"minutes_to_size_{k}": (times[k - 1] if size >= k else None) for k in (10, 100, 1000)},
        }
    return out


def random_forest(seed: int, trees: int = 12, max_size: int = 160) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for t in range(trees):
        size = rng.choice([1, 2, 3, rng.randint(4, 30), rng.randint(30, max_size)])
        ids = [f"reddit:t{seed}_{t}_{i}" for i in range(size)]
        created = [0.0]
        for i in range(size):
            kw: dict[str, Any] = {"author_id": rng.choice([None, *(f"u{k}" for k in range(12))])}
            if i:
                parent = rng.randrange(max(0, i - rng.choice([1, 3, i])), i)
                created.append(created[parent] + rng.uniform(0.5, 90))
                if rng.random() < 0.2:
                    kw.update(shared_id=ids[parent], share_type="crosspost", kind="share")
                else:
                    kw.update(parent_id=ids[parent], root_id=ids[0])
            rows.append(post(ids[i], created_at=t * 600 + created[i], community="r/test", **kw))
    return rows


def assert_matches(got: dict[str, dict[str, Any]], want: dict[str, dict[str, Any]]) -> None:
    assert set(got) == set(want)
    for root, expected in want.items():
        actual = got[root]
        for key, value in expected.items():
            if value is None:
                assert actual[key] is None, (root, key)
            elif isinstance(value, float):
                assert actual[key] == pytest.approx(value, rel=1e-9, abs=1e-6), (root, key)
            else:
                assert actual[key] == value, (root, key)


def cascades(con) -> dict[str, dict[str, Any]]:
    return {r["root_id"]: r for r in records(con, "select * from fct_cascades")}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_forests_match_networkx(tmp_path: Path, seed: int) -> None:
    rows = random_forest(seed)
    con = build_warehouse(tmp_path, rows)
    assert_matches(cascades(con), expected_metrics(rows))
    assert con.execute("select count(*) from fct_cascade_quality").fetchone()[0] == 0


@pytest.mark.parametrize("n", [2, 3, 7, 50, 1200])
def test_star_and_chain_virality(tmp_path: Path, n: int) -> None:
    star = [post("x:s0", author_id="a")] + [
        post(f"x:s{i}", shared_id="x:s0", share_type="retweet", author_id=f"u{i}", created_at=i)
        for i in range(1, n)
    ]
    chain = [post("reddit:c0", author_id="a")] + [
        post(
            f"reddit:c{i}",
            parent_id=f"reddit:c{i - 1}",
            root_id="reddit:c0",
            author_id=f"u{i % 2}",
            created_at=i,
        )
        for i in range(1, n)
    ]
    con = build_warehouse(tmp_path, star + chain)
    got = cascades(con)
    assert got["x:s0"]["structural_virality"] == pytest.approx(2 * (n - 1) / n)
    assert got["x:s0"]["max_breadth"] == n - 1
    assert got["reddit:c0"]["max_breadth"] == 1
    assert got["x:s0"]["reshare_tree"] == "api_star"
    assert got["reddit:c0"]["structural_virality"] == pytest.approx((n + 1) / 3)
    assert got["reddit:c0"]["depth"] == got["reddit:c0"]["thread_depth"] == n - 1
    assert got["reddit:c0"]["reshare_tree"] == "none"
    assert_matches(got, expected_metrics(star + chain))


def reddit_rows_from_cassette(path: Path) -> list[dict[str, Any]]:
    """Map a PRAW betamax cassette's submission and comments to Post rows (listings and morechildren)."""
    cassette = json.loads(path.read_text(encoding="utf-8"))
    things: dict[str, dict[str, Any]] = {}

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
        elif isinstance(node, dict):
            if (
                node.get("kind") in ("t1", "t3")
                and isinstance(node.get("data"), dict)
                and "id" in node["data"]
            ):
                data = node["data"]
                things[f"{node['kind']}_{data['id']}"] = data
                visit(data.get("replies"))
            elif node.get("kind") == "Listing":
                visit(node["data"]["children"])
            elif "json" in node:
                visit(node["json"].get("data", {}).get("things", []))

    for interaction in cassette["interactions"][1:]:
        body = interaction["response"]["body"]["string"]
        if body.strip():
            visit(json.loads(body))
    rows = []
    for fullname, data in things.items():
        author = data.get("author")
        common = {
            "created_at": datetime.fromtimestamp(data["created_utc"], UTC),
            "author_id": None if author in (None, "[deleted]") else author,
            "community": "r/" + data["subreddit"].lower(),
        }
        if fullname.startswith("t3_"):
            rows.append(post(f"reddit:{fullname}", root_id=f"reddit:{fullname}", **common))
        else:
            rows.append(
                post(
                    f"reddit:{fullname}",
                    parent_id=f"reddit:{data['parent_id']}",
                    root_id=f"reddit:{data['link_id']}",
                    **common,
                )
            )
    return rows


def test_real_reddit_comment_tree_matches_networkx(tmp_path: Path, realdata: Path) -> None:
    rows = reddit_rows_from_cassette(realdata / "reddit_praw" / "TestCommentForest.test_replace__all.json")
    assert sum(r["post_id"].startswith("reddit:t1_") for r in rows) == 541
    con = build_warehouse(tmp_path, rows)
    got = cascades(con)
    want = expected_metrics(rows)
    assert_matches(got, want)
    thread = got["reddit:t3_3hahrw"]
    assert thread["size"] == 542
    assert thread["depth"] == 12
    assert thread["is_complete"] and thread["missing_parents"] == 0


def test_real_reddit_thread_with_unfetched_parents(tmp_path: Path, realdata: Path) -> None:
    """A context=100 permalink fetch misses most of the thread: orphans hang under the submission."""
    rows = reddit_rows_from_cassette(
        realdata / "reddit_praw" / "TestComment.test_refresh__removed_comment.json"
    )
    ids = {r["post_id"] for r in rows}
    orphans = [r for r in rows if r["parent_id"] and r["parent_id"] not in ids]
    con = build_warehouse(tmp_path, rows)
    roots = records(con, "select root_id, size, missing_parents, is_complete from fct_cascades")
    assert len(roots) == 1
    assert roots[0]["size"] == len(rows)
    assert roots[0]["missing_parents"] == len(orphans) > 0
    assert roots[0]["is_complete"] is False
    quality = records(con, "select post_id, problem, root_id from fct_cascade_quality")
    assert {q["post_id"] for q in quality} == {r["post_id"] for r in orphans}
    assert {(q["problem"], q["root_id"]) for q in quality} == {("missing_parent", roots[0]["root_id"])}


def test_orphans_cycles_self_parents_and_runaway_depth(tmp_path: Path) -> None:
    rows = [
        post("reddit:t3_a", author_id="a"),
        post("reddit:t1_b", parent_id="reddit:t3_a", root_id="reddit:t3_a", author_id="b", created_at=1),
        # parent not fetched, thread root known: hangs under the root
        post(
            "reddit:t1_orphan", parent_id="reddit:t1_gone", root_id="reddit:t3_a", author_id="c", created_at=2
        ),
        post(
            "reddit:t1_kid", parent_id="reddit:t1_orphan", root_id="reddit:t3_a", author_id="d", created_at=3
        ),
        # parent and thread root both unknown: starts its own cascade
        post("reddit:t1_lost", parent_id="reddit:t1_nowhere", root_id="reddit:t3_nowhere", author_id="e"),
        # replies to itself
        post("reddit:t1_self", parent_id="reddit:t1_self", root_id="reddit:t1_self", author_id="f"),
        # a loop of three and an item hanging below it
        post("reddit:t1_l1", parent_id="reddit:t1_l3", root_id="reddit:t3_loop"),
        post("reddit:t1_l2", parent_id="reddit:t1_l1", root_id="reddit:t3_loop"),
        post("reddit:t1_l3", parent_id="reddit:t1_l2", root_id="reddit:t3_loop"),
        post("reddit:t1_below", parent_id="reddit:t1_l2", root_id="reddit:t3_loop"),
        # a chain of 9 below a root, with cascades.max_depth = 6
        post("reddit:t3_deep", author_id="g"),
        *(
            post(
                f"reddit:t1_d{i}",
                parent_id="reddit:t3_deep" if i == 1 else f"reddit:t1_d{i - 1}",
                root_id="reddit:t3_deep",
                created_at=i,
            )
            for i in range(1, 10)
        ),
    ]
    con = build_warehouse(tmp_path, rows, overrides={"cascades": {"max_depth": 6}})
    got = cascades(con)
    assert set(got) == {"reddit:t3_a", "reddit:t1_lost", "reddit:t1_self", "reddit:t3_deep"}
    a = got["reddit:t3_a"]
    assert (a["size"], a["depth"], a["missing_parents"], a["is_complete"]) == (4, 2, 1, False)
    assert got["reddit:t1_lost"]["missing_parents"] == 1 and got["reddit:t1_lost"]["size"] == 1
    deep = got["reddit:t3_deep"]
    assert (deep["size"], deep["depth"], deep["truncated_items"], deep["is_complete"]) == (7, 6, 3, False)
    quality = {(r["post_id"], r["problem"]): r for r in records(con, "select * from fct_cascade_quality")}
    assert set(quality) == {
        ("reddit:t1_orphan", "missing_parent"),
        ("reddit:t1_lost", "missing_parent"),
        ("reddit:t1_self", "self_parent"),
        ("reddit:t1_l1", "parent_cycle"),
        ("reddit:t1_l2", "parent_cycle"),
        ("reddit:t1_l3", "parent_cycle"),
        ("reddit:t1_below", "parent_cycle"),
        ("reddit:t1_d7", "depth_exceeded"),
        ("reddit:t1_d8", "depth_exceeded"),
        ("reddit:t1_d9", "depth_exceeded"),
    }
    assert quality[("reddit:t1_orphan", "missing_parent")]["root_id"] == "reddit:t3_a"
    assert quality[("reddit:t1_d9", "depth_exceeded")]["root_id"] == "reddit:t3_deep"


def test_reshare_tree_kinds(tmp_path: Path) -> None:
    rows = [
        # X: only retweets of the original -> api_star
        post("x:1", author_id="a"),
        post("x:2", shared_id="x:1", share_type="retweet", author_id="b", created_at=1),
        post("x:3", shared_id="x:1", share_type="retweet", author_id="c", created_at=2),
        post("x:4", parent_id="x:1", root_id="x:1", author_id="d", created_at=3),
        # X: a quote, retweeted -> the share tree is reconstructed from explicit links
        post("x:10", author_id="a"),
        post("x:11", shared_id="x:10", share_type="quote", author_id="b", created_at=1),
        post("x:12", shared_id="x:11", share_type="retweet", author_id="c", created_at=2),
        # a quote that also replies stays in the thread it replies in
        post("x:20", author_id="a"),
        post("x:21", parent_id="x:20", root_id="x:20", shared_id="x:10", share_type="quote", author_id="e"),
    ]
    con = build_warehouse(tmp_path, rows)
    got = cascades(con)
    assert got["x:1"]["reshare_tree"] == "api_star"
    assert got["x:10"]["reshare_tree"] == "reconstructed"
    assert (got["x:10"]["share_depth"], got["x:10"]["size"]) == (2, 3)
    assert got["x:20"]["reshare_tree"] == "none"
    assert (got["x:20"]["size"], got["x:20"]["thread_depth"]) == (2, 1)
    assert T0.weekday() == 0


def test_lone_items_have_breadth_one(tmp_path: Path) -> None:
    """Breadth counts the root's level (Vosoughi, Roy & Aral 2018): a lone item is a cascade of breadth 1."""
    rows = [post(f"reddit:lone{i}", author_id=f"u{i}", created_at=i) for i in range(3)]
    rows += [post("reddit:p0"), post("reddit:p1", parent_id="reddit:p0", root_id="reddit:p0", created_at=5)]
    got = cascades(build_warehouse(tmp_path, rows))
    assert {r: got[r]["max_breadth"] for r in got} == {
        "reddit:lone0": 1,
        "reddit:lone1": 1,
        "reddit:lone2": 1,
        "reddit:p0": 1,
    }
    assert all(got[f"reddit:lone{i}"]["size"] == 1 for i in range(3))
