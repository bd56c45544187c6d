"""Run state, the writer lease and warehouse versions with the data directory on an S3-compatible server (moto on
loopback): what two workers on two machines see of each other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import duckdb
import pytest

from pipeline import shared, versions
from pipeline.config import load_settings
from pipeline.lease import Lease
from pipeline.locking import LockBusy, writer_lock
from pipeline.run import append_run_log, load_checkpoint, read_run_log, save_checkpoint
from pipeline.state import state_for
from tests.e2e.conftest import RIPPLE

REPO = Path(__file__).resolve().parents[2]
KEY = "shared-state-test-key-" + "0" * 32


def worker(data: str, machine: Path, **sections: dict):
    """The settings of one worker: the shared data directory, its own local disk."""
    overrides = {"warehouse": {"cache_dir": str(machine)}, **sections}
    return load_settings(data_dir=data, overrides=overrides)


@pytest.fixture
def data(s3_bucket: str) -> str:
    return f"{s3_bucket}/data"


def _objects(uri: str) -> list[str]:
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    client = boto3.client("s3")
    found = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return sorted(obj["Key"][len(prefix) + 1 :] for obj in found)


def _env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIPPLE")}
    env.update({"RIPPLE_PSEUDONYM_KEY": KEY, "RIPPLE__WAREHOUSE__CACHE_DIR": str(cache), "COLUMNS": "200"})
    return env


# ------------------------------------------------------------------------------------------------ settings
def test_an_s3_data_directory_keeps_its_uri_and_works_on_a_local_directory(data, tmp_path):
    settings = worker(data + "/", tmp_path / "m1")
    assert settings.data_uri == data
    assert shared.shared_root(settings) == data
    # builds, DuckDB's temporary files and cached versions stay on this machine's disk, one directory per lake
    assert settings.data_dir == (tmp_path / "m1" / data[len("s3://") :]).resolve()
    local = load_settings(data_dir=tmp_path / "local")
    assert local.data_uri is None and shared.state_store(local) is None


# ------------------------------------------------------------------------------------------------ the lease
def test_two_writers_racing_for_the_lease_exactly_one_wins(data, tmp_path):
    store = shared.state_store(worker(data, tmp_path))
    for round_ in range(4):
        leases = [Lease(store, f"writer {i}", 60) for i in range(2)]
        results: list = [None, None]
        barrier = threading.Barrier(2)

        def take(i: int, leases=leases, results=results, barrier=barrier) -> None:
            barrier.wait()
            results[i] = leases[i].try_take()

        threads = [threading.Thread(target=take, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [i for i in range(2) if results[i] is None]
        assert len(winners) == 1, (round_, results)
        loser = 1 - winners[0]
        assert results[loser]["command"] in (f"writer {winners[0]}", "another writer")
        leases[winners[0]].release()


def test_two_ripple_commands_on_two_machines_one_writes_the_other_exits_75(data, tmp_path):
    args = [RIPPLE, "build", "--data-dir", data]
    procs = [
        subprocess.Popen(
            args, env=_env(tmp_path / f"m{i}"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for i in range(2)
    ]
    results = [(p, *p.communicate(timeout=300)) for p in procs]
    assert sorted(p.returncode for p, _, _ in results) == [0, 75], [(p.returncode, e) for p, _, e in results]
    [winner] = [p for p, _, _ in results if p.returncode == 0]
    [loser_err] = [e for p, _, e in results if p.returncode == 75]
    lines = loser_err.strip().splitlines()
    assert len(lines) == 1, loser_err
    assert f"{data} is busy: pid {winner.pid} on " in lines[0]
    assert "(`ripple build`)" in lines[0] and "lease until 20" in lines[0]
    # the lease was released: the next writer gets it at once
    settings = worker(data, tmp_path / "m3")
    with writer_lock(settings, "next"):
        pass


def test_an_expired_lease_is_taken_over_a_live_one_is_not(data, tmp_path):
    settings = worker(data, tmp_path)
    store = shared.state_store(settings)
    path = store.join("ripple.lease.json")
    held = {"host": "worker-b", "pid": 4242, "command": "airflow build", "since": "2026-12-05T02:00:00Z"}
    store.write_bytes(path, json.dumps({**held, "expires_at": time.time() + 600, "expires": "soon"}).encode())
    with pytest.raises(LockBusy) as busy:
        with writer_lock(settings, "ripple run", wait=0.6):
            pass
    assert busy.value.exit_code == 75
    assert str(busy.value) == (
        f"{data} is busy after waiting 0.6s: pid 4242 on worker-b (`airflow build`) since "
        "2026-12-05T02:00:00Z, lease until soon is writing to it; try again later or pass --wait SECONDS"
    )
    # worker-b died: its lease ran out and nobody renews it
    store.write_bytes(path, json.dumps({**held, "expires_at": time.time() - 1}).encode())
    with writer_lock(settings, "ripple run"):
        record = json.loads(store.read_bytes(path))
        assert record["command"] == "ripple run" and record["pid"] == os.getpid()
        assert record["expires_at"] > time.time() + settings.run.lock_lease_seconds - 30
        with writer_lock(settings, "nested"):  # re-entrant within one process
            pass
    assert json.loads(store.read_bytes(path))["released"] is True


def test_the_lease_is_renewed_while_held_and_a_lost_lease_fails_the_command(data, tmp_path):
    settings = worker(data, tmp_path, run={"lock_lease_seconds": 5})
    store = shared.state_store(settings)
    path = store.join("ripple.lease.json")
    with writer_lock(settings, "ripple build"):
        first = json.loads(store.read_bytes(path))["expires_at"]
        time.sleep(2.2)  # renewed every 5/3 s
        assert json.loads(store.read_bytes(path))["expires_at"] > first
    from pipeline.lease import LeaseLost

    with pytest.raises(LeaseLost, match="another writer took it over"):
        with writer_lock(settings, "ripple build"):
            # another worker took it over (as after an expiry this process missed)
            store.write_bytes(path, json.dumps({"pid": 1, "expires_at": time.time() + 600}).encode())
            time.sleep(2.2)
    assert json.loads(store.read_bytes(path))["pid"] == 1  # the other writer's lease is left alone


# ------------------------------------------------------------------------------------------------ run state
_SAVE = """
import sys
from pipeline.config import load_settings
from pipeline.run import save_checkpoint, append_run_log
from pipeline.locking import writer_lock
from pipeline.state import state_for
settings = load_settings(data_dir=sys.argv[1])
with writer_lock(settings, "ingest reddit", wait=60):  # as a worker does: one writer of a source's state
    state = state_for(settings, "reddit")
    state.data["watermark"]["python"] = "2026-12-01T00:00:00Z"
    state.data["runs"][sys.argv[3]] = {"cursor": sys.argv[3]}
    state.save()
    save_checkpoint(settings, "run-a", {"run_id": "run-a", "status": "running", "ingest": {"reddit": {"rows": 7}}})
