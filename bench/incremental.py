"""The nightly build after one night: incremental against a full rebuild of the same lake, at several lake sizes.

    PYTHONPATH=. .venv/bin/python bench/incremental.py                       # 1M, 3M and 10M items (long)
    PYTHONPATH=. .venv/bin/python bench/incremental.py --items 1000000       # one size

For each size, on a fresh data directory: a lake written by ``bench/lakegen.py`` (affect scored by the real
``ripple affect`` step), a full build (``pipeline.warehouse.build(settings, full=True)``), then one night added
(the same night at every size: 1 % of the largest lake in new items, late replies to old cascades as many as 1 % of
the largest lake's cascades, roots drawn over the whole history, 50 re-fetched items with changed scores; affect
scored; ``--night-items`` and ``--late-cascades`` set them), the nightly build (``build(settings)``: incremental
when it can be), and a full rebuild of the same lake. Every table of the two warehouses is compared row for row,
order-independent (DuckDB ``except all`` both ways; ``ripple_*`` build metadata left out). Each build runs in its
own process: peak memory is its ``VmHWM`` (its ``ru_maxrss`` would also count the size of this script's process
when it started the build: the comparison of the previous size runs here).

Targets (issue 17): the incremental build at least 10x faster than the full rebuild, identical tables, and its time
nearly flat from 1M to 10M items. Until the build is incremental (``BuildResult.mode`` missing), the script says
"incremental build not available" and reports the full figures. The last line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

BUILD = r"""
import inspect, json, resource, sys, time
def peak_mib():  # this process image's peak (VmHWM); ru_maxrss also counts the parent's size at the fork
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
from pipeline.config import load_settings
from pipeline.warehouse import build
settings = load_settings(data_dir=sys.argv[1])
full = sys.argv[2] == "full"
started = time.perf_counter()
if "full" in inspect.signature(build).parameters:
    result = build(settings, full=full)
else:
    result = build(settings)
seconds = time.perf_counter() - started
models = {k: round(v, 2) for k, v in sorted(result.seconds.items(), key=lambda kv: -kv[1]) if k != "total"}
print(json.dumps({
    "seconds": round(seconds, 2),
    "mode": getattr(result, "mode", None), "reason": getattr(result, "reason", None),
    "peak_rss_mib": peak_mib(),
    "slowest": dict(list(models.items())[:8]),
}))
"""


def run_json(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run a Python child; its last stdout line is JSON. Wall time and the child's peak RSS are added."""
    started = time.perf_counter()
    # not from the checkout's root: `python -c` puts the working directory before PYTHONPATH (--code)
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=tempfile.gettempdir()
    )
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:2])} failed:\n{proc.stderr[-3000:]}")
    # the last line that is a JSON object: DuckDB may draw a progress bar on stdout before it
    out = json.loads([line[line.index('{"') :] for line in proc.stdout.splitlines() if '{"' in line][-1])
    out["wall_seconds"] = round(time.perf_counter() - started, 2)
    return out


def build_in_child(data_dir: Path, mode: str, env: dict[str, str]) -> dict[str, Any]:
    return run_json(["-c", BUILD, str(data_dir), mode], env)


#: columns that hold when a table was computed, not what it holds
BUILD_TIME_COLUMNS = ("fitted_at", "built_at")


def compare_warehouses(left: Path, right: Path) -> dict[str, Any]:
    """Tables whose rows differ (as multisets) between two warehouse files, and tables found in one only.

    ``mismatches`` compares floating-point columns at 12 significant digits (a parallel sum adds in another order
    from one build to the next); ``float_last_digits`` lists the tables that differ only beyond that. Columns
    that stamp the time of the build (``BUILD_TIME_COLUMNS``) are left out; ``ripple_*`` tables too.
    """
    import duckdb

    con = duckdb.connect()
    con.execute(f"attach '{left}' as a (read_only)")
    con.execute(f"attach '{right}' as b (read_only)")

    def tables(db: str) -> set[str]:
        rows = con.execute(
            "select table_name from duckdb_tables() where database_name = ? and not internal", [db]
        ).fetchall()
        return {r[0] for r in rows if not r[0].startswith("ripple_")}

    in_a, in_b = tables("a"), tables("b")
    mismatches: dict[str, Any] = {name: "only in one warehouse" for name in sorted(in_a ^ in_b)}
    float_only: list[str] = []
    for name in sorted(in_a & in_b):
        columns = con.execute(
            "select column_name, data_type from duckdb_columns() where database_name = 'a' and table_name = ? "
            "order by column_index",
            [name],
        ).fetchall()
        exact = ", ".join(f'"{c}"' for c, _ in columns if c not in BUILD_TIME_COLUMNS)
        rounded = ", ".join(
            f"printf('%.12g', \"{c}\")" if t in ("DOUBLE", "FLOAT") else f'"{c}"'
            for c, t in columns
            if c not in BUILD_TIME_COLUMNS
        )
        try:
            # exact first: rounding every double with printf is what makes a comparison at 10M items slow
            differ = _differ(con, name, exact)
            if differ and rounded != exact:
                differ = _differ(con, name, rounded)
                if not differ:
                    float_only.append(name)
        except duckdb.Error as exc:  # e.g. another set of columns
            mismatches[name] = f"not comparable: {str(exc).splitlines()[0]}"
            continue
        if differ:
            mismatches[name] = differ
    con.close()
    return {"tables_compared": len(in_a & in_b), "mismatches": mismatches, "float_last_digits": float_only}


