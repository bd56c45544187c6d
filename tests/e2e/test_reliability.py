"""Faults ripple must survive: two writers at once, a window in the future, a second run with nothing new."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from filelock import FileLock

from pipeline.config import load_settings
from pipeline.locking import HOLDER_GRACE, LockBusy, holder_path, lock_path, writer_lock
from pipeline.run import resolve_window
from tests.e2e.conftest import RIPPLE, ripple

SMALL = {"RIPPLE__DEMO__SCALE": "0.05"}
WINDOW = ("--since", "2026-10-01", "--until", "2026-10-04")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIPPLE")}
    env.update({"RIPPLE_PSEUDONYM_KEY": "test-key-" + "0" * 32, "COLUMNS": "200", **SMALL})
    return env


def table_counts(data: Path) -> dict[str, int]:
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        names = [r[0] for r in con.sql("select table_name from duckdb_tables() order by 1").fetchall()]
        return {name: con.sql(f'select count(*) from "{name}"').fetchall()[0][0] for name in names}
    finally:
        con.close()


def test_two_runs_at_once_one_writes_the_other_exits_75(tmp_path: Path) -> None:
    shared, single = tmp_path / "shared", tmp_path / "single"
    args = [RIPPLE, "run", *WINDOW, "--data-dir", str(shared), "-q"]
    procs = [
        subprocess.Popen(args, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(p, *p.communicate(timeout=600)) for p in procs]
    codes = sorted(p.returncode for p, _, _ in results)
    assert codes == [0, 75], [(p.returncode, e) for p, _, e in results]
    [(winner, _, _)] = [r for r in results if r[0].returncode == 0]
    [(_, loser_out, loser_err)] = [r for r in results if r[0].returncode == 75]
    lines = loser_err.strip().splitlines()
    assert len(lines) == 1, loser_err
    assert f"pid {winner.pid} (`ripple run`) since 20" in lines[0] and "busy" in lines[0]
    assert "Traceback" not in loser_err and "Run run-" not in loser_out

    ripple("run", *WINDOW, "--data-dir", str(single), "-q", env=SMALL, check=True)
    counts = table_counts(shared)
    assert counts == table_counts(single) and counts["stg_posts"] > 100
    runs = [json.loads(line) for line in (shared / "state" / "runs.jsonl").read_text().splitlines()]
    assert [r["status"] for r in runs] == ["running", "succeeded"]  # one run, logged once
    assert not (shared / "state" / "ripple.lock.json").exists()


def test_a_second_writer_waits_and_readers_never_do(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    with writer_lock(settings, "ripple test"):
        busy = ripple("build", "--data-dir", str(tmp_path), "-q")
        assert busy.returncode == 75
        assert f"pid {os.getpid()} (`ripple test`) since 20" in busy.stderr
        assert len(busy.stderr.strip().splitlines()) == 1
        status = ripple("status", "--data-dir", str(tmp_path))
        assert status.returncode == 0 and "No runs yet" in status.stdout
        waiting = subprocess.Popen(
            [RIPPLE, "build", "--wait", "60", "--data-dir", str(tmp_path), "-q"],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)
        assert waiting.poll() is None  # still waiting for the lock
        assert not (tmp_path / "warehouse.duckdb").exists()
    out, err = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, err
    assert (tmp_path / "warehouse.duckdb").exists()


def test_a_writer_that_loses_the_race_by_a_hair_still_names_the_holder(tmp_path: Path) -> None:
    """The winner takes the lock, then writes its record: a loser looking in between waits for the record."""
    settings = load_settings(data_dir=tmp_path)
    settings.state_dir.mkdir(parents=True)
    lock = FileLock(str(lock_path(settings)))
    lock.acquire()
    try:
        record = {"pid": os.getpid(), "command": "ripple run", "since": "2026-12-05T00:00:00Z"}
        late = threading.Timer(0.5, lambda: holder_path(settings).write_text(json.dumps(record)))
        late.start()
        with pytest.raises(LockBusy) as busy, writer_lock(settings, "ripple build"):
            pass
        late.join()
    finally:
        lock.release()
    assert f"pid {os.getpid()} (`ripple run`) since 2026-12-05T00:00:00Z is writing" in str(busy.value)
    # with no record at all it gives up after a short grace and says so plainly
    holder_path(settings).unlink()
    lock.acquire()
    try:
        started = time.monotonic()
        with pytest.raises(LockBusy) as busy, writer_lock(settings, "ripple build"):
            pass
    finally:
        lock.release()
    assert "busy: another process is writing to it" in str(busy.value)
    assert HOLDER_GRACE <= time.monotonic() - started < HOLDER_GRACE + 2


def test_a_holder_record_of_a_dead_process_is_ignored(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "state").mkdir()
    record = {"pid": dead.pid, "command": "ripple run", "since": "2026-01-01T00:00:00Z"}
    (tmp_path / "state" / "ripple.lock.json").write_text(json.dumps(record))
    proc = ripple("build", "--data-dir", str(tmp_path), "-q")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "warehouse.duckdb").exists()


def test_an_until_in_the_future_is_clamped_to_now(tmp_path: Path) -> None:
    since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    before = datetime.now(UTC)
    proc = ripple(
        "run", "--since", since, "--until", "2099-03-01", "--data-dir", str(tmp_path), "-q", env=SMALL
    )
    after = datetime.now(UTC)
    assert proc.returncode == 0, proc.stderr
    assert "note: --until 2099-03-01T00:00:00+00:00 is in the future; the window ends now" in proc.stderr
    [entry] = [
        json.loads(line)
        for line in (tmp_path / "state" / "runs.jsonl").read_text().splitlines()
        if json.loads(line)["status"] == "succeeded"
    ]
    until = datetime.fromisoformat(entry["until"])
    assert before - timedelta(seconds=1) <= until <= after
    assert until <= datetime.fromisoformat(entry["finished_at"])
    assert "2099" not in proc.stdout
    # the next plain run starts where this one ended, not in 2099
    window = resolve_window(load_settings(data_dir=tmp_path))
    assert window.since == until and window.until <= datetime.now(UTC)


def test_a_run_log_from_before_the_clamp_does_not_block_later_runs(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    poisoned = {
        "run_id": "run-x",
        "since": "2026-11-01T00:00:00+00:00",
        "until": "2099-03-01T00:00:00+00:00",
        "status": "succeeded",
        "finished_at": "2026-11-02T00:00:00+00:00",
    }
    (tmp_path / "state" / "runs.jsonl").write_text(json.dumps(poisoned) + "\n")
    window = resolve_window(load_settings(data_dir=tmp_path))
    assert window.since == datetime(2026, 11, 2, tzinfo=UTC)


def test_since_after_until_says_so(tmp_path: Path) -> None:
    proc = ripple("run", "--since", "2026-12-01", "--until", "2026-11-01", "--data-dir", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: the window start 2026-12-01T00:00:00+00:00 is after its end 2026-11-01T00:00:00+00:00"
    )
    state = tmp_path / "state"
    assert (sorted(p.name for p in state.iterdir()) if state.exists() else []) in ([], ["ripple.lock"])


def test_nothing_new_skips_the_build_and_the_run_is_in_its_own_warehouse(tmp_path: Path) -> None:
    first = ripple("run", *WINDOW, "--data-dir", str(tmp_path), "-q", env=SMALL, check=True)
    run_id = "run-20261001T000000Z-20261004T000000Z"
    assert "Tables built" in first.stdout and "Report:" in first.stdout
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    assert con.sql("select run_id, status from stg_runs").fetchall() == [(run_id, "running")]
    con.close()
    published = (tmp_path / "warehouse.duckdb").stat()

    # the same window again: the demo regenerates the same items, so the warehouse inputs did not change
    again = ripple("run", *WINDOW, "--data-dir", str(tmp_path), "-q", env=SMALL, check=True)
    assert "Nothing new" in again.stdout and "build and report skipped" in again.stdout
    assert "Tables built" not in again.stdout and "Report:" not in again.stdout
    now = (tmp_path / "warehouse.duckdb").stat()
    assert (now.st_ino, now.st_mtime_ns) == (published.st_ino, published.st_mtime_ns)
    status = ripple("status", "--data-dir", str(tmp_path), check=True)
    assert status.stdout.count(run_id) == 1 and "succeeded" in status.stdout

    forced = ripple("build", "--data-dir", str(tmp_path), "-q", env=SMALL, check=True)
    assert "Tables built" in forced.stdout
    assert (tmp_path / "warehouse.duckdb").stat().st_ino != published.st_ino
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    assert con.sql("select status from stg_runs where run_id = ?", params=[run_id]).fetchall() == [
        ("succeeded",)
    ]
    con.close()

    # a new window brings new items: built again
    later = ripple(
        "run", "--since", "2026-10-04", "--until", "2026-10-05", "--data-dir", str(tmp_path), "-q", env=SMALL
    )
    assert later.returncode == 0 and "Tables built" in later.stdout and "Nothing new" not in later.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("ingest", "demo", "--thread", "abc123"),
        ("ingest", "x", "--thread", "123"),
    ],
)
def test_thread_is_refused_by_sources_without_threads(tmp_path: Path, args: tuple[str, ...]) -> None:
    proc = ripple(*args, "--since", "2026-10-01", "--until", "2026-10-02", "--data-dir", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"error: --thread is not supported by the {args[1]} source (it fetches by time window)"
    )
    assert not (tmp_path / "lake").exists()


def test_unknown_source_fails_before_any_work(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = ripple("run", "--source", "nosuch", "--data-dir", str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown source 'nosuch'")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 30
    assert not (tmp_path / "lake").exists() and not (tmp_path / "warehouse.duckdb").exists()


def test_a_bad_or_changed_pseudonym_key_stops_the_run_before_any_source(tmp_path: Path) -> None:
    from pipeline.pseudonyms import fingerprint

    day = ("--since", "2026-10-01", "--until", "2026-10-02", "--data-dir", str(tmp_path), "-q")
    ripple("run", *day, env=SMALL, check=True)
    runs_log = tmp_path / "state" / "runs.jsonl"
    expected = fingerprint(_env()["RIPPLE_PSEUDONYM_KEY"].encode())
    assert {json.loads(line)["key_fingerprint"] for line in runs_log.read_text().splitlines()} == {expected}
    lake_files = sorted((tmp_path / "lake").rglob("*"))
    checkpoints = sorted((tmp_path / "state" / "runs").iterdir())
    logged = runs_log.read_text()

    next_day = ("--since", "2026-10-02", "--until", "2026-10-03", "--data-dir", str(tmp_path), "-q")
    for key, message in [
        (
            "another-key-" + "1" * 32,
            f"error: the pseudonym key changed (fingerprint {fingerprint(('another-key-' + '1' * 32).encode())}, the lake's is {expected})",
        ),
        ("short", "error: the pseudonym key in RIPPLE_PSEUDONYM_KEY is 5 bytes; it must be at least 32"),
    ]:
        proc = ripple("run", *next_day, env={**SMALL, "RIPPLE_PSEUDONYM_KEY": key})
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith(message), proc.stderr
        # nothing ingested, no run started or logged
        assert sorted((tmp_path / "lake").rglob("*")) == lake_files
        assert sorted((tmp_path / "state" / "runs").iterdir()) == checkpoints
        assert runs_log.read_text() == logged
