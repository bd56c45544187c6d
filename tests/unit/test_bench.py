"""The cascade benchmark runs through the warehouse runner at a tiny size and agrees with networkx."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_bench(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
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
