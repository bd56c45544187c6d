"""Every benchmark in bench/ runs: each one at a tiny size in a subprocess, exit code 0 and a JSON object at the
end of its output; the cascade benchmark also agrees with networkx.

A benchmark that nobody runs breaks silently when the code under it changes; this keeps each of them runnable.
The sizes here say nothing about speed (see bench/README.md for the figures).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO
BENCH = REPO / "bench"

# script -> (tiny arguments, keys its last line must have); "{tmp}" is a scratch directory
CASES: dict[str, tuple[list[str], set[str]]] = {
    "e2e.py": (["--items", "1500"], {"benchmark", "results"}),
    "object_store.py": (["--items", "1500"], {"benchmark", "local", "object_store"}),
    "cascades.py": (
        ["--sizes", "2000", "--sample", "300", "--sample-max-tree", "50"],
        {"bench", "runs", "networkx"},
    ),
    "affect.py": (
        ["--n", "200", "--chunk", "100"],
        {"bench", "generated", "processes", "load_average_start"},
    ),
    "calibration.py": (
        ["--seeds", "2", "--n", "400"],
        {"fits", "null_driver_share", "planted_coverage", "planted_found", "seconds"},
    ),
    "lakegen.py": (["{tmp}/lake", "--items", "3000"], {"bench", "history", "affect"}),
    "incremental.py": (
        ["--items", "2000", "--workdir", "{tmp}"],
        {"bench", "incremental_available", "night_items", "late_cascades", "results"},
    ),
    "ingest_dump.py": (
        ["--lines", "3000", "--workdir", "{tmp}"],
        {
            "bench", "zstd_lines_per_s", "python_loop_lines_per_s", "import_lines_per_s",
            "filtered_lines_per_s", "filtered_share", "import_vs_python_loop", "peak_over_zstd_mib",
            "meets_issue18", "load_average_1m",
        },
    ),
}  # fmt: skip


def test_every_benchmark_has_a_case() -> None:
    assert sorted(p.name for p in BENCH.glob("*.py")) == sorted(CASES)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(CASES))
def test_benchmark_runs_at_a_tiny_size(script: str, tmp_path: Path) -> None:
    args, keys = CASES[script]
    env = {**os.environ, "PYTHONPATH": str(REPO), "RIPPLE_PSEUDONYM_KEY": "bench-test-" + "k" * 32}
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *(a.replace("{tmp}", str(tmp_path)) for a in args)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,  # a benchmark that hangs fails here too
    )
    assert done.returncode == 0, done.stderr[-3000:]
    last = final_json(done.stdout)
    assert keys <= set(last), sorted(keys - set(last))


def final_json(stdout: str) -> dict[str, Any]:
    """The JSON object the output ends with: its last line, or (``calibration.py`` indents it) the lines from the
    last one that opens an object at the start of the line."""
    lines = stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        start = max(i for i, line in enumerate(lines) if line.startswith("{"))
        return json.loads("\n".join(lines[start:]))


def load_bench(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_cascade_benchmark_runs_at_a_tiny_size() -> None:
    args = ["--sizes", "2000", "--sample", "500", "--sample-max-tree", "50", "--threads", "1"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "cascades.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].strip().startswith("2,000 items: all cascade metrics in")
    assert "per model (wall / CPU): " in lines[1] and "fct_cascades" in lines[1]
    report = json.loads(lines[-1])
    run = report["runs"][0]
    # one cascade per root of the generated forest, counted independently of SQL
    forest = load_bench("cascades").make_forest(2000)
    assert run["items"] == 2000
    assert run["cascades"] == int((forest["parent"] < 0).sum())
    assert set(run["model_seconds"]) >= {"int_posts", "int_cascade_links", "fct_cascades"}
    comparison = report["networkx"]
    assert comparison["items"] > 0
    assert comparison["networkx_linear_mismatches"] == 0 and comparison["networkx_naive_mismatches"] == 0


@pytest.mark.slow
def test_generated_lake_and_night(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/lakegen.py writes the lake layout the pipeline reads, one run-log entry per day, and a night whose
    late replies answer roots from the history and whose re-fetched items land in their own date partitions."""
    import duckdb

    from pipeline.config import load_settings

    monkeypatch.setenv("RIPPLE_PSEUDONYM_KEY", "bench-test-" + "k" * 32)
    lakegen = load_bench("lakegen")
    settings = load_settings(data_dir=tmp_path)
    history = lakegen.generate(settings, 4000, days=20)
    files = sorted(settings.posts_dir.glob("platform=*/date=*/*.parquet"))
    assert {f.parent.parent.name for f in files} == {"platform=demo", "platform=bluesky"}
    assert all(
        f.name == f"{f.parent.parent.name[9:]}-{lakegen.window_key(date_of(f))}.parquet" for f in files
    )
    glob = str(settings.posts_dir / "**" / "*.parquet")
    con = duckdb.connect()
    rows, days_off = con.execute(
        f"select count(*), count(*) filter (where created_at::date <> date) "
        f"from read_parquet('{glob}', hive_partitioning = true, hive_types = {{'date': date}})"
    ).fetchone()
    assert rows == history["items"] and 3000 < rows < 5000 and days_off == 0
    runs = (tmp_path / "state" / "runs.jsonl").read_text().splitlines()
    assert len(runs) == 20

    night = lakegen.add_night(settings, new_items=200, late_cascades=10, refetched=5)
    key = lakegen.window_key(date.fromisoformat(night["night"]))
    late = con.execute(
        f"select count(*), count(distinct l.root_id), min(o.created_at) < '{night['night']}' "
        f"from read_parquet('{glob}') as l join read_parquet('{glob}') as o on o.post_id = l.parent_id "
        f"where l.post_id like '%late%' and l.run_id like '%{key}'"
    ).fetchone()
    assert late[0] == night["late_replies"] and late[1] == 10 and late[2]
    refetched = con.execute(
        f"select count(*), count(distinct date) from read_parquet('{glob}', hive_partitioning = true) "
        f"where run_id like '%{key}' and date < '{night['night']}'"
    ).fetchone()
    assert refetched[0] == 5 == night["refetched"]
    assert len((tmp_path / "state" / "runs.jsonl").read_text().splitlines()) == 21


