"""Communities for platforms that have none of their own (X, Bluesky): Leiden on the weekly interaction graph.

Runs as a build step after staging (the ``detect_communities`` hook of ``pipeline.warehouse.default_hooks()``),
once the model ``int_interaction_edges`` exists. For every platform whose communities are detected
(:func:`detect_platforms`) and every ISO week that model holds the undirected, weighted graph of users who
interacted that week (a reply, quote or reshare by user a of an item by user b adds 1 to the edge a-b; self
interactions, deleted authors and configured bots are left out), runs Leiden (igraph's implementation in C,
``Graph.community_leiden``: modularity with a resolution parameter, fixed seed) and stores:

* ``int_detected_communities``: one row per (platform, week, user) placed in a community of at least
  ``min_size`` users; ``int_posts`` uses it as the community of that user's items of that week.
* ``int_detected_partitions``: one row per (platform, week) with the algorithm, its parameters, graph size,
  number of communities and modularity (published as ``dim_detected_partitions``).

Community labels are ``leiden-<n>``. A week's community inherits the label of last week's community it shares
the most users with (when they share at least ``match_jaccard`` of their union, default 0.2), so a community
keeps its name while it persists and membership windows spanning several weeks stay meaningful.

Each week's partition is stored with an MD5 digest of the week's edges (``graph_digest``). When the database already
holds the partitions of an earlier build (an incremental build works on a copy of the published warehouse), the
weeks before a platform's first changed week keep their rows as they are; from that week on, Leiden runs again only
for weeks whose graph changed, the others reuse their partition (Leiden is deterministic for a given graph), and
labels are matched again from there, continuing the numbering. The result is the one a full build computes.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import duckdb
import igraph as ig
import leidenalg
import pyarrow as pa

from pipeline.config import Settings
from pipeline.platforms import detected_platforms
from pipeline.sqlfiles import sql_string

ALGORITHM = "leiden/igraph-modularity"
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
    # igraph draws from the generator it is given: a seeded one of its own, so the partition depends on the data
    # and the seed only (about 20x faster than leidenalg's optimiser on these graphs, the same quality function)
    ig.set_random_number_generator(random.Random(seed))
    try:
        clustering = graph.community_leiden(
            objective_function="modularity",
            weights="weight",
            resolution=resolution,
            n_iterations=n_iterations,
        )
    finally:
        ig.set_random_number_generator(random)
    membership = list(clustering.membership)
    # the optimised quality: modularity at the resolution, unnormalized (leidenalg's RBConfiguration quality)
    quality = leidenalg.RBConfigurationVertexPartition(
        graph, initial_membership=membership, weights="weight", resolution_parameter=resolution
    ).quality()
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
        "quality": float(quality),
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


def _weekly_edges(
    con: duckdb.DuckDBPyConnection, weeks: set[tuple[str, Any]]
) -> dict[tuple[str, Any], list[tuple[str, str, float]]]:
    """The edges of the given (platform, week)s, by week."""
    by_week: dict[tuple[str, Any], list[tuple[str, str, float]]] = defaultdict(list)
    if not weeks:
        return by_week
    wanted = pa.table(  # noqa: F841 (used by name in the query)
        {"platform": [k[0] for k in weeks], "week_start": pa.array([k[1] for k in weeks], pa.date32())}
    )
    query = EDGES_QUERY.replace(
        " order by all", " semi join wanted using (platform, week_start) order by all"
    )
    for platform, week_start, user_a, user_b, weight in con.execute(query).fetchall():
        by_week[(platform, week_start)].append((user_a, user_b, weight))
    return by_week


def _iso_week(week_start: Any) -> str:
    return f"{week_start.isocalendar().year}-W{week_start.isocalendar().week:02d}"


Reused = dict[tuple[str, Any], tuple[str, list[set[str]], dict[str, Any]]]  # digest, groups, partition row


def _week_groups(
    edges: list[tuple[str, str, float]], params: DetectionParams, reused: tuple | None, digest: str
) -> tuple[list[set[str]], dict[str, Any]]:
    """The week's communities (sets of users) and its partition row: reused when the graph is the same."""
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


@dataclass
class Resume:
    """Where a detection starts: the week digests; when it continues an earlier one, per platform the labelled
    groups of the week before its first changed week and the next new label number, and partitions to reuse."""

    digests: dict[tuple[str, Any], str] = field(default_factory=dict)
    previous: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    next_label: dict[str, int] = field(default_factory=dict)
    reuse: Reused = field(default_factory=dict)


def partition_weeks(
    by_week: dict[tuple[str, Any], list[tuple[str, str, float]]], params: DetectionParams, resume: Resume
) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """Leiden on every (platform, week) in order, labels carried over from week to week: the two tables' columns."""
    reuse = resume.reuse
    community_rows: dict[str, list[Any]] = {name: [] for name in COMMUNITY_SCHEMA.names}
    partition_rows: dict[str, list[Any]] = {name: [] for name in PARTITION_SCHEMA.names}
    previous: dict[str, dict[str, set[str]]] = dict(resume.previous)
    next_label: dict[str, int] = defaultdict(lambda: 1, resume.next_label)
    for platform, week_start in sorted(by_week):
        found = reuse.get((platform, week_start))
        digest = resume.digests[(platform, week_start)]
        group_list, part_row = _week_groups(by_week[(platform, week_start)], params, found, digest)
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