for i in range(int(sys.argv[2])):  # without the lock: compare-and-swap alone keeps every line
    append_run_log(settings, {"run_id": f"run-{sys.argv[3]}-{i}", "status": "succeeded"})
"""


def test_state_saved_by_one_worker_is_seen_by_another_and_no_run_log_line_is_lost(data, tmp_path):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SAVE, data, "8", name],
            env={**_env(tmp_path / name), "PYTHONPATH": str(REPO)},
            cwd=str(REPO),
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    other = worker(data, tmp_path / "c")
    state = state_for(other, "reddit").data
    assert state["watermark"] == {"python": "2026-12-01T00:00:00Z"}
    assert state["runs"] == {"a": {"cursor": "a"}, "b": {"cursor": "b"}}  # each saw the other's save
    assert load_checkpoint(other, "run-a")["ingest"] == {"reddit": {"rows": 7}}
    # 16 appends from two processes at once: compare-and-swap keeps every one
    ids = sorted(e["run_id"] for e in read_run_log(other))
    assert ids == sorted(f"run-{n}-{i}" for n in "ab" for i in range(8))
    assert {"state/reddit.json", "state/runs.jsonl", "state/runs/run-a.json"} <= set(_objects(data))
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").rglob("runs.jsonl"))


def test_a_state_file_changed_under_a_run_is_not_overwritten(data, tmp_path):
    from pipeline.shared import StateConflict

    one, two = worker(data, tmp_path / "a"), worker(data, tmp_path / "b")
    first, second = state_for(one, "x"), state_for(two, "x")
    first.data["watermark"]["q"] = 1
    first.save()
    second.data["watermark"]["q"] = 2
    with pytest.raises(StateConflict, match="changed by another writer"):
        second.save()
    assert state_for(one, "x").data["watermark"] == {"q": 1}


def test_every_worker_uses_the_one_generated_pseudonym_key(data, tmp_path, monkeypatch):
    from pipeline.pseudonyms import key_fingerprint

    monkeypatch.delenv("RIPPLE_PSEUDONYM_KEY", raising=False)
    prints = {key_fingerprint(worker(data, tmp_path / m)) for m in ("a", "b")}
    assert len(prints) == 1
    record = json.loads(shared.read_state(worker(data, tmp_path / "c"), "pseudonym.json"))
    assert record["fingerprint"] == prints.pop()


# ------------------------------------------------------------------------------------------------ versions
def _build(settings) -> None:
    from pipeline.run import build_warehouse

    with writer_lock(settings, "test build"):
        build_warehouse(settings)


def test_the_build_reads_the_shared_run_log_and_publishes_a_version_readers_elsewhere_open(
    data, tmp_path, monkeypatch
):
    monkeypatch.setenv("RIPPLE_PSEUDONYM_KEY", KEY)
    builder = worker(data, tmp_path / "builder", warehouse={"keep_versions": 2})
    save_checkpoint(builder, "run-x", {"run_id": "run-x"})
    append_run_log(worker(data, tmp_path / "ingester"), {"run_id": "run-x", "status": "running"})
    _build(builder)
    first = versions.current(builder)
    assert first["object"] == f"warehouse/versions/{first['version']}.duckdb"
    assert {"warehouse/CURRENT", first["object"]} <= set(_objects(data))

    reader = worker(data, tmp_path / "analyst")
    path = versions.published_path(reader)
    assert path == tmp_path / "analyst" / data[5:] / "versions" / f"{first['version']}.duckdb"
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("select run_id, status from stg_runs").fetchall() == [("run-x", "running")]
    con.close()
    inode = path.stat().st_ino
    assert versions.published_path(reader).stat().st_ino == inode  # downloaded once

    for _ in range(3):
        _build(builder)
    latest = versions.current(builder)["version"]
    stored = [k for k in _objects(data) if k.startswith("warehouse/versions/")]
    assert len(stored) == 2 and stored[-1] == f"warehouse/versions/{latest}.duckdb"  # keep_versions = 2
    assert versions.published_path(reader).name == f"{latest}.duckdb"
    assert len(list((tmp_path / "analyst").rglob("*.duckdb"))) == 2  # the reader's cache keeps the last 2


def test_ripple_sql_and_status_on_another_machine_read_the_current_version(data, tmp_path, monkeypatch):
    monkeypatch.setenv("RIPPLE_PSEUDONYM_KEY", KEY)
    builder = worker(data, tmp_path / "builder")
    append_run_log(builder, {"run_id": "run-y", "status": "succeeded", "since": "2026-11-01"})
    _build(builder)
    env = _env(tmp_path / "laptop")
    run = subprocess.run(
        [RIPPLE, "sql", "select run_id from stg_runs", "--format", "csv", "--data-dir", data],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["run_id", "run-y"]
    # the reader's safety settings hold on the cached copy
    refused = subprocess.run(
        [RIPPLE, "sql", "select * from read_text('/etc/hostname')", "--data-dir", data],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0
    status = subprocess.run(
        [RIPPLE, "status", "--data-dir", data], env=env, capture_output=True, text=True, timeout=120
    )
    assert status.returncode == 0, status.stderr
    assert "run-y" in status.stdout and f"{data}/warehouse/CURRENT" in status.stdout.replace("\n", "")


def test_a_reader_before_the_first_publish_gets_one_line(data, tmp_path):
    run = subprocess.run(
        [RIPPLE, "sql", "select 1", "--data-dir", data],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    assert run.stderr.strip() == (
        f"error: no warehouse at {data}/warehouse/CURRENT: run `ripple run` or `ripple build` first"
    )


# ------------------------------------------------------------------------------------------------ end to end
def _tables(path: Path) -> dict[str, list[tuple]]:
    """Every table's rows, sorted, without the columns that hold the wall-clock time of the run."""
    volatile = {"fetched_at", "scored_at", "fitted_at", "built_at", "started_at", "finished_at", "seconds"}
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for (table,) in con.execute("select table_name from duckdb_tables() order by 1").fetchall():
            if table in ("stg_runs", "ripple_build", "ripple_build_inputs"):  # run and build metadata
                continue
            cols = [
                d[0]
                for d in con.execute(f"select * from {table} limit 0").description
                if d[0] not in volatile
            ]
            select = ", ".join(f'"{c}"' for c in cols)
            out[table] = sorted(con.execute(f"select {select} from {table}").fetchall(), key=repr)
        return out
    finally:
        con.close()


