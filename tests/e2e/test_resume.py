"""A run killed with SIGKILL in the middle of ingest completes on the next run, without duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import duckdb

from pipeline import lake
from tests.e2e.conftest import RIPPLE, ripple

WINDOW = ("--since", "2026-10-01", "--until", "2026-10-09")


def counts(data: Path) -> tuple[int, int, int]:
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    stg = con.sql("select count(*), count(distinct post_id) from stg_posts").fetchall()[0]
    con.close()
    lake_rows = duckdb.sql(
        f"select count(*) from read_parquet('{data}/lake/posts/*/*/*.parquet')"
    ).fetchall()[0][0]
    return stg[0], stg[1], lake_rows


def test_kill_mid_ingest_then_rerun(tmp_path: Path) -> None:
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    ripple("run", *WINDOW, "--data-dir", str(clean), "-q", check=True)

    env = {k: v for k, v in os.environ.items() if not k.startswith("RIPPLE")}
    env.update(
        {
            "RIPPLE_PSEUDONYM_KEY": "test-key-" + "0" * 32,
            "RIPPLE__DEMO__SCALE": "0.3",
            "RIPPLE__DEMO__PAGE_DELAY_SECONDS": "0.4",
        }
    )
    proc = subprocess.Popen(
        [RIPPLE, "run", *WINDOW, "--data-dir", str(killed), "-q"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    landed = 0
    while time.time() < deadline:
        partials = list((killed / "raw").rglob("*.partial")) if (killed / "raw").exists() else []
        if partials:
            landed = len(list(lake.read_raw_pages(partials[0])))
            if landed >= 3:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert landed >= 3, "the run was not caught mid-ingest"
    assert not (killed / "warehouse.duckdb").exists()

    status = ripple("status", "--data-dir", str(killed), check=True)
    assert "Unfinished run run-20261001T000000Z-20261009T000000Z" in status.stdout

    # the next nightly run (no window given) resumes the interrupted one
    rerun = ripple("run", "--data-dir", str(killed), "-q", check=True)
    assert "resumed" in rerun.stdout
    assert counts(killed) == counts(clean)
    stg, distinct, lake_rows = counts(killed)
    assert stg == distinct == lake_rows
    assert not list(killed.rglob("*.partial")) and not list(killed.rglob(".*.tmp"))
