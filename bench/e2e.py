"""The nightly run on the demo source: wall time per stage and peak memory.

    .venv/bin/python bench/e2e.py                    # 50k and 1M items (the issue's sizes; the 1M run takes minutes)
    .venv/bin/python bench/e2e.py --items 50000      # one size

Each size runs in a fresh subprocess on a fresh data directory (30-day window, demo scale = items / 50k). Peak memory
is the maximum resident set size of the pipeline process and, separately, of its worker processes (affect scoring).
Targets (issue 2): 1M items in under 5 minutes end to end, under 4 GiB peak. The last line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, resource, sys, time
from pipeline.config import load_settings
from pipeline.run import run_nightly
data_dir, scale = sys.argv[1], float(sys.argv[2])
settings = load_settings(data_dir=data_dir, overrides={"demo": {"scale": scale}})
started = time.perf_counter()
summary = run_nightly(settings, since="2026-10-01", until="2026-10-31")
total = time.perf_counter() - started
report_seconds = None
try:
    from pipeline.report import render_report
    t = time.perf_counter()
    render_report(settings, week="2026-W43")
    report_seconds = time.perf_counter() - t
except ImportError:
    pass
self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({
    "items": summary.rows, "quarantined": summary.quarantined, "status": summary.status,
    "seconds": {k: round(v, 2) for k, v in summary.seconds.items()},
    "report_seconds": None if report_seconds is None else round(report_seconds, 2),
    "pipeline_seconds": round(total, 2),
    "peak_rss_mib": round(self_kib / 1024, 1), "peak_worker_rss_mib": round(children_kib / 1024, 1),
    "tables": {k: v for k, v in summary.build.get("tables", {}).items() if k.startswith(("fct_", "dim_"))},
}))
"""


def run_size(items: int) -> dict:
    scale = items / 50_000
    with tempfile.TemporaryDirectory(prefix="ripple-bench-") as data_dir:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, data_dir, str(scale)], capture_output=True, text=True
        )
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"benchmark run failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["target_items"] = items
    result["wall_seconds_including_startup"] = round(wall, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, action="append", help="approximate items (repeatable)")
    args = parser.parse_args()
    sizes = args.items or [50_000, 1_000_000]
    results = []
    for items in sizes:
        r = run_size(items)
        results.append(r)
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in r["seconds"].items())
        print(
            f"{r['items']:>10,} items: {r['pipeline_seconds']:.1f}s pipeline ({stages}); "
            f"report {r['report_seconds']}s; peak RSS {r['peak_rss_mib']:.0f} MiB "
            f"(workers {r['peak_worker_rss_mib']:.0f} MiB); {r['items'] / r['pipeline_seconds']:,.0f} items/s"
        )
    print(json.dumps({"benchmark": "e2e", "results": results}))


if __name__ == "__main__":
    main()
