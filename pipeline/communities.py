"""Communities for platforms that have none of their own (X, Bluesky): Leiden on the weekly interaction graph.

Runs as a build step after staging (the ``detect_communities`` hook of ``pipeline.warehouse.default_hooks()``),
once the model ``int_interaction_edges`` exists. For every platform whose communities are detected
(:func:`detect_platforms`) and every ISO week that model holds the undirected, weighted graph of users who
interacted that week (a reply, quote or reshare by user a of an item by user b adds 1 to the edge a-b; self
interactions, deleted authors and configured bots are left out), runs Leiden (``leidenalg``, modularity with a
resolution parameter, fixed seed) and stores:

* ``int_detected_communities``: one row per (platform, week, user) placed in a community of at least
  ``min_size`` users; ``int_posts`` uses it as the community of that user's items of that week.
* ``int_detected_partitions``: one row per (platform, week) with the algorithm, its parameters, graph size,
  number of communities and modularity (published as ``dim_detected_partitions``).

Community labels are ``leiden-<n>``. A week's community inherits the label of last week's community it shares
the most users with (when they share at least ``match_jaccard`` of their union, default 0.2), so a community
keeps its name while it persists and membership windows spanning several weeks stay meaningful.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import duckdb
import igraph as ig
import leidenalg
import pyarrow as pa

from pipeline.config import Settings
from pipeline.platforms import detected_platforms

ALGORITHM = "leiden/RBConfigurationVertexPartition"
LABEL_PREFIX = "leiden-"

COMMUNITY_SCHEMA = pa.schema(
    [
        ("platform", pa.string()),
        ("week_start", pa.date32()),
        ("iso_week", pa.string()),
        ("author_id", pa.string()),
        ("community", pa.string()),
    ]
)

PARTITION_SCHEMA = pa.schema(
    [
        ("platform", pa.string()),
        ("week_start", pa.date32()),
        ("iso_week", pa.string()),
        ("algorithm", pa.string()),
        ("resolution", pa.float64()),
        ("seed", pa.int64()),
        ("min_size", pa.int64()),
        ("n_iterations", pa.int64()),
        ("users", pa.int64()),
        ("edges", pa.int64()),
        ("total_weight", pa.float64()),
        ("communities", pa.int64()),
        ("assigned_users", pa.int64()),
        ("modularity", pa.float64()),
        ("quality", pa.float64()),
    ]
)

# the weekly interaction graph, built by the model sql/intermediate/int_interaction_edges.sql
EDGES_QUERY = "select platform, week_start, user_a, user_b, weight from int_interaction_edges order by all"


@dataclass
class WeekPartition:
    members: dict[str, int]  # user -> community index (only communities of at least min_size users)
    row: dict[str, Any]


def leiden_week(
    edges: list[tuple[str, str, float]],
    *,
    resolution: float,
    seed: int,
    min_size: int,
    n_iterations: int = -1,
) -> WeekPartition:
    """Partition one week's graph; vertices are sorted by user id, so results depend on the data only."""
    users = sorted({u for a, b, _ in edges for u in (a, b)})
    index = {u: i for i, u in enumerate(users)}
    graph = ig.Graph(n=len(users), edges=[(index[a], index[b]) for a, b, _ in edges], directed=False)
    weights = [w for _, _, w in edges]
    graph.es["weight"] = weights
    partition = leidenalg.find_partition(
        graph,
        leidenalg.RBConfigurationVertexPartition,
        weights="weight",
        resolution_parameter=resolution,
        seed=seed,
        n_iterations=n_iterations,
    )
    membership = list(partition.membership)
    modularity = graph.modularity(membership, weights="weight") if graph.ecount() else 0.0
    sizes: dict[int, int] = defaultdict(int)
    for c in membership:
        sizes[c] += 1
    members = {users[i]: c for i, c in enumerate(membership) if sizes[c] >= min_size}
    row = {
        "algorithm": ALGORITHM,
        "resolution": float(resolution),
        "seed": int(seed),
        "min_size": int(min_size),
        "n_iterations": int(n_iterations),
        "users": len(users),
        "edges": graph.ecount(),
        "total_weight": float(sum(weights)),
        "communities": len({c for c in members.values()}),
        "assigned_users": len(members),
        "modularity": float(modularity),
        "quality": float(partition.quality()),
    }
    return WeekPartition(members=members, row=row)


