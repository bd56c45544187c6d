"""The nightly run on the demo source: wall time per stage and peak memory.

    .venv/bin/python bench/e2e.py                    # 50k and 1M items (the issue's sizes; the 1M run takes minutes)
    .venv/bin/python bench/e2e.py --items 50000      # one size
    .venv/bin/python bench/e2e.py --items 1000000 --lake s3   # the lake on an S3 server (moto, loopback) vs local

Each size runs in a fresh subprocess on a fresh data directory (30-day window, demo scale = items / 50k). Peak memory
is the largest sum of the resident set sizes of the pipeline process and its affect workers at one moment (sampled
from /proc every 0.5 s), and the pipeline process's own peak (``VmHWM``).
Targets (issue 2): 1M items in under 5 minutes end to end, under 4 GiB peak. The last line is a JSON object.

``--lake s3`` starts ``moto_server`` on a loopback port itself, creates a bucket and runs each size twice in the
same run: with ``lake.root = s3://<bucket>/ripple`` (raw, lake and quarantine on the server; the warehouse is built
on local disk) and with the lake on local disk; it reports both, their ratio per stage, and the server's peak RSS
(the moto server holds every object in memory, so that is the lake's size, not a cost of ripple).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pipeline.config import load_settings
from pipeline.run import run_nightly
data_dir, scale, lake_root, extra = sys.argv[1], float(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
overrides = {"demo": {"scale": scale}} | ({"lake": {"root": lake_root}} if lake_root else {})
for section, values in extra.items():
    overrides[section] = overrides.get(section, {}) | values
settings = load_settings(data_dir=data_dir, overrides=overrides)
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
self_kib = next((int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")),
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # VmHWM: not charged the parent's size
print(json.dumps({
    "items": summary.rows, "quarantined": summary.quarantined, "status": summary.status,
    "seconds": {k: round(v, 2) for k, v in summary.seconds.items()},
    "report_seconds": None if report_seconds is None else round(report_seconds, 2),
    "pipeline_seconds": round(total, 2),
    "peak_rss_mib": round(self_kib / 1024, 1),
    "tables": {k: v for k, v in summary.build.get("tables", {}).items() if k.startswith(("fct_", "dim_"))},
    "slowest_build_steps": dict(sorted(
        ((k, v) for k, v in summary.build.get("seconds", {}).items() if k != "total"), key=lambda kv: -kv[1])[:12]),
    "settings": extra,
}))
"""


def run_size(
    items: int, lake_root: str = "", env: dict[str, str] | None = None, overrides: dict | None = None
) -> dict:
    scale = items / 50_000
    with tempfile.TemporaryDirectory(prefix="ripple-bench-") as data_dir:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, data_dir, str(scale), lake_root, json.dumps(overrides or {})],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        with TreeMemory(proc.pid) as memory:
            stdout, stderr = proc.communicate()
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"benchmark run failed:\n{stderr[-3000:]}")
    # the last line that is a JSON object: DuckDB may draw a progress bar on stdout before it
    result = json.loads([line[line.index('{"') :] for line in stdout.splitlines() if '{"' in line][-1])
    result["peak_tree_rss_mib"] = round(memory.peak_kib / 1024, 1)
    result["target_items"] = items
    result["lake"] = lake_root or "local"
    result["wall_seconds_including_startup"] = round(wall, 2)
    return result


@contextlib.contextmanager
def moto_server(bucket: str = "ripple-bench") -> Iterator[tuple[dict[str, str], int]]:
    """A moto S3 server on a free loopback port with one bucket: the AWS_* variables that point at it, its pid."""
    import boto3

    exe = Path(sys.executable).with_name("moto_server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(400):
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise SystemExit("moto_server did not start") from None
                time.sleep(0.05)
        env = {
            "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
        }  # fmt: skip
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                     aws_secret_access_key="bench").create_bucket(Bucket=bucket)  # fmt: skip
        yield env, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


