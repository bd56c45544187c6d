"""The nightly pipeline with the lake on an S3-compatible server (moto on loopback) against the same run on the
local disk: every published table equal row for row."""

from __future__ import annotations

import socket
from pathlib import Path

import duckdb
import pytest

from pipeline.config import Settings, load_settings
from tests.e2e.conftest import ripple

SINCE, UNTIL = "2026-10-01", "2026-10-05"
#: columns that hold the wall-clock time of the run, not data
VOLATILE = ("fetched_at", "scored_at", "fitted_at", "built_at", "started_at", "finished_at")
#: tables about the run and the build (the lake files a build read are s3:// objects on one side, paths on the other)
RUN_TABLES = ("stg_runs", "ripple_build", "ripple_build_inputs")


def nightly(data_dir: Path, root: str = "") -> Settings:
    from pipeline.run import run_nightly

    settings = load_settings(
        data_dir=data_dir, overrides={"demo": {"scale": 0.02, "seed": 7}, "lake": {"root": root}}
    )
    summary = run_nightly(settings, since=SINCE, until=UNTIL)
    assert summary.status == "succeeded", summary.failed_sources
    return settings


def test_the_nightly_run_on_the_object_store_publishes_the_same_warehouse(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIPPLE_PSEUDONYM_KEY", "objlake-" + "0" * 32)
    local = nightly(tmp_path / "local")
    remote = nightly(tmp_path / "remote", f"{s3_bucket}/ripple")
    assert not (remote.data_dir / "lake").exists() and not (remote.data_dir / "raw").exists()
    con = duckdb.connect()
    con.execute(f"attach '{local.warehouse_path}' as a (read_only)")
    con.execute(f"attach '{remote.warehouse_path}' as b (read_only)")
    tables = [
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_catalog = 'a' order by 1"
        ).fetchall()
    ]
    remote_tables = con.execute(
        "select table_name from information_schema.tables where table_catalog = 'b' order by 1"
    ).fetchall()
    assert tables == [r[0] for r in remote_tables]
    assert {"stg_posts", "fct_cascades", "fct_affect", "demo_planted_effects"} <= set(tables)
    compared = 0
    for table in tables:
        if table in RUN_TABLES:
            continue
        cols = [
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns where table_catalog = 'a' and table_name = ?",
                [table],
            ).fetchall()
            if r[0] not in VOLATILE
        ]
        select = ", ".join(f'"{c}"' for c in cols)
        n_local = con.execute(f"select count(*) from a.{table}").fetchone()[0]
        assert n_local == con.execute(f"select count(*) from b.{table}").fetchone()[0], table
        for x, y in (("a", "b"), ("b", "a")):
            diff = con.execute(f"select count(*) from (select {select} from {x}.{table} except all "
                               f"select {select} from {y}.{table})").fetchone()[0]  # fmt: skip
            assert diff == 0, f"{table}: {diff} rows of {x} not in {y}"
        compared += n_local > 0
    assert compared >= 20  # the comparison saw real data, not empty tables


def test_a_missing_bucket_or_a_dead_endpoint_is_one_line_and_exit_2(s3_server: str, tmp_path: Path) -> None:
    env = {"RIPPLE__LAKE__ROOT": "s3://no-such-bucket-z/p", "AWS_SECRET_ACCESS_KEY": "very-secret-value"}
    proc = ripple("build", "--data-dir", str(tmp_path / "d"), env=env)
    assert proc.returncode == 2
    assert "lake s3://no-such-bucket-z/p: bucket 'no-such-bucket-z' does not exist" in proc.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "RIPPLE__LAKE__ROOT": "s3://bucket-z/p"}
    proc = ripple("build", "--data-dir", str(tmp_path / "d"), env=env)
    assert proc.returncode == 2
    assert f"lake s3://bucket-z/p: cannot connect to http://127.0.0.1:{port}" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "very-secret-value" not in proc.stdout + proc.stderr