def match_labels(
    groups: dict[int, set[str]], previous: dict[str, set[str]], next_label: int, min_jaccard: float
) -> tuple[dict[int, str], int]:
    """Stable labels: each group greedily inherits the label of the most similar group of last week."""
    candidates: list[tuple[float, int, int, str]] = []
    for gid, users in groups.items():
        for label, old in previous.items():
            shared = len(users & old)
            if shared:
                jaccard = shared / len(users | old)
                if jaccard >= min_jaccard:
                    candidates.append((-jaccard, -shared, gid, label))
    labels: dict[int, str] = {}
    taken: set[str] = set()
    for _neg_j, _neg_s, gid, label in sorted(candidates):
        if gid not in labels and label not in taken:
            labels[gid] = label
            taken.add(label)
    # new communities are numbered largest first, ties by their smallest member, so numbering is reproducible
    for gid in sorted(groups, key=lambda g: (-len(groups[g]), min(groups[g]))):
        if gid not in labels:
            labels[gid] = f"{LABEL_PREFIX}{next_label}"
            next_label += 1
    return labels, next_label


def detect_platforms(settings: Settings) -> list[str]:
    """The platforms whose communities are detected (:func:`pipeline.platforms.detected_platforms`: the
    platforms declared without native communities, or ``[communities] detect_platforms`` when set, plus those
    whose section says ``community = "detected"``). The warehouse registers the list as ``cfg_detect_platforms``,
    which ``sql/intermediate/int_interaction_edges.sql`` reads."""
    return detected_platforms(settings)


@dataclass
class DetectionParams:
    resolution: float
    seed: int
    min_size: int
    n_iterations: int
    min_jaccard: float

    @classmethod
    def from_settings(cls, settings: Settings) -> DetectionParams:
        return cls(
            resolution=settings.communities.resolution,
            seed=settings.communities.seed,
            min_size=settings.communities.min_size,
            n_iterations=settings.communities.n_iterations,
            min_jaccard=settings.communities.match_jaccard,
        )


def _weekly_edges(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, Any], list[tuple[str, str, float]]]:
    by_week: dict[tuple[str, Any], list[tuple[str, str, float]]] = defaultdict(list)
    for platform, week_start, user_a, user_b, weight in con.execute(EDGES_QUERY).fetchall():
        by_week[(platform, week_start)].append((user_a, user_b, weight))
    return by_week


def _iso_week(week_start: Any) -> str:
    return f"{week_start.isocalendar().year}-W{week_start.isocalendar().week:02d}"


def partition_weeks(
    by_week: dict[tuple[str, Any], list[tuple[str, str, float]]], params: DetectionParams
) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """Leiden on every (platform, week) in order, labels carried over from week to week: the two tables' columns."""
    community_rows: dict[str, list[Any]] = {name: [] for name in COMMUNITY_SCHEMA.names}
    partition_rows: dict[str, list[Any]] = {name: [] for name in PARTITION_SCHEMA.names}
    previous: dict[str, dict[str, set[str]]] = {}
    next_label: dict[str, int] = defaultdict(lambda: 1)
    for platform, week_start in sorted(by_week):
        part = leiden_week(
            by_week[(platform, week_start)],
            resolution=params.resolution,
            seed=params.seed,
            min_size=params.min_size,
            n_iterations=params.n_iterations,
        )
        groups: dict[int, set[str]] = defaultdict(set)
        for user, gid in part.members.items():
            groups[gid].add(user)
        labels, next_label[platform] = match_labels(
            groups, previous.get(platform, {}), next_label[platform], params.min_jaccard
        )
        previous[platform] = {labels[g]: users for g, users in groups.items()}
        iso_week = _iso_week(week_start)
        for user in sorted(part.members):
            values = (platform, week_start, iso_week, user, labels[part.members[user]])
            for name, value in zip(COMMUNITY_SCHEMA.names, values, strict=True):
                community_rows[name].append(value)
        row = {"platform": platform, "week_start": week_start, "iso_week": iso_week, **part.row}
        for name, value in row.items():
            partition_rows[name].append(value)
    return community_rows, partition_rows


def detect_communities(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, Any]:
    """Build hook: write int_detected_communities and int_detected_partitions (empty if nothing to detect)."""
    platforms = detect_platforms(settings)
    by_week = _weekly_edges(con) if platforms else {}
    community_rows, partition_rows = partition_weeks(by_week, DetectionParams.from_settings(settings))
    communities = pa.Table.from_pydict(community_rows, schema=COMMUNITY_SCHEMA)  # noqa: F841 (used by name)
    partitions = pa.Table.from_pydict(partition_rows, schema=PARTITION_SCHEMA)  # noqa: F841
    con.execute("create or replace table int_detected_communities as select * from communities")
    con.execute("create or replace table int_detected_partitions as select * from partitions")
    return {
        "platforms": platforms,
        "weeks": len(by_week),
        "assigned_users": len(community_rows["author_id"]),
    }