class TreeMemory:
    """The peak of the summed resident set sizes of a process and its descendants (the pipeline and its affect
    workers at the same moment), sampled every ``interval`` seconds from /proc while the block runs.

    ``ru_maxrss`` of the children cannot give that: it is each child's own peak, and on Linux a child started by
    fork and exec (the ``spawn`` workers) is charged the parent's resident size at the fork.
    """

    def __init__(self, pid: int, interval: float = 0.5):
        self.pid, self.interval, self.peak_kib = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, tree_rss_kib(self.pid))
            self._stop.wait(self.interval)


def tree_rss_kib(root: int) -> int:
    """Summed VmRSS (KiB) of ``root`` and every process below it (0 once it has exited)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(entry.path, "stat").read_text()
                ppid = int(stat[stat.rindex(")") + 2 :].split()[1])  # after "pid (comm) state"
                children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        total += status_kib(pid, "VmRSS") or 0
    return total


def status_kib(pid: int, field: str) -> int | None:
    """A memory field of a live process's /proc status (``VmRSS``, ``VmHWM``), in KiB; None once it is gone."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return None


def peak_rss_mib(pid: int) -> float | None:
    """A live process's peak resident set size (Linux ``VmHWM``)."""
    kib = status_kib(pid, "VmHWM")
    return None if kib is None else round(kib / 1024, 1)


def describe(r: dict) -> str:
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in r["seconds"].items())
    return (
        f"{r['items']:>10,} items, lake {r['lake']}: {r['pipeline_seconds']:.1f}s pipeline ({stages}); "
        f"report {r['report_seconds']}s; peak RSS {r['peak_tree_rss_mib']:.0f} MiB (all processes at once; "
        f"pipeline alone {r['peak_rss_mib']:.0f} MiB); {r['items'] / r['pipeline_seconds']:,.0f} items/s"
    )


def parse_overrides(pairs: list[str]) -> dict[str, dict]:
    """``section.key=value`` pairs as settings overrides (values read as JSON when they are, else text)."""
    out: dict[str, dict] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        section, _, key = name.partition(".")
        try:
            out.setdefault(section, {})[key] = json.loads(value)
        except json.JSONDecodeError:
            out.setdefault(section, {})[key] = value
    return out


def compare_lakes(items: int, overrides: dict | None = None) -> tuple[list[dict], dict]:
    """One size with the lake on a moto S3 server, then on local disk; the ratios per stage."""
    with moto_server() as (env, pid):
        remote = run_size(items, "s3://ripple-bench/ripple", env, overrides)
        remote["moto_server_peak_rss_mib"] = peak_rss_mib(pid)
    print(describe(remote), flush=True)
    local = run_size(items, overrides=overrides)
    print(describe(local), flush=True)
    ratio = {
        stage: round(remote["seconds"][stage] / local["seconds"][stage], 2)
        for stage in remote["seconds"]
        if local["seconds"].get(stage)
    }
    ratio["pipeline"] = round(remote["pipeline_seconds"] / local["pipeline_seconds"], 2)
    same = remote["tables"] == local["tables"] and remote["items"] == local["items"]
    print(f"s3 / local: {ratio}; same items and table sizes: {same}")
    return [remote, local], {"items": items, "s3_over_local": ratio, "same_tables": same}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, action="append", help="approximate items (repeatable)")
    parser.add_argument(
        "--lake", choices=("local", "s3"), default="local",
        help="s3: each size on a loopback moto S3 server and on local disk, in the same run",
    )  # fmt: skip
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="a setting for the run, e.g. warehouse.memory_limit=8GB (repeatable; value read as JSON when it is)",
    )  # fmt: skip
    args = parser.parse_args()
    sizes = args.items or [50_000, 1_000_000]
    overrides = parse_overrides(args.set)
    results, comparisons = [], []
    for items in sizes:
        if args.lake == "s3":
            pair, comparison = compare_lakes(items, overrides)
            results.extend(pair)
            comparisons.append(comparison)
            continue
        r = run_size(items, overrides=overrides)
        results.append(r)
        print(describe(r), flush=True)
    out = {"benchmark": "e2e", "results": results}
    if comparisons:
        out["object_store"] = comparisons
    print(json.dumps(out))


if __name__ == "__main__":
    main()
