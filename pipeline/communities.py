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

Each week's partition is stored with a digest of the week's graph (``graph_digest``). When the database already holds
the partitions of an earlier build (an incremental build works on a copy of the published warehouse), a week whose
graph is unchanged reuses its partition instead of running Leiden again: Leiden is deterministic for a given graph,
so the result is the one a full build computes. Labels are matched again for every week (cheap).
"""

from __future__ import annotations

import hashlib
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
        ("graph_digest", pa.string()),
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
    # ties are broken by the group's smallest member, so labels depend on the data only
    first = {gid: min(users) for gid, users in groups.items()}
    for _neg_j, _neg_s, gid, label in sorted(candidates, key=lambda c: (c[0], c[1], first[c[2]], c[3])):
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


Reused = dict[tuple[str, Any], tuple[str, list[set[str]], dict[str, Any]]]  # digest, groups, partition row


def graph_digest(edges: list[tuple[str, str, float]]) -> str:
    """What identifies a week's graph (its edges in the order of EDGES_QUERY)."""
    digest = hashlib.sha256()
    for a, b, w in edges:
        digest.update(f"{a}\t{b}\t{w!r}\n".encode())
    return digest.hexdigest()


def _week_groups(
    edges: list[tuple[str, str, float]], params: DetectionParams, reused: tuple | None
) -> tuple[list[set[str]], dict[str, Any]]:
    """The week's communities (sets of users) and its partition row: reused when the graph is the same."""
    digest = graph_digest(edges)
    if reused is not None and reused[0] == digest:
        return reused[1], reused[2]
    part = leiden_week(
        edges,
        resolution=params.resolution,
        seed=params.seed,
        min_size=params.min_size,
        n_iterations=params.n_iterations,
    )
    groups: dict[int, set[str]] = defaultdict(set)
    for user, gid in part.members.items():
        groups[gid].add(user)
    return list(groups.values()), {**part.row, "graph_digest": digest}


def partition_weeks(
    by_week: dict[tuple[str, Any], list[tuple[str, str, float]]],
    params: DetectionParams,
    reuse: Reused | None = None,
) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """Leiden on every (platform, week) in order, labels carried over from week to week: the two tables' columns.
    ``reuse`` holds earlier partitions by week (their graph digest, groups and row)."""
    community_rows: dict[str, list[Any]] = {name: [] for name in COMMUNITY_SCHEMA.names}
    partition_rows: dict[str, list[Any]] = {name: [] for name in PARTITION_SCHEMA.names}
    previous: dict[str, dict[str, set[str]]] = {}
    next_label: dict[str, int] = defaultdict(lambda: 1)
    for platform, week_start in sorted(by_week):
        found = (reuse or {}).get((platform, week_start))
        group_list, part_row = _week_groups(by_week[(platform, week_start)], params, found)
        groups = dict(enumerate(group_list))
        labels, next_label[platform] = match_labels(
            groups, previous.get(platform, {}), next_label[platform], params.min_jaccard
        )
        previous[platform] = {labels[g]: users for g, users in groups.items()}
        iso_week = _iso_week(week_start)
        member_label = sorted((user, labels[g]) for g, users in groups.items() for user in users)
        for user, label in member_label:
            values = (platform, week_start, iso_week, user, label)
            for name, value in zip(COMMUNITY_SCHEMA.names, values, strict=True):
                community_rows[name].append(value)
        row = {"platform": platform, "week_start": week_start, "iso_week": iso_week, **part_row}
        for name in PARTITION_SCHEMA.names:
            partition_rows[name].append(row[name])
    return community_rows, partition_rows


def _earlier_partitions(con: duckdb.DuckDBPyConnection) -> Reused:
    """The partitions already in the database (an incremental build's copy of the published warehouse)."""
    tables = {
        r[0]
        for r in con.execute("select table_name from duckdb_tables() where schema_name = 'main'").fetchall()
    }
    if not {"int_detected_communities", "int_detected_partitions"} <= tables:
        return {}
    columns = {r[0] for r in con.execute("describe int_detected_partitions").fetchall()}
    if "graph_digest" not in columns:
        return {}
    groups: dict[tuple[str, Any], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for platform, week_start, user, label in con.execute(
        "select platform, week_start, author_id, community from int_detected_communities"
    ).fetchall():
        groups[(platform, week_start)][label].add(user)
    reused: Reused = {}
    names = [n for n in PARTITION_SCHEMA.names if n not in ("platform", "week_start", "iso_week")]
    for record in con.execute(
        f"select platform, week_start, {', '.join(names)} from int_detected_partitions"
    ).fetchall():
        key = (record[0], record[1])
        row = dict(zip(names, record[2:], strict=True))
        reused[key] = (row["graph_digest"], list(groups[key].values()), row)
    return reused


def detect_communities(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, Any]:
    """Build hook: write int_detected_communities and int_detected_partitions (empty if nothing to detect)."""
    platforms = detect_platforms(settings)
    by_week = _weekly_edges(con) if platforms else {}
    reuse = _earlier_partitions(con) if by_week else {}
    community_rows, partition_rows = partition_weeks(by_week, DetectionParams.from_settings(settings), reuse)
    communities = pa.Table.from_pydict(community_rows, schema=COMMUNITY_SCHEMA)  # noqa: F841 (used by name)
    partitions = pa.Table.from_pydict(partition_rows, schema=PARTITION_SCHEMA)  # noqa: F841
    con.execute("create or replace table int_detected_communities as select * from communities")
    con.execute("create or replace table int_detected_partitions as select * from partitions")
    return {
        "platforms": platforms,
        "weeks": len(by_week),
        "assigned_users": len(community_rows["author_id"]),
        "weeks_reused": len(set(partition_rows["graph_digest"]) & {r[0] for r in reuse.values()}),
    }