def _differ(con: Any, name: str, select: str) -> dict[str, int] | None:
    extra = con.execute(f"select count(*) from (select {select} from a.{name} except all "
                        f"select {select} from b.{name})").fetchall()[0][0]  # fmt: skip
    missing = con.execute(f"select count(*) from (select {select} from b.{name} except all "
                          f"select {select} from a.{name})").fetchall()[0][0]  # fmt: skip
    return {"only_incremental": extra, "only_full": missing} if extra or missing else None


def run_size(
    items: int, night_items: int, late_cascades: int, workdir: Path, env: dict[str, str], repeat: bool = False
) -> dict:
    data_dir = workdir / f"lake-{items}"
    shutil.rmtree(data_dir, ignore_errors=True)
    lakegen = str(BENCH / "lakegen.py")
    result: dict[str, Any] = {"items": items}
    result["lake"] = run_json([lakegen, str(data_dir), "--items", str(items)], env)
    result["initial_full"] = build_in_child(data_dir, "full", env)
    # the warehouse before the night: with --keep, the nightly build can be repeated from it
    shutil.copyfile(data_dir / "warehouse.duckdb", data_dir / "warehouse.initial.duckdb")
    night = ["--night", "--night-items", str(night_items), "--late-cascades", str(late_cascades)]
    result["night"] = run_json([lakegen, str(data_dir), *night], env)
    result["incremental"] = build_in_child(data_dir, "incremental", env)
    kept = data_dir / "warehouse.incremental.duckdb"
    shutil.copyfile(data_dir / "warehouse.duckdb", kept)
    result["full"] = build_in_child(data_dir, "full", env)
    result["comparison"] = compare_warehouses(kept, data_dir / "warehouse.duckdb")
    if repeat:  # what differs between two full builds of the same lake is not the incremental build's doing
        shutil.copyfile(data_dir / "warehouse.duckdb", kept)
        result["second_full"] = build_in_child(data_dir, "full", env)
        result["full_vs_full"] = compare_warehouses(kept, data_dir / "warehouse.duckdb")
    result["ratio"] = round(result["full"]["seconds"] / max(result["incremental"]["seconds"], 1e-9), 2)
    return result


def summary_line(r: dict[str, Any]) -> str:
    inc, full = r["incremental"], r["full"]
    mode = inc["mode"] or "incremental build not available"
    bad = r["comparison"]["mismatches"]
    return (
        f"{r['lake']['history']['items']:>11,} items (+{r['night']['night']['new_items']:,} new, "
        f"{r['night']['night']['old_cascades_touched']:,} old cascades): nightly build {inc['seconds']:.1f}s "
        f"({mode}{'; ' + inc['reason'] if inc.get('reason') else ''}), full rebuild {full['seconds']:.1f}s, "
        f"ratio {r['ratio']:.2f}x; the night's ripple affect {r['night'].get('affect', {}).get('seconds', 0):.1f}s; "
        f"peak RSS {inc['peak_rss_mib']:.0f} / {full['peak_rss_mib']:.0f} MiB; "
        f"{r['comparison']['tables_compared']} tables compared, mismatching: {', '.join(bad) or 'none'}"
        f" (floating-point last digits only: {', '.join(r['comparison']['float_last_digits']) or 'none'})"
        + (
            f"; two full builds differ in: {', '.join(r['full_vs_full']['mismatches']) or 'none'}"
            if "full_vs_full" in r
            else ""
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, action="append", help="lake size in items (repeatable)")
    parser.add_argument(
        "--workdir", help="where the lakes go (default: a temporary directory, removed after)"
    )
    parser.add_argument(
        "--night-items", type=int, help="new items of the night (default: 1 %% of the largest lake)"
    )
    parser.add_argument(
        "--late-cascades",
        type=int,
        help="old cascades that get late replies (default: 1 %% of the largest lake's cascades)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the lakes and warehouses (warehouse.initial.duckdb: the one before the night)",
    )
    parser.add_argument("--code", help="import pipeline from this directory (e.g. an export of a branch)")
    parser.add_argument(
        "--repeat-full", action="store_true", help="also compare the full rebuild with a second full rebuild"
    )
    args = parser.parse_args()
    sizes = args.items or [1_000_000, 3_000_000, 10_000_000]
    night_items = args.night_items or max(sizes) // 100
    # 1 % of the largest lake's cascades (lakegen makes about one cascade per 8.9 items)
    late_cascades = args.late_cascades or max(1, round(max(sizes) / 8.9 / 100))
    code = [str(Path(args.code).resolve())] if args.code else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*code, str(REPO), os.environ.get("PYTHONPATH", "")])}
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="ripple-bench-incr-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for items in sizes:
            results.append(run_size(items, night_items, late_cascades, workdir, env, args.repeat_full))
            print(summary_line(results[-1]), flush=True)
    finally:
        if not args.keep:
            for items in sizes:
                shutil.rmtree(workdir / f"lake-{items}", ignore_errors=True)
            if not args.workdir:
                shutil.rmtree(workdir, ignore_errors=True)
    available = all(r["incremental"]["mode"] is not None for r in results)
    if not available:
        print("incremental build not available: the nightly build is a full one; figures are full builds")
    print(json.dumps({
        "bench": "incremental", "incremental_available": available, "code": args.code or str(REPO), "night_items": night_items,
        "late_cascades": late_cascades, "load_average_1m": os.getloadavg()[0], "results": results,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
