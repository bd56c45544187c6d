"""The `ripple` command as a user types it: exit codes, messages and the rows it leaves behind."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests.e2e.conftest import RIPPLE, ripple

COMMANDS = [
    "run",
    "ingest",
    "build",
    "purge",
    "sql",
    "shell",
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


def test_sql_cannot_touch_files_or_settings(demo_run: Path, tmp_path: Path) -> None:
    key = demo_run / "state" / "pseudonym.key"
    before = key.read_bytes() if key.exists() else None
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t-value\n")
    lake_file = next((demo_run / "lake" / "posts").rglob("*.parquet"))
    statements = {
        "copy to file": f"copy (select 'x') to '{key}'",
        "read_text": f"select * from read_text('{secret}')",
        "read_csv": f"select * from read_csv('{secret}')",
        "read_parquet": f"select count(*) from read_parquet('{lake_file}')",
        "install": "install httpfs",
        "load": "load httpfs",
        "attach": f"attach '{tmp_path / 'other.duckdb'}' as other",
        "set": "set enable_external_access = true",
        "export": f"export database '{tmp_path / 'export'}'",
        "pragma": "pragma enable_profiling",
    }
    for name, statement in statements.items():
        proc = ripple("sql", statement, "--data-dir", str(demo_run))
        assert proc.returncode == 2, (name, proc.returncode, proc.stderr)
        assert proc.stderr.startswith("error:") and len(proc.stderr.strip().splitlines()) == 1, name
        assert "s3cr3t" not in proc.stdout + proc.stderr
    assert (key.read_bytes() if key.exists() else None) == before
    assert not (tmp_path / "other.duckdb").exists() and not (tmp_path / "export").exists()
    proc = ripple("sql", "pragma table_info('stg_posts')", "--data-dir", str(demo_run), check=True)
    assert "post_id" in proc.stdout


def test_sql_output_is_readable_piped_and_in_80_columns(demo_run: Path) -> None:
    columns = [
        r[0]
        for r in duckdb.connect(str(demo_run / "warehouse.duckdb"), read_only=True)
        .sql("select column_name from duckdb_columns() where table_name = 'stg_posts' order by column_index")
        .fetchall()
    ]
    query = "select * from stg_posts order by post_id limit 3"
    piped = ripple("sql", query, "--data-dir", str(demo_run), check=True)  # stdout is a pipe: CSV
    lines = piped.stdout.splitlines()
    assert lines[0].split(",") == columns and "…" not in piped.stdout
    first_id = lines[1].split(",")[columns.index("post_id")]
    assert first_id.startswith("demo:")
    for fmt in ("table", "vertical"):
        proc = ripple("sql", query, "-f", fmt, "--data-dir", str(demo_run), env={"COLUMNS": "80"}, check=True)
        assert "…" not in proc.stdout, fmt
        assert max(len(line) for line in proc.stdout.splitlines()) <= 80, fmt
    vertical = ripple(
        "sql", query, "-f", "vertical", "--data-dir", str(demo_run), env={"COLUMNS": "80"}
    ).stdout
    assert vertical.count("-[ row ") == 3
    assert any(
        line.startswith("post_id ") and line.endswith(f" | {first_id}") for line in vertical.splitlines()
    )
    status = ripple("status", "--data-dir", str(demo_run), check=True)
    assert status.stdout.splitlines()[0].startswith("run_id,status,")


def test_terminal_output_goes_vertical_when_too_wide(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    from pipeline import cli

    buffer = io.StringIO()
    monkeypatch.setattr(cli, "out", Console(file=buffer, force_terminal=True, width=80, color_system=None))
    cli._emit(["a", "b"], [(1, "x")], "auto")
    assert "┃ a" in buffer.getvalue() or "│ 1" in buffer.getvalue()
    buffer.truncate(0)
    buffer.seek(0)
    wide = [(f"value-{i}-" + "y" * 30,) * 4 for i in range(2)]
    cli._emit(["first", "second", "third", "fourth"], wide, "auto")
    text = buffer.getvalue()
    assert text.count("-[ row ") == 2 and "fourth | value-1-" + "y" * 30 in text and "…" not in text


def test_shell_reads_statements_from_stdin(demo_run: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIPPLE")}
    env.update({"RIPPLE_PSEUDONYM_KEY": "test-key-" + "0" * 32})
    script = (
        ".tables\n"
        "select count(*) as n\n  from stg_posts\n  where platform = 'demo';\n"
        f"copy (select 1) to '{demo_run}/state/x.csv';\n"
        "select 42 as answer;\n"
        ".quit\n"
        "select 'after quit' as never;\n"
    )
    proc = subprocess.run(
        [RIPPLE, "shell", "--data-dir", str(demo_run)], input=script, capture_output=True, text=True, env=env
    )
    con = duckdb.connect(str(demo_run / "warehouse.duckdb"), read_only=True)
    n = con.sql("select count(*) from stg_posts where platform = 'demo'").fetchall()[0][0]
    con.close()
    lines = proc.stdout.splitlines()
    assert "stg_posts" in lines and "fct_item_spread" in lines
    assert lines[lines.index("n") + 1] == str(n)
    assert lines[lines.index("answer") + 1] == "42"
    assert "after quit" not in proc.stdout and "never" not in proc.stdout
    assert "COPY statements are not allowed" in proc.stderr and not (demo_run / "state" / "x.csv").exists()
    assert proc.returncode == 1  # a statement failed


def test_report_of_a_week_without_data_says_so(demo_run: Path) -> None:
    proc = ripple("report", "--week", "2020-W01", "--data-dir", str(demo_run))
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "error: no items in 2020-W01 in the warehouse (it holds items from 2026-10-01 to 2026-10-10); "
        "choose another --week"
    )
    assert not (demo_run / "reports" / "2020-W01").exists()


def test_sql_piped_into_a_reader_that_stops_early_is_not_an_error(demo_run: Path) -> None:
    # `ripple sql ... | head -1`: the reader closes the pipe after one line
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIPPLE")}
    proc = subprocess.Popen(
        [RIPPLE, "sql", "--data-dir", str(demo_run), "select * from stg_posts"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, stderr
    assert first.startswith(b"post_id,") or b"," in first
    assert "error" not in stderr.lower()