def test_nightly_runs_on_two_workers_share_the_run_log_and_publish_what_a_local_run_publishes(
    data, tmp_path, monkeypatch
):
    from pipeline.run import run_nightly

    monkeypatch.setenv("RIPPLE_PSEUDONYM_KEY", KEY)
    demo = {"demo": {"scale": 0.02, "seed": 7}}
    first = run_nightly(worker(data, tmp_path / "a", **demo), since="2026-10-01", until="2026-10-04")
    # worker b continues where worker a stopped: it reads the run log on the store
    second = run_nightly(worker(data, tmp_path / "b", **demo), until="2026-10-06")
    assert first.status == second.status == "succeeded"
    assert second.since == first.until
    local_settings = load_settings(data_dir=tmp_path / "local", overrides=demo)
    run_nightly(local_settings, since="2026-10-01", until="2026-10-04")
    run_nightly(local_settings, until="2026-10-06")

    remote = _tables(versions.published_path(worker(data, tmp_path / "analyst")))
    local = _tables(local_settings.warehouse_path)
    assert remote.keys() == local.keys()
    assert sum(len(rows) > 0 for rows in local.values()) >= 20 and len(local["stg_posts"]) > 100
    for table in local:
        assert remote[table] == local[table], table
    # the same window again on a third worker: the same inputs, recognised from the state on the store
    again = run_nightly(worker(data, tmp_path / "c", **demo), since="2026-10-04", until="2026-10-06")
    assert again.build_skipped and again.status == "succeeded"
    runs = [(e["run_id"], e["status"]) for e in read_run_log(worker(data, tmp_path / "c"))]
    assert [r for r in runs if r[1] == "succeeded"] == [
        (first.run_id, "succeeded"),
        (second.run_id, "succeeded"),
        (again.run_id, "succeeded"),
    ]


def test_a_candidate_left_by_a_failed_dag_run_is_deleted_by_a_later_publish(data, tmp_path, monkeypatch):
    monkeypatch.setenv("RIPPLE_PSEUDONYM_KEY", KEY)
    builder = worker(data, tmp_path / "builder")
    store = versions.data_store(builder)
    store.write_bytes(store.join("warehouse/candidates/run-old.duckdb"), b"left behind")
    _build(builder)
    assert store.exists(store.join("warehouse/candidates/run-old.duckdb"))  # too young to be abandoned
    assert versions.prune_candidates(store, older_than=-1) == [
        store.join("warehouse/candidates/run-old.duckdb")
    ]
    assert store.list("warehouse/candidates") == []
