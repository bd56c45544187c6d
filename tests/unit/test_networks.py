"""`ripple export network`: the files open with networkx and their node and edge counts equal those computed
independently from the fixture's items (tests/unit/test_report_warehouse.py)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import networkx as nx
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.networks import export_network

sys.path.insert(0, str(Path(__file__).parent))
from test_report_warehouse import REPORT_WEEK, build_warehouse, fixture_settings, walk  # noqa: E402

START, END = pd.Timestamp("2026-03-02", tz="UTC"), pd.Timestamp("2026-03-09", tz="UTC")


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    settings = fixture_settings(tmp_path_factory.mktemp("networks"))
    built = build_warehouse(settings)
    posts = built.posts
    week = posts[(posts["created_at"] >= START) & (posts["created_at"] < END)]
    return SimpleNamespace(settings=settings, posts=posts, week=week)


def _interaction(posts: pd.DataFrame, week: pd.DataFrame) -> tuple[set[str], Counter]:
    author = dict(zip(posts["post_id"], posts["author_id"], strict=True))
    edges: Counter = Counter()
    for a, parent, shared in zip(week["author_id"], week["parent_id"], week["shared_id"], strict=True):
        target = author.get(parent if isinstance(parent, str) else shared)
        if isinstance(a, str) and isinstance(target, str) and target != a:
            edges[(a, target)] += 1
    nodes = set(week["author_id"].dropna()) | {t for _, t in edges}
    return nodes, edges


@pytest.mark.parametrize("fmt", ["gexf", "graphml", "csv"])
def test_interaction_network(wh: SimpleNamespace, fmt: str, tmp_path: Path) -> None:
    paths = export_network(
        wh.settings, kind="interaction", fmt=fmt, week=REPORT_WEEK, output=tmp_path / f"i.{fmt}"
    )
    nodes, edges = _interaction(wh.posts, wh.week)
    if fmt == "csv":
        n = pd.read_csv(paths[0])
        e = pd.read_csv(paths[1])
        assert (len(n), len(e), int(e["weight"].sum())) == (len(nodes), len(edges), sum(edges.values()))
        assert (e["replies"] + e["shares"] == e["weight"]).all()
        return
    g = nx.read_gexf(paths[0]) if fmt == "gexf" else nx.read_graphml(paths[0])
    assert g.is_directed()
    assert (g.number_of_nodes(), g.number_of_edges()) == (len(nodes), len(edges))
    assert sum(d["weight"] for *_, d in g.edges(data=True)) == sum(edges.values())
    # authors are pseudonymised: no raw author id of the fixture appears
    assert not set(g.nodes) & set(wh.posts["author_id"].dropna())


def _flows(posts: pd.DataFrame, week: pd.DataFrame) -> Counter:
    community = dict(zip(posts["post_id"], posts["community"].fillna("(no community)"), strict=True))
    roots = week[week["parent_id"].isna() & week["shared_id"].isna()]["post_id"]
    flows: Counter = Counter()
    for root in roots:
        reached = {community[p] for p, d in walk(posts, root).items() if d > 0} - {community[root]}
        for c in reached:
            flows[(f"demo:{community[root]}", f"demo:{c}")] += 1
    return flows


def test_community_flow_network(wh: SimpleNamespace, tmp_path: Path) -> None:
    [path] = export_network(
        wh.settings, kind="community-flow", fmt="gexf", week=REPORT_WEEK, output=tmp_path / "f.gexf"
    )
    g = nx.read_gexf(path)
    flows = _flows(wh.posts, wh.week)
    assert {(s, t): d["weight"] for s, t, d in g.edges(data=True)} == dict(flows)
    communities = {f"demo:{c}" for c in wh.week["community"].fillna("(no community)")}
    assert set(g.nodes) == communities | {n for pair in flows for n in pair}
    assert g.nodes["demo:c/alpha"]["label"] == "c/alpha"
    assert g.nodes["demo:c/alpha"]["items"] == (wh.week["community"] == "c/alpha").sum()


def test_cascade_network_and_the_cli(wh: SimpleNamespace, tmp_path: Path) -> None:
    sizes = {r: len(walk(wh.posts, r)) for r in wh.week[wh.week["kind"] == "post"]["post_id"]}
    root = max(sorted(sizes), key=lambda r: sizes[r])
    out = tmp_path / "c.graphml"
    args = [
        "export",
        "network",
        "--kind",
        "cascade",
        "--root",
        root,
        "--format",
        "graphml",
        "--output",
        str(out),
    ]
    result = CliRunner().invoke(app, [*args, "--data-dir", str(wh.settings.data_dir)])
    assert result.exit_code == 0, result.output
    g = nx.read_graphml(out)
    depth = walk(wh.posts, root)
    assert (g.number_of_nodes(), g.number_of_edges()) == (len(depth), len(depth) - 1)
    assert nx.is_arborescence(g)
    assert {n: d["depth"] for n, d in g.nodes(data=True)} == depth
    bad = CliRunner().invoke(
        app, ["export", "network", "--kind", "cascade", "--data-dir", str(wh.settings.data_dir)]
    )
    assert bad.exit_code != 0 and "--root" in bad.output
    bad = CliRunner().invoke(
        app, ["export", "network", "--kind", "interaction", "--format", "pdf", "--week", REPORT_WEEK]
    )
    assert bad.exit_code != 0 and "unknown format" in bad.output
