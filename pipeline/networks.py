"""The week's networks for Gephi, Cytoscape or networkx (``ripple export network``).

* ``interaction``: authors; a directed edge from the author of an item to the author of the item it replies to or
  shares, weighted by how often that week (``replies`` and ``shares`` apart). Node attributes: the community the
  author posted in most that week and their items. Ids are the warehouse's author ids, pseudonymised unless
  ``privacy.pseudonymize`` is off.
* ``community-flow``: communities (``platform:community``); a directed edge from a cascade's origin community to
  every other community its items were posted in, weighted by the cascades that travelled that way, with their
  ``items`` posted there and how many of them ``escaped``. Node attributes: items, cascades, escaped cascades.
* ``cascade``: one item's tree (``root``): the items of the cascade, edges from tree parent to child (reply or
  share), with community, kind, depth and time.

Formats: GEXF and GraphML (networkx writers; the GEXF date is the week's, so the same warehouse gives the same
file) or CSV (``<name>.nodes.csv`` and ``<name>.edges.csv``). The SQL is in ``sql/report/network_*.sql`` and
``sql/report/cascade_trees.sql``; the warehouse is opened read-only, as the report does.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd

from pipeline.config import Settings
from pipeline.db import connect_readonly
from pipeline.errors import RippleError
from pipeline.report.db import Warehouse
from pipeline.report.queries import NO_COMMUNITY, cascade_trees
from pipeline.report.weeks import IsoWeek
from pipeline.versions import published_path

KINDS = ("interaction", "community-flow", "cascade")
FORMATS = ("gexf", "graphml", "csv")


def _clean(value: Any) -> Any:
    """Attribute values the writers accept: no None/NaN, numpy scalars as Python numbers, times as text."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def _graph(nodes: pd.DataFrame, edges: pd.DataFrame, name: str) -> nx.DiGraph:
    g = nx.DiGraph(name=name)
    for rec in nodes.to_dict("records"):
        node = rec.pop("id")
        g.add_node(node, **{k: v for k, v in ((k, _clean(v)) for k, v in rec.items()) if v is not None})
    for rec in edges.to_dict("records"):
        source, target = rec.pop("source"), rec.pop("target")
        for end in (source, target):
            if end not in g:
                g.add_node(end)
        g.add_edge(
            source, target, **{k: v for k, v in ((k, _clean(v)) for k, v in rec.items()) if v is not None}
        )
    return g


def interaction_network(wh: Warehouse, week: IsoWeek) -> nx.DiGraph:
    nodes = wh.df("network_interaction_nodes", start=week.start, end=week.end)
    nodes["label"] = nodes["id"]
    edges = wh.df("network_interaction_edges", start=week.start, end=week.end)
    return _graph(nodes, edges, f"interaction {week.label}")


def community_flow_network(wh: Warehouse, week: IsoWeek) -> nx.DiGraph:
    nodes = wh.df("network_flow_nodes", week=week.label, no_community=NO_COMMUNITY)
    nodes = nodes.rename(columns={"community": "label"})
    edges = wh.df("network_flow_edges", week=week.label, no_community=NO_COMMUNITY)
    return _graph(nodes, edges, f"community flow {week.label}")


def cascade_network(wh: Warehouse, root: str) -> nx.DiGraph:
    tree = cascade_trees(wh, [root])
    if tree.empty:
        raise RippleError(f"no cascade with root {root!r} in the warehouse (root ids look like 'demo:…')")
    nodes = tree.rename(columns={"post_id": "id"}).drop(columns=["root_id", "parent_id"])
    nodes["label"] = nodes["id"]
    edges = tree.dropna(subset=["parent_id"])[["parent_id", "post_id"]]
    edges.columns = ["source", "target"]
    return _graph(nodes, edges, f"cascade {root}")


def write_network(g: nx.DiGraph, path: Path, fmt: str, when: str) -> list[Path]:
    """Write ``g`` as ``fmt`` to ``path`` (CSV: two files next to it); returns the files written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "gexf":
        text = "\n".join(nx.generate_gexf(g))
        text = re.sub(r'lastmodifieddate="[^"]*"', f'lastmodifieddate="{when}"', text, count=1)
        path.write_text(text + "\n", encoding="utf-8")
        return [path]
    if fmt == "graphml":
        nx.write_graphml(g, path)
        return [path]
    nodes = pd.DataFrame([{"id": n, **a} for n, a in g.nodes(data=True)])
    edges = pd.DataFrame([{"source": s, "target": t, **a} for s, t, a in g.edges(data=True)])
    stem = path.with_suffix("")
    written = [stem.with_name(stem.name + ".nodes.csv"), stem.with_name(stem.name + ".edges.csv")]
    nodes.to_csv(written[0], index=False, lineterminator="\n")
    edges.reindex(columns=edges.columns if len(edges.columns) else ["source", "target"]).to_csv(
        written[1], index=False, lineterminator="\n"
    )
    return written


def build_network(wh: Warehouse, kind: str, week: IsoWeek | None, root: str | None) -> nx.DiGraph:
    if kind == "cascade":
        if not root:
            raise RippleError("--kind cascade needs --root POST_ID")
        return cascade_network(wh, root)
    if kind not in KINDS:
        raise RippleError(f"unknown network kind {kind!r}: one of {', '.join(KINDS)}")
    if week is None:
        raise RippleError(f"--kind {kind} needs --week YYYY-Www")
    return interaction_network(wh, week) if kind == "interaction" else community_flow_network(wh, week)


def export_network(
    settings: Settings,
    *,
    kind: str,
    fmt: str,
    week: str | None = None,
    output: Path | None = None,
    root: str | None = None,
) -> list[Path]:
    """Write one network of the published warehouse; default path ``<data_dir>/exports/<week>/network_<kind>``."""
    if fmt not in FORMATS:
        raise RippleError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    iso = IsoWeek.parse(week) if week else None
    path = published_path(settings)  # on an object store: the current version, cached (pipeline.versions)
    if not path.exists():
        raise RippleError(f"no warehouse at {path}: run `ripple run` or `ripple build` first")
    con = connect_readonly(path)  # as the report: read-only, UTC, no access to other files
    try:
        g = build_network(Warehouse(con), kind, iso, root)
    finally:
        con.close()
    if output is None:
        name = f"network_{kind.replace('-', '_')}" + (
            f"_{re.sub(r'[^A-Za-z0-9_.-]', '_', root)}" if root else ""
        )
        folder = iso.label if iso else "cascades"
        output = settings.data_dir / "exports" / folder / f"{name}.{fmt}"
    return write_network(g, output, fmt, str(iso.sunday) if iso else "2000-01-01")