# what identifies a week's graph: its edges, in order
DIGEST_QUERY = (
    "select platform, week_start, md5(string_agg(concat_ws(chr(9), user_a, user_b, weight::varchar), chr(10) "
    "order by user_a, user_b, weight)) from int_interaction_edges group by all"
)


def _resume(
    con: duckdb.DuckDBPyConnection, digests: dict[tuple[str, Any], str]
) -> tuple[Resume, dict[str, Any] | None]:
    """What an earlier detection in this database (an incremental build's copy) lets this one keep: per platform the
    first week whose graph changed (weeks before it keep their rows), and the state to continue from there."""
    resume = Resume(digests=digests)
    tables = {
        r[0]
        for r in con.execute("select table_name from duckdb_tables() where schema_name = 'main'").fetchall()
    }
    if not {"int_detected_communities", "int_detected_partitions"} <= tables or "graph_digest" not in {
        r[0] for r in con.execute("describe int_detected_partitions").fetchall()
    }:
        return resume, None
    names = [n for n in PARTITION_SCHEMA.names if n not in ("platform", "week_start", "iso_week")]
    rows = {
        (r[0], r[1]): dict(zip(names, r[2:], strict=True))
        for r in con.execute(
            f"select platform, week_start, {', '.join(names)} from int_detected_partitions"
        ).fetchall()
    }
    start: dict[str, Any] = {}
    for platform, week in set(rows) | set(digests):
        if (rows.get((platform, week)) or {}).get("graph_digest") != digests.get((platform, week)):
            start[platform] = min(start.get(platform, week), week)
    # labelled groups from the week before each platform's first changed week on; the label numbers used before it
    since = {
        p: max([w for q, w in rows if q == p and w < first], default=first) for p, first in start.items()
    }
    groups: dict[tuple[str, Any], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    used: dict[str, int] = defaultdict(int)
    for platform, week, user, label in con.execute(
        "select platform, week_start, author_id, community from int_detected_communities" + _weeks_from(since)
    ).fetchall():
        groups[(platform, week)][label].add(user)
    for platform, number in con.execute(
        f"select platform, max(cast(substr(community, {len(LABEL_PREFIX) + 1}) as bigint)) "
        f"from int_detected_communities {_weeks_from(start, before=True)} group by platform"
    ).fetchall():
        used[platform] = number or 0
    for platform, first in start.items():
        previous = since[platform]
        resume.previous[platform] = dict(groups[(platform, previous)]) if previous < first else {}
        resume.next_label[platform] = used[platform] + 1
    for key, row in rows.items():
        if key[0] in start and key[1] >= start[key[0]]:
            resume.reuse[key] = (row["graph_digest"], list(groups[key].values()), row)
    return resume, start


def _weeks_from(weeks: dict[str, Any], before: bool = False) -> str:
    """A where clause: the rows of each platform from its week on (``before``: before it)."""
    op = "<" if before else ">="
    clauses = [f"(platform = {sql_string(p)} and week_start {op} '{w}')" for p, w in weeks.items()]
    return " where " + (" or ".join(clauses) if clauses else "false")


def _write(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: dict[str, list[Any]],
    schema: pa.Schema,
    start: dict[str, Any] | None,
) -> None:
    """``table``: the earlier rows of the weeks before each platform's start (platforms without a start: all of
    them), then ``rows``."""
    new = pa.Table.from_pydict(rows, schema=schema)  # noqa: F841 (used by name)
    if start is None:  # no earlier detection in this database
        con.execute(f"create or replace table {table} as select * from new")
        return
    others = " and ".join(f"platform <> {sql_string(p)}" for p in start) if start else "true"
    kept = _weeks_from(start, before=True)
    con.execute(
        f"create or replace table {table} as select * from {table} {kept} or ({others}) "
        "union all by name select * from new"
    )


def detect_communities(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, Any]:
    """Build hook: write int_detected_communities and int_detected_partitions (empty if nothing to detect)."""
    platforms = detect_platforms(settings)
    digests = {(p, w): d for p, w, d in con.execute(DIGEST_QUERY).fetchall()} if platforms else {}
    resume, start = _resume(con, digests)
    weeks = {(p, w) for p, w in digests if start is None or (p in start and w >= start[p])}
    changed = {k for k in weeks if k not in resume.reuse or resume.reuse[k][0] != digests[k]}
    by_week = _weekly_edges(con, changed)
    for key in weeks - changed:
        by_week[key] = []  # reused: its edges are not needed
    community_rows, partition_rows = partition_weeks(by_week, DetectionParams.from_settings(settings), resume)
    _write(con, "int_detected_communities", community_rows, COMMUNITY_SCHEMA, start)
    _write(con, "int_detected_partitions", partition_rows, PARTITION_SCHEMA, start)
    return {
        "platforms": platforms,
        "weeks": len(digests),
        "weeks_detected": len(changed),
        "weeks_reused": len(weeks - changed),
        "weeks_kept": len(digests) - len(weeks),
    }
