"""Every benchmark in bench/ runs: each one at a tiny size in a subprocess, exit code 0 and a JSON last line.

A benchmark that nobody runs breaks silently when the code under it changes; this keeps each of them runnable.
The sizes here say nothing about speed (see bench/README.md for the figures).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"

# script -> (tiny arguments, keys its last line must have); "{tmp}" is a scratch directory
CASES: dict[str, tuple[list[str], set[str]]] = {
    "e2e.py": (["--items", "1500"], {"benchmark", "results"}),
    "cascades.py": (
        ["--sizes", "2000", "--sample", "300", "--sample-max-tree", "50"],
        {"bench", "runs", "networkx"},
    ),
    "affect.py": (
        ["--n", "200", "--naive-n", "20", "--chunk", "100"],
        {"bench", "naive_items_per_s", "scorer_1proc_items_per_s", "scorer_2proc_items_per_s"},
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
XFAIL = {
    "cascades.py": "fixed on the sql branch",
}


def test_every_benchmark_has_a_case() -> None:
    assert sorted(p.name for p in BENCH.glob("*.py")) == sorted(CASES)


@pytest.mark.slow
@pytest.mark.parametrize(
    "script",
    [
        pytest.param(name, marks=pytest.mark.xfail(reason=XFAIL[name], strict=False))
        if name in XFAIL
        else name
        for name in sorted(CASES)
    ],
)
def test_benchmark_runs_at_a_tiny_size(script: str, tmp_path: Path) -> None:
    args, keys = CASES[script]
    env = {**os.environ, "PYTHONPATH": str(REPO), "RIPPLE_PSEUDONYM_KEY": "bench-test-" + "k" * 32}
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *(a.replace("{tmp}", str(tmp_path)) for a in args)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,  # cascades.py hangs rather than exits when its DuckDB child fails
    )
    assert done.returncode == 0, done.stderr[-3000:]
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert keys <= set(last), sorted(keys - set(last))
