"""One real run of each DAG with `airflow dags test`: temporary AIRFLOW_HOME, SQLite metadata, demo source.

Slow (about a minute each): marked ``slow`` and ``airflow``. The nightly run covers the data interval Airflow
gives a manual run on 2026-11-16 00:00 with the default 02:00 schedule: [2026-11-14 02:00, 2026-11-15 02:00).
``run.initial_lookback_days`` is set to 5 to show that the DAG uses the data interval, not the CLI's lookback.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.dags.conftest import DAGS_DIR, REPO, require_airflow

require_airflow()

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

LOGICAL_DATE = "2026-11-16"
SINCE = datetime(2026, 11, 14, 2, tzinfo=UTC)
UNTIL = datetime(2026, 11, 15, 2, tzinfo=UTC)
WINDOW_KEY = "20261114T020000Z-20261115T020000Z"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
ASSET_EVENTS = "select e.extra from asset_event e join asset a on a.id = e.asset_id where a.name = ?"


class Deployment:
    """A throw-away Airflow + ripple installation in a temporary directory."""

    def __init__(self, root: Path):
        self.root = root
        self.data = root / "data"
        self.home = root / "airflow"
        self.db = root / "airflow.db"
        self.config = root / "ripple.toml"
        self.config.write_text('[run]\nsources = ["demo"]\n', encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "RIPPLE", "praw_", "X_"))}
        env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(DAGS_DIR),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{self.db}",
            RIPPLE_DATA_DIR=str(self.data),
            RIPPLE_CONFIG=str(self.config),
            RIPPLE__DEMO__SCALE="0.2",
            RIPPLE__RUN__INITIAL_LOOKBACK_DAYS="5",
            RIPPLE__AFFECT__PROCESSES="1",
            # a failing task shows its error at once instead of waiting for the retries' backoff
            RIPPLE__AIRFLOW__RETRIES="0",
            # nothing may leave the machine
            HTTP_PROXY="http://127.0.0.1:9",
            HTTPS_PROXY="http://127.0.0.1:9",
            NO_PROXY="127.0.0.1,localhost",
            PYTHONPATH=str(REPO),
        )
        self.env = env

    def airflow(self, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [AIRFLOW, *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        (self.root / f"airflow-{'-'.join(Path(arg).name for arg in args[:3])}.log").write_text(
            proc.stdout + proc.stderr, encoding="utf-8"
        )
        return proc

    def metadata(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.db) as con:
            return con.execute(sql, params).fetchall()


def _tail(proc: subprocess.CompletedProcess[str], n: int = 6000) -> str:
    return (proc.stdout + proc.stderr)[-n:]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    dep = Deployment(tmp_path_factory.mktemp("airflow-e2e"))
    migrated = dep.airflow("db", "migrate")
    assert migrated.returncode == 0, _tail(migrated)
    # the pools the DAG uses, as docker-compose.yml's init creates them (docs/deploy.md)
    from pipeline.platforms import pools_json

    (dep.root / "pools.json").write_text(pools_json(), encoding="utf-8")
    imported = dep.airflow("pools", "import", str(dep.root / "pools.json"))
    assert imported.returncode == 0, _tail(imported)
    return dep


@pytest.fixture(scope="module")
def nightly_run(deployment: Deployment) -> subprocess.CompletedProcess[str]:
    return deployment.airflow("dags", "test", "ripple_nightly", LOGICAL_DATE)


def test_nightly_dag_builds_and_publishes_the_warehouse_for_its_data_interval(deployment, nightly_run):
    import duckdb

    assert nightly_run.returncode == 0, _tail(nightly_run)
    data = deployment.data

    # the lake holds the demo items of exactly that window, written under the window's run id
    files = sorted((data / "lake" / "posts").rglob("*.parquet"))
    assert files and all(f.name == f"demo-{WINDOW_KEY}.parquet" for f in files), files
    lake = (
        duckdb.connect()
        .execute(
            "select count(distinct post_id), min(created_at), max(created_at), list(distinct platform) "
            f"from read_parquet('{data}/lake/posts/**/*.parquet', hive_partitioning = true)"
        )
        .fetchone()
    )
    n_items, first, last, platforms = lake
    assert n_items > 100  # scale 0.2 gives a few hundred items a day
    assert SINCE <= first and last < UNTIL
    assert platforms == ["demo"]

    # the published warehouse (the candidate was moved into place, not copied)
    assert not list(data.glob(".warehouse.duckdb.building-*"))
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        tables = {
            row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()
        }
        assert {
            "stg_posts",
            "stg_demo_posts",
            "fct_cascades",
            "fct_item_spread",
            "fct_affect",
            "ripple_build",
        } <= tables
        assert con.execute("select count(*) from stg_posts").fetchone()[0] == n_items
        assert con.execute("select count(*) from stg_demo_posts").fetchone()[0] == n_items
        # the affect task scored the items' text before the build
        assert con.execute("select count(*) from fct_affect").fetchone()[0] > 0
        # every item belongs to exactly one cascade root
        assert con.execute("select sum(size) from fct_cascades").fetchone()[0] == n_items
        # the run is in the warehouse it built (its entry was logged as running before the build)
        runs = con.execute("select run_id, status, rows from stg_runs").fetchall()
        assert runs == [(f"run-{WINDOW_KEY}", "running", n_items)]
    finally:
        con.close()

    # the run log that `ripple status` and the report read
    running, entry = [json.loads(line) for line in (data / "state" / "runs.jsonl").read_text().splitlines()]
    assert (running["run_id"], running["status"], running["finished_at"]) == (
        entry["run_id"],
        "running",
        None,
    )
    recorded = json.loads((data / "state" / "pseudonym.json").read_text())["fingerprint"]
    assert running["key_fingerprint"] == entry["key_fingerprint"] == recorded
    assert entry["run_id"] == f"run-{WINDOW_KEY}"
    assert (entry["since"], entry["until"]) == (SINCE.isoformat(), UNTIL.isoformat())
    assert entry["status"] == "succeeded"
    assert entry["rows"] == n_items and entry["failed_sources"] == {}
    assert set(entry["seconds"]) == {"ingest:demo", "affect", "warehouse", "explain", "publish"}


def test_nightly_dag_ingests_in_the_platform_pool_and_announces_the_warehouse(deployment, nightly_run):
    assert nightly_run.returncode == 0, _tail(nightly_run)
    tis = {
        (task_id, map_index): (state, pool, rendered)
        for task_id, map_index, state, pool, rendered in deployment.metadata(
            "select task_id, map_index, state, pool, rendered_map_index from task_instance "
            "where dag_id = 'ripple_nightly'"
        )
    }
    assert tis[("ingest_demo", 0)] == ("success", "ripple_demo", "demo")
    # platforms without configured sources are skipped, not failed
    assert tis[("ingest_reddit", -1)][:2] == ("skipped", "ripple_reddit")
    assert tis[("ingest_x", -1)][:2] == ("skipped", "ripple_x")
    for step in ("plan", "affect", "build", "explain", "publish", "record_run"):
        assert tis[(step, -1)][0] == "success", step

    [(extra,)] = deployment.metadata(ASSET_EVENTS, "ripple_warehouse")
    extra = json.loads(extra)
    assert (extra["since"], extra["until"]) == (SINCE.isoformat(), UNTIL.isoformat())
    assert extra["path"] == str(deployment.data / "warehouse.duckdb")


def test_weekly_dag_renders_the_report_of_the_week(deployment, nightly_run):
    pytest.importorskip("pipeline.report", reason="the report module is not there yet", exc_type=ImportError)
    assert nightly_run.returncode == 0, "the weekly report needs the nightly run's warehouse"
    # the demo window lies in ISO week 2026-W46 (Monday 9 to Sunday 15 November)
    proc = deployment.airflow(
        "dags", "test", "ripple_weekly_report", LOGICAL_DATE, "--conf", '{"week": "2026-W46"}'
    )
    assert proc.returncode == 0, _tail(proc)
    html = deployment.data / "reports" / "2026-W46" / "report.html"
    assert html.is_file() and html.stat().st_size > 1000
    assert "2026-W46" in html.read_text(encoding="utf-8")
    [(extra,)] = deployment.metadata(ASSET_EVENTS, "ripple_weekly_report")
    assert json.loads(extra) == {"week": "2026-W46", "path": str(html)}
