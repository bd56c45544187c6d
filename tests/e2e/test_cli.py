"""The `ripple` command as a user types it: exit codes, messages and the rows it leaves behind."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from tests.e2e.conftest import ripple

COMMANDS = [
    "run",
    "ingest",
    "build",
    "purge",
    "sql",
    "status",
    "report",
    "affect",
    "sources",
    "import reddit-dump",
    "import x-archive",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_the_common_options(command: str) -> None:
    proc = ripple(*command.split(), "--help")
    assert proc.returncode == 0, proc.stderr
    if command not in ("sources",):
        assert "--data-dir" in proc.stdout and "--config" in proc.stdout


def test_run_prints_a_summary_and_builds_the_warehouse(demo_run: Path) -> None:
    con = duckdb.connect(str(demo_run / "warehouse.duckdb"), read_only=True)
    n_items = con.sql("select count(*) from stg_posts").fetchall()[0][0]
    assert 3_000 < n_items < 10_000
    assert con.sql("select count(distinct community) from stg_posts").fetchall()[0][0] == 12
    assert con.sql("select count(*) from demo_planted_effects").fetchall()[0][0] == 3
    con.close()
    # a second run of the same window: the same rows, no duplicates
    proc = ripple(
        "run", "--since", "2026-10-01", "--until", "2026-10-11", "--data-dir", str(demo_run), "-q", check=True
    )
    out = proc.stdout
    assert "Items ingested" in out and "c/technology" in out
    assert "Quarantined records: 0" in out
    assert f"Warehouse: {demo_run / 'warehouse.duckdb'}" in out
    assert "Window: 2026-10-01T00:00:00+00:00 .. 2026-10-11T00:00:00+00:00" in out
    con = duckdb.connect(str(demo_run / "warehouse.duckdb"), read_only=True)
    assert con.sql("select count(*) from stg_posts").fetchall()[0][0] == n_items
    con.close()
    files = list((demo_run / "lake" / "posts").rglob("*.parquet"))
    assert len(files) == 10
    total = duckdb.sql(
        f"select count(*), count(distinct post_id) from read_parquet({[str(f) for f in files]})"
    )
    assert total.fetchall()[0] == (n_items, n_items)


def test_sql_is_read_only_and_errors_are_one_line(demo_run: Path) -> None:
    proc = ripple(
        "sql",
        "select count(*) as n from stg_posts where platform = 'demo'",
        "--data-dir",
        str(demo_run),
        "--format",
        "csv",
    )
    assert (
        proc.returncode == 0 and proc.stdout.splitlines()[0] == "n" and int(proc.stdout.splitlines()[1]) > 0
    )
    proc = ripple("sql", "delete from stg_posts", "--data-dir", str(demo_run))
    assert proc.returncode == 1
    assert proc.stderr.startswith("error:") and "read-only" in proc.stderr.lower()
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = ripple("sql", "select nonsense from nowhere", "--data-dir", str(demo_run))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


def test_status_shows_the_runs(demo_run: Path) -> None:
    proc = ripple("status", "--data-dir", str(demo_run), check=True)
    assert "run-20261001T000000Z-20261011T000000Z" in proc.stdout and "succeeded" in proc.stdout


def test_commands_on_an_empty_data_dir(tmp_path: Path) -> None:
    proc = ripple("sql", "select 1", "--data-dir", str(tmp_path))
    assert proc.returncode == 1 and "no warehouse at" in proc.stderr and "ripple run" in proc.stderr
    proc = ripple("status", "--data-dir", str(tmp_path), check=True)
    assert "No runs yet" in proc.stdout
    proc = ripple("build", "--data-dir", str(tmp_path), "-q", check=True)
    assert (tmp_path / "warehouse.duckdb").exists()


def test_bad_configuration_exits_2_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "ripple.toml"
    config.write_text("[spread]\nmin_outsider_share = 3\n")
    proc = ripple("run", "--config", str(config), "--data-dir", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {config}: spread.min_outsider_share must be between 0 and 1, got 3"
    proc = ripple("ingest", "myspace", "--data-dir", str(tmp_path))
    assert proc.returncode == 2 and "unknown source 'myspace'" in proc.stderr
    proc = ripple("run", "--since", "last tuesday", "--data-dir", str(tmp_path))
    assert proc.returncode == 1 and "cannot read 'last tuesday'" in proc.stderr


def test_config_and_data_dir_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "ripple.toml"
    config.write_text('[run]\nsources = ["demo"]\n[demo]\nseed = 11\n')
    proc = ripple(
        "ingest",
        "demo",
        "--since",
        "2026-10-01",
        "--until",
        "2026-10-02",
        env={"RIPPLE_CONFIG": str(config), "RIPPLE_DATA_DIR": str(tmp_path / "d")},
        check=True,
    )
    assert "c/technology" in proc.stdout
    assert list((tmp_path / "d" / "lake" / "posts" / "platform=demo").glob("date=2026-10-01/*.parquet"))


def test_no_raw_author_name_in_lake_or_warehouse(demo_run: Path) -> None:
    for path in (demo_run / "lake").rglob("*.parquet"):
        assert b"user_0" not in path.read_bytes(), path
    con = duckdb.connect(str(demo_run / "warehouse.duckdb"), read_only=True)
    tables = [r[0] for r in con.sql("select table_name from duckdb_tables()").fetchall()]
    for table in tables:
        columns = [r[0] for r in con.sql(f"describe {table}").fetchall()]
        for column in columns:
            hits = con.sql(
                f"select count(*) from {table} where cast({column} as varchar) like 'user\\_0%' escape '\\'"
            )
            assert hits.fetchall()[0][0] == 0, f"{table}.{column}"
    con.close()


def test_purge_removes_items_deleted_or_removed_upstream(demo_run: Path, tmp_path: Path) -> None:
    data = tmp_path / "purge"
    shutil.copytree(demo_run, data)
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    flagged = con.sql("select count(*) from stg_posts where is_deleted or is_removed").fetchall()[0][0]
    total = con.sql("select count(*) from stg_posts").fetchall()[0][0]
    con.close()
    assert flagged > 10
    dry = ripple("purge", "--dry-run", "--data-dir", str(data), check=True)
    assert f"Would remove {flagged:,} items" in dry.stdout
    proc = ripple("purge", "--data-dir", str(data), check=True)
    assert f"Removed {flagged:,} items" in proc.stdout and "warehouse rebuilt: yes" in proc.stdout
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    assert con.sql("select count(*) from stg_posts where is_deleted or is_removed").fetchall()[0][0] == 0
    assert con.sql("select count(*) from stg_posts").fetchall()[0][0] == total - flagged
    con.close()
    lake_flagged = duckdb.sql(
        f"select count(*) from read_parquet('{data}/lake/posts/*/*/*.parquet') where is_deleted or is_removed"
    ).fetchall()[0][0]
    assert lake_flagged == 0
    again = ripple("purge", "--data-dir", str(data), check=True)
    assert "Removed 0 items" in again.stdout
