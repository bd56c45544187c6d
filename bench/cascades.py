"""Benchmark: every cascade metric (fct_cascades) for synthetic forests of 1M and 10M items.

The forest mixes realistic threads (heavy-tailed sizes, replies biased towards recent comments, 5% crosspost
edges)
with adversarial shapes: 5,000-deep reply chains and 50,000-wide X retweet stars. It is generated with numpy,
written to Parquet, then loaded into a fresh DuckDB (in a child process, so its peak memory is measured alone)
as
``stg_posts``; the timed part is the project's runner (``pipeline.warehouse.build_database``) building the
selection ``+fct_cascades`` (without ``stg_posts``): int_posts and its inputs, int_cascade_links,
int_cascade_nodes, int_cascade_subtrees, int_cascade_quality, fct_cascades, and the assertions on them.

A 200k-item sample of whole trees is also measured against networkx, per tree, in the same process:
* ``networkx_naive``: the straightforward version (BFS for depths, ``nx.wiener_index`` for the Wiener index);
* ``networkx_linear``: the same with an O(n) Wiener index from DFS subtree sizes (a strong baseline).
The SQL models run on exactly the same sample.

    .venv/bin/python bench/cascades.py                    # 1M and 10M items
    .venv/bin/python bench/cascades.py --sizes 100000     # quick run

Prints the figures, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASCADE_MODELS = (
    "int_cascade_links",
    "int_cascade_nodes",
    "int_cascade_subtrees",
    "int_cascade_quality",
    "fct_cascades",
)
T0_US = 1_704_067_200_000_000  # 2024-01-01 UTC
STAR_WIDTH = 50_000
CHAIN_DEPTH = 5_000


# --------------------------------------------------------------------------------------------- data
def make_forest(n: int, seed: int = 7, stars: int = 4, chains: int = 4) -> dict[str, np.ndarray]:
    """Parent index (-1 for roots), edge type and timing of a forest of n items; parents precede children."""
    rng = np.random.default_rng(seed)
    # adversarial shapes take at most a third of the items
    stars = min(stars, (n // 3) // (STAR_WIDTH + 1))
    chains = min(chains, (n // 3 - stars * (STAR_WIDTH + 1)) // CHAIN_DEPTH)
    parent = np.full(n, -1, dtype=np.int64)
    is_share = np.zeros(n, dtype=bool)
    is_retweet = np.zeros(n, dtype=bool)
    pos = 0
    for _ in range(stars):
        parent[pos + 1 : pos + 1 + STAR_WIDTH] = pos
        is_share[pos + 1 : pos + 1 + STAR_WIDTH] = True
        is_retweet[pos : pos + 1 + STAR_WIDTH] = True  # the whole star is on X
        pos += STAR_WIDTH + 1
    for _ in range(chains):
        parent[pos + 1 : pos + CHAIN_DEPTH] = np.arange(pos, pos + CHAIN_DEPTH - 1)
        pos += CHAIN_DEPTH
    special_end = pos
    rest = n - pos
    sizes = np.minimum(rng.zipf(1.8, size=max(rest, 1)), 20_000)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), rest) + 1]
    sizes[-1] -= sizes.sum() - rest
    sizes = sizes[sizes > 0]
    starts = pos + np.concatenate([[0], np.cumsum(sizes)[:-1]])
    tree_start = np.repeat(starts, sizes)
    idx = np.arange(pos, n)
    offset = idx - tree_start
    # reply to a random earlier item of the same thread, biased towards recent ones (deep threads)
    back = np.floor(offset * rng.random(rest) ** 3).astype(np.int64)
    p = idx - 1 - np.minimum(back, np.maximum(offset - 1, 0))
    p[offset == 0] = -1
    parent[pos:] = p
    is_share[pos:] = (rng.random(rest) < 0.05) & (p >= 0)
    # time: roots spread over 30 days, each item a few minutes after the previous one of its tree
    gaps = rng.exponential(90.0, size=n).astype(np.int64) * 1_000_000  # seconds -> us
    # trees are contiguous and start with their root
    tree_of = np.maximum.accumulate(np.where(parent < 0, np.arange(n), 0))
    cum = np.cumsum(gaps)
    created = cum - cum[tree_of] + rng.integers(0, 30 * 86_400, size=n)[tree_of] * 1_000_000 + T0_US
    authors = rng.integers(0, max(n // 10, 10), size=n)
    return {
        "parent": parent,
        "is_share": is_share,
        "is_retweet": is_retweet,
        "created": created,
        "authors": authors,
        "special_end": np.array([special_end]),
    }


def _ids(prefix: str, values: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pa.array(values).cast(pa.string()), "")


def posts_table(forest: dict[str, np.ndarray], keep: np.ndarray | None = None) -> pa.Table:
    """The forest as stg_posts rows (all Post columns; text columns empty)."""
    index = np.arange(len(forest["parent"])) if keep is None else keep
    parent = forest["parent"][index]
    share = forest["is_share"][index]
    retweet = forest["is_retweet"][index]
    n = len(index)
    has_parent = parent >= 0
    parent_ids = _ids("b:", np.where(has_parent, parent, 0))
    none = pa.nulls(n, pa.string())
    platform = pc.if_else(pa.array(retweet), "x", "reddit")
    kind = np.where(~has_parent, "post", np.where(share, "share", "comment"))
    share_type = np.where(share, np.where(retweet, "retweet", "crosspost"), None)
    created = pa.array(forest["created"][index], pa.timestamp("us", tz="UTC"))
    return pa.table(
        {
            "platform": platform,
            "post_id": _ids("b:", index),
            "kind": pa.array(kind),
            "share_type": pa.array(share_type, pa.string()),
            "community": pa.array(np.where(retweet, None, "r/bench"), pa.string()),
            "author_id": _ids("u", forest["authors"][index]),
            "author_name": none,
            "parent_id": pc.if_else(pa.array(has_parent & ~share), parent_ids, none),
            "root_id": none,
            "shared_id": pc.if_else(pa.array(has_parent & share), parent_ids, none),
            "created_at": created,
            "title": none,
            "text": none,
            "url": none,
            "lang": none,
            "score": pa.nulls(n, pa.int64()),
            "reply_count": pa.nulls(n, pa.int64()),
            "share_count": pa.nulls(n, pa.int64()),
            "is_deleted": pa.array(np.zeros(n, dtype=bool)),
            "is_removed": pa.array(np.zeros(n, dtype=bool)),
            "fetched_at": created,
            "run_id": pa.array(np.full(n, "bench")),
            "source": pa.array(np.full(n, "bench")),
            "date": pc.cast(created, pa.date32()),
        }
    )


# --------------------------------------------------------------------------------------------- SQL run
def cascade_selection() -> list[str]:
    """Everything fct_cascades needs except stg_posts, which the benchmark loads itself (the runner's plan)."""
    from pipeline.warehouse import default_hooks, plan_build

    return [
        step.name
        for step in plan_build(None, default_hooks(), ["+fct_cascades"]).steps
        if step.name != "stg_posts"
    ]


def run_models(parquet: str, threads: int, queue: Any) -> None:
    """Child process: load stg_posts, build the cascade models with the runner, report timings and peak memory."""
    import duckdb

    from pipeline.config import load_settings
    from pipeline.warehouse import build_database

    with tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings(
            data_dir=Path(data_dir), overrides={"communities": {"detect_platforms": []}}, environ={}
        )
        con = duckdb.connect()
        con.execute(f"set threads = {threads}")
        con.execute(f"create table stg_posts as select * from read_parquet('{parquet}')")
        cpu: dict[str, float] = {}
        marks: list[tuple[str, float]] = []

        def mark(step: str) -> None:
            # the runner announces each model before it runs it: CPU between two marks is that model's
            usage = resource.getrusage(resource.RUSAGE_SELF)
            marks.append((step.rsplit("/", 1)[-1], usage.ru_utime + usage.ru_stime))

        result = build_database(con, settings, progress=mark, select=cascade_selection())
        for (name, before), (_, after) in zip(marks, marks[1:], strict=False):
            cpu[name] = after - before
        queue.put(
            {
                "seconds": {k: v for k, v in result.seconds.items() if k in cpu},
                "cpu_seconds": cpu,
                **cascade_summary(con),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )


def cascade_summary(con: Any) -> dict[str, Any]:
    summary = con.execute(
        "select count(*), sum(size), max(depth), max(max_breadth), "
        "count(*) filter (where reshare_tree = 'api_star') "
        "from fct_cascades"
    ).fetchone()
    metrics = (
        {
            row[0]: row[1:]
            for row in con.execute(
                "select root_id, size, unique_users, depth, thread_depth, share_depth, max_breadth, "
                "wiener_index "
                "from fct_cascades"
            ).fetchall()
        }
        if summary[0] <= 300_000
        else {}
    )
    return {
        "cascades": summary[0],
        "items_in_cascades": int(summary[1] or 0),
        "max_depth": summary[2],
        "max_breadth": summary[3],
        "api_star_cascades": summary[4],
        "metrics": metrics,
    }


def sql_run(table: pa.Table, threads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "posts.parquet")
        pq.write_table(table, path, row_group_size=1_000_000)
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=run_models, args=(path, threads, queue))
        proc.start()
        result = queue.get()
        proc.join()
    result["cascade_seconds"] = sum(result["seconds"][m] for m in CASCADE_MODELS)
    result["cascade_cpu_seconds"] = sum(result["cpu_seconds"][m] for m in CASCADE_MODELS)
    return result


# --------------------------------------------------------------------------------------------- networkx
def networkx_metrics(table: pa.Table, naive: bool) -> dict[str, tuple[Any, ...]]:
    """Per-tree networkx implementation of the same metrics."""
    import networkx as nx

    post_ids = table["post_id"].to_pylist()
    parents = pc.coalesce(table["parent_id"], table["shared_id"]).to_pylist()
    is_share = pc.is_valid(table["shared_id"]).to_pylist()
    authors = table["author_id"].to_pylist()
    created = table["created_at"].cast(pa.int64()).to_pylist()
    graph = nx.DiGraph()
    graph.add_nodes_from(post_ids)
    graph.add_edges_from(
        (p, c, {"share": s}) for c, p, s in zip(post_ids, parents, is_share, strict=True) if p
    )
    author = dict(zip(post_ids, authors, strict=True))
    when = dict(zip(post_ids, created, strict=True))
    out: dict[str, tuple[Any, ...]] = {}
    for root in (v for v in post_ids if graph.in_degree(v) == 0):
        tree = graph.subgraph(nx.descendants(graph, root) | {root})
        depth = nx.single_source_shortest_path_length(tree, root)
        hops = {root: (0, 0)}
        for u, v in nx.bfs_edges(tree, root):
            r, s = hops[u]
            hops[v] = (r, s + 1) if tree.edges[u, v]["share"] else (r + 1, s)
        size = tree.number_of_nodes()
        # breadth as in Vosoughi, Roy & Aral (2018): the root's level counts, so a lone item has breadth 1
        levels = Counter(depth.values())
        if naive:
            wiener = int(nx.wiener_index(tree.to_undirected())) if size > 1 else 0
        else:
            sub: dict[str, int] = {}
            for v in nx.dfs_postorder_nodes(tree, root):
                sub[v] = 1 + sum(sub[c] for c in tree.successors(v))
            wiener = sum(s * (size - s) for v, s in sub.items() if v != root)
        times = sorted(when[v] for v in tree)
        _ = [times[k - 1] - when[root] if size >= k else None for k in (10, 100, 1000)]
        out[root] = (
            size,
            len({author[v] for v in tree if author[v] is not None}),
            max(depth.values()),
            max(h[0] for h in hops.values()),
            max(h[1] for h in hops.values()),
            max(levels.values()),
            wiener,
        )
    return out


def sample_trees(forest: dict[str, np.ndarray], items: int, max_tree: int, seed: int = 3) -> np.ndarray:
    """Indices of whole random-forest trees (at most max_tree items each) totalling about `items` items."""
    parent = forest["parent"]
    start = int(forest["special_end"][0])
    roots = np.flatnonzero(parent[start:] < 0) + start
    ends = np.append(roots[1:], len(parent))
    sizes = ends - roots
    rng = np.random.default_rng(seed)
    order = rng.permutation(np.flatnonzero(sizes <= max_tree))
    chosen = order[: np.searchsorted(np.cumsum(sizes[order]), items) + 1]
    return np.sort(np.concatenate([np.arange(roots[i], ends[i]) for i in chosen]))


# --------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="comma-separated forest sizes")
    parser.add_argument("--sample", type=int, default=200_000, help="items in the networkx comparison sample")
    parser.add_argument("--sample-max-tree", type=int, default=2_000, help="largest tree in the sample")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-networkx", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]

    report: dict[str, Any] = {
        "bench": "cascades",
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "runs": [],
    }
    biggest: dict[str, np.ndarray] | None = None
    for n in sizes:
        started = time.perf_counter()
        forest = make_forest(n)
        table = posts_table(forest)
        generated = time.perf_counter() - started
        load_before = os.getloadavg()[0]
        result = sql_run(table, args.threads)
        run = {
            "items": n,
            "generate_seconds": round(generated, 2),
            "cascade_seconds": round(result["cascade_seconds"], 2),
            "cascade_cpu_seconds": round(result["cascade_cpu_seconds"], 2),
            "int_posts_seconds": round(result["seconds"]["int_posts"], 2),
            "model_seconds": {k: round(v, 2) for k, v in result["seconds"].items()},
            "model_cpu_seconds": {k: round(v, 2) for k, v in result["cpu_seconds"].items()},
            "cascades": result["cascades"],
            "max_depth": result["max_depth"],
            "max_breadth": result["max_breadth"],
            "api_star_cascades": result["api_star_cascades"],
            "peak_rss_mb": round(result["peak_rss_mb"]),
            "items_per_second": round(n / result["cascade_seconds"]),
            # other work on the machine inflates wall time; CPU time (user + sys of DuckDB) does not
            "load_average_before": round(load_before, 2),
            "load_average_after": round(os.getloadavg()[0], 2),
        }
        report["runs"].append(run)
        print(
            f"{n:>11,} items: all cascade metrics in {run['cascade_seconds']:.2f} s wall, "
            f"{run['cascade_cpu_seconds']:.2f} s CPU (+ int_posts {run['int_posts_seconds']:.2f} s), "
            f"{run['cascades']:,} cascades, "
            f"max depth {run['max_depth']}, max breadth {run['max_breadth']}, "
            f"peak RSS {run['peak_rss_mb']:,} MB, load average {run['load_average_before']} -> "
            f"{run['load_average_after']}",
            flush=True,
        )
        print(
            "             per model (wall / CPU): "
            + ", ".join(
                f"{k} {v:.2f}s / {run['model_cpu_seconds'][k]:.2f}s" for k, v in run["model_seconds"].items()
            )
        )
        if biggest is None or n > len(biggest["parent"]):
            biggest = forest

    if not args.skip_networkx and biggest is not None:
        keep = sample_trees(biggest, args.sample, args.sample_max_tree)
        sample = posts_table(biggest, keep)
        sql = sql_run(sample, args.threads)
        comparison: dict[str, Any] = {"items": len(keep), "sql_seconds": round(sql["cascade_seconds"], 3)}
        for label, naive in (("networkx_linear", False), ("networkx_naive", True)):
            started = time.perf_counter()
            expected = networkx_metrics(sample, naive=naive)
            elapsed = time.perf_counter() - started
            mismatches = sum(1 for k, v in expected.items() if sql["metrics"].get(k) != v)
            comparison[f"{label}_seconds"] = round(elapsed, 2)
            comparison[f"{label}_speedup"] = round(elapsed / sql["cascade_seconds"], 1)
            comparison[f"{label}_mismatches"] = mismatches
        report["networkx"] = comparison
        print(
            f"sample of {len(keep):,} items in whole trees (<= {args.sample_max_tree} items each): "
            f"SQL {comparison['sql_seconds']:.3f} s; "
            f"networkx linear {comparison['networkx_linear_seconds']:.1f} s "
            f"({comparison['networkx_linear_speedup']}x); "
            f"networkx naive {comparison['networkx_naive_seconds']:.1f} s "
            f"({comparison['networkx_naive_speedup']}x); metric mismatches: "
            f"{comparison['networkx_linear_mismatches']} / {comparison['networkx_naive_mismatches']}"
        )
    print(json.dumps(report, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