def date_of(path: Path) -> date:
    return date.fromisoformat(path.parent.name.removeprefix("date="))


@pytest.mark.slow
def test_incremental_benchmark_compares_the_two_warehouses(tmp_path: Path) -> None:
    args = ["--items", "2000", "--workdir", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RIPPLE_PSEUDONYM_KEY": "bench-test-" + "k" * 32}
    done = subprocess.run(
        [sys.executable, str(BENCH / "incremental.py"), *args],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    run = report["results"][0]
    # the same lake built twice: nothing differs beyond floating-point summation order
    assert run["comparison"]["mismatches"] == {} and run["comparison"]["tables_compared"] >= 30
    assert run["night"]["night"]["new_items"] > 0 and run["night"]["night"]["old_cascades_touched"] == 2
    assert run["ratio"] == round(run["full"]["seconds"] / run["incremental"]["seconds"], 2)
    if not report["incremental_available"]:
        assert "incremental build not available" in done.stdout
    assert not (tmp_path / "lake-2000").exists()  # removed unless --keep


@pytest.mark.slow
def test_e2e_benchmark_with_the_lake_on_an_object_store(tmp_path: Path) -> None:
    """--lake s3 runs the same size on a loopback moto server and on local disk: same items, same table sizes."""
    pytest.importorskip("moto")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RIPPLE_PSEUDONYM_KEY": "bench-test-" + "k" * 32}
    done = subprocess.run(
        [sys.executable, str(BENCH / "e2e.py"), "--items", "1500", "--lake", "s3"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    remote, local = report["results"]
    assert (remote["lake"], local["lake"]) == ("s3://ripple-bench/ripple", "local")
    assert remote["items"] == local["items"] > 1000 and remote["tables"] == local["tables"]
    comparison = report["object_store"][0]
    assert comparison["same_tables"] is True
    assert comparison["s3_over_local"]["pipeline"] == round(
        remote["pipeline_seconds"] / local["pipeline_seconds"], 2
    )


def test_e2e_memory_counts_a_process_and_its_children_at_once(tmp_path: Path) -> None:
    """bench/e2e.py's peak is the sum over the process tree: a parent and a child each holding 200 MiB count
    about 400 MiB, which neither process's own peak shows."""
    e2e = load_bench("e2e")
    script = tmp_path / "hold.py"
    script.write_text(
        "import subprocess, sys, time\n"
        "child = None if sys.argv[1:] else subprocess.Popen([sys.executable, __file__, 'child'])\n"
        "held = bytearray(200 * 2**20)\n"
        "held[::4096] = b'x' * len(held[::4096])  # touched: resident\n"
        "time.sleep(3)\n"
        "child and child.wait()\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)])
    with e2e.TreeMemory(parent.pid, interval=0.1) as memory:
        parent.wait(timeout=30)
    assert parent.returncode == 0
    assert 390 * 1024 < memory.peak_kib < 520 * 1024
    assert e2e.tree_rss_kib(parent.pid) == 0  # gone
