"""The DAG files parse, are configured the way docs/operations.md says, and stay cheap to import."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from pipeline import orchestration as lib
from tests.dags.conftest import DAG_FILES, DAGS_DIR, REPO, load_dag_module, require_airflow

require_airflow()

pytestmark = pytest.mark.airflow

HEAVY_MODULES = (
    "duckdb",
    "pyarrow",
    "pipeline.lake",
    "pipeline.warehouse",
    "pipeline.run",
    "pandas",
    "numpy",
)


@pytest.fixture
def dagbag(ripple_env):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_dag_files_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == set(DAG_FILES)


def test_every_task_retries_at_least_twice_with_exponential_backoff(dagbag):
    for dag in dagbag.dags.values():
        assert dag.tags and "ripple" in dag.tags, dag.dag_id
        assert dag.max_active_runs == 1, dag.dag_id
        assert dag.catchup is False, dag.dag_id
        for task in dag.tasks:
            assert task.retries >= 2, (dag.dag_id, task.task_id, task.retries)
            assert task.retry_exponential_backoff > 1, (dag.dag_id, task.task_id)


def test_nightly_runs_at_two_utc_over_the_previous_day_by_default(dagbag):
    import pendulum
    from airflow.timetables.interval import CronDataIntervalTimetable

    timetable = dagbag.dags["ripple_nightly"].timetable
    # a data-interval timetable: each run covers the time since the previous tick, so windows tile exactly
    assert type(timetable).__name__ == "CronDataIntervalTimetable"
    assert (timetable.expression, str(timetable.timezone)) == ("0 2 * * *", "UTC")
    # a manual run on 2026-11-16 10:00 covers the last complete interval: 15th 02:00 to 16th 02:00
    core = CronDataIntervalTimetable(timetable.expression, timetable.timezone)
    interval = core.infer_manual_data_interval(run_after=pendulum.datetime(2026, 11, 16, 10, tz="UTC"))
    assert (interval.start, interval.end) == (
        datetime(2026, 11, 15, 2, tzinfo=UTC),
        datetime(2026, 11, 16, 2, tzinfo=UTC),
    )


def test_nightly_schedule_comes_from_the_configuration(ripple_env, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    ripple_env.write_text('[airflow]\nnightly_schedule = "30 4 * * *"\n', encoding="utf-8")
    assert (
        DagBag(dag_folder=str(DAG_FILES["ripple_nightly"])).dags["ripple_nightly"].timetable.expression
        == "30 4 * * *"
    )
    # the environment wins over the file, as for every other setting
    monkeypatch.setenv("RIPPLE__AIRFLOW__NIGHTLY_SCHEDULE", "0 6 * * *")
    assert (
        DagBag(dag_folder=str(DAG_FILES["ripple_nightly"])).dags["ripple_nightly"].timetable.expression
        == "0 6 * * *"
    )


def test_ingest_is_mapped_per_platform_in_that_platforms_pool(dagbag):
    from pipeline.sources.base import REGISTRY

    dag = dagbag.dags["ripple_nightly"]
    platforms = {platform for _target, platform in REGISTRY.values()}
    for platform in platforms:
        task = dag.get_task(f"ingest_{platform}")
        assert task.pool == f"ripple_{platform}"
        assert task.is_mapped  # dynamic task mapping over the configured sources of the platform
    # the stages run in this order
    order = ["plan", "affect", "build", "explain", "publish", "record_run"]
    for upstream, downstream in zip(order, order[1:], strict=False):
        assert upstream in {t.task_id for t in dag.get_task(downstream).get_flat_relatives(upstream=True)}


def test_publish_emits_the_asset_the_weekly_report_is_scheduled_on(dagbag):
    publish = dagbag.dags["ripple_nightly"].get_task("publish")
    weekly = dagbag.dags["ripple_weekly_report"]
    [warehouse] = publish.outlets
    assert warehouse.name == "ripple_warehouse"
    assert weekly.timetable.asset_condition == warehouse
    [report] = weekly.get_task("render").outlets
    assert report.name == "ripple_weekly_report"


@pytest.mark.parametrize("name", sorted(DAG_FILES))
def test_importing_a_dag_file_is_cheap(name):
    """In a fresh interpreter: Airflow's own import is paid first, then the DAG file alone is timed."""
    code = f"""
import importlib.util, json, sys, time
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, get_current_context, task
heavy = {HEAVY_MODULES!r}
before = [m for m in heavy if m in sys.modules]
spec = importlib.util.spec_from_file_location("dag_under_test", {str(DAG_FILES[name])!r})
module = importlib.util.module_from_spec(spec)
started = time.perf_counter()
spec.loader.exec_module(module)
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "before": before, "after": [m for m in heavy if m in sys.modules]}}))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=180, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    measured = json.loads(proc.stdout.strip().splitlines()[-1])
    assert measured["before"] == []  # otherwise the check below would prove nothing
    assert measured["after"] == [], f"{name} imports {measured['after']} at parse time"
    assert measured["seconds"] < 0.5, f"importing {name} took {measured['seconds']:.2f} s"


# ------------------------------------------------------------------------------------------------ helpers
def test_reddit_connection_becomes_praw_keyword_arguments(ripple_env):
    from airflow.sdk import Connection

    conn = Connection(
        conn_id="reddit_default",
        conn_type="generic",
        login="app-id",
        password="app-secret",
        extra=json.dumps(
            {"user_agent": "ripple/0.1 by u/someone", "refresh_token": "tok-123", "username": ""}
        ),
    )
    assert lib.connection_credentials("reddit", conn) == {
        "client_id": "app-id",
        "client_secret": "app-secret",
        "user_agent": "ripple/0.1 by u/someone",
        "refresh_token": "tok-123",
    }
    script_app = Connection(
        conn_id="reddit_default",
        conn_type="generic",
        extra=json.dumps(
            {
                "client_id": "a",
                "client_secret": "b",
                "username": "u",
                "password": "p",
                "oauth_url": "http://127.0.0.1:9/",
            }
        ),
    )
    assert lib.connection_credentials("reddit", script_app) == {
        "client_id": "a",
        "client_secret": "b",
        "username": "u",
        "password": "p",
        "oauth_url": "http://127.0.0.1:9/",
    }


def test_x_connection_password_is_the_bearer_token(ripple_env):
    from airflow.sdk import Connection

    conn = Connection(conn_id="x_default", conn_type="generic", password="AAAA-bearer")
    assert lib.connection_credentials("x", conn) == {"bearer_token": "AAAA-bearer"}


def test_credentials_come_from_the_environment_connection_or_none(ripple_env, monkeypatch):
    nightly = load_dag_module("ripple_nightly")
    assert nightly.lib.connection is lib.connection  # the DAG looks connections up through the library
    monkeypatch.delenv("AIRFLOW_CONN_X_DEFAULT", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_REDDIT_DEFAULT", raising=False)
    # no connection: the pipeline falls back to its own configuration (praw.ini, X_BEARER_TOKEN)
    assert lib.credentials_for("x", lib.connection) is None
    assert lib.credentials_for("demo", lib.connection) is None
    monkeypatch.setenv(
        "AIRFLOW_CONN_REDDIT_DEFAULT",
        json.dumps(
            {"conn_type": "generic", "login": "cid", "password": "csecret", "extra": {"user_agent": "ua"}}
        ),
    )
    assert lib.credentials_for("reddit", lib.connection) == {
        "client_id": "cid",
        "client_secret": "csecret",
        "user_agent": "ua",
    }


def _plan():
    return {
        "run_id": "run-20261114T020000Z-20261115T020000Z",
        "since": "2026-11-14T02:00:00+00:00",
        "until": "2026-11-15T02:00:00+00:00",
    }


def test_run_log_entry_partial_when_a_source_failed_but_the_warehouse_was_published(ripple_env):
    entry = lib.run_log_entry(
        _plan(),
        planned={"demo": ["demo"], "reddit": ["reddit"], "x": []},
        ingested=[{"source": "demo", "rows": 120, "quarantined": 3, "seconds": 1.5}],
        steps={
            "affect": {"seconds": 2.0},
            "build": {"seconds": 3.0},
            "explain": {"seconds": 0.5},
            "publish": {"seconds": 0.1, "path": "/data/warehouse.duckdb"},
        },
        states={"ingest_demo_0": "success", "ingest_reddit_0": "failed", "publish": "success"},
        started_at="2026-11-15T02:00:05+00:00",
        airflow_run_id="scheduled__2026-11-14T02:00:00+00:00",
    )
    assert entry["status"] == "partial"
    assert entry["rows"] == 120 and entry["quarantined"] == 3
    assert list(entry["failed_sources"]) == ["reddit"]
    assert (
        "ingest_reddit[0]" in entry["failed_sources"]["reddit"]
        and "failed" in entry["failed_sources"]["reddit"]
    )
    assert entry["seconds"] == {
        "ingest:demo": 1.5,
        "affect": 2.0,
        "warehouse": 3.0,
        "explain": 0.5,
        "publish": 0.1,
    }
    assert entry["failed_steps"] == []


def test_run_log_entry_failed_when_nothing_was_published(ripple_env):
    entry = lib.run_log_entry(
        _plan(),
        planned={"demo": ["demo"]},
        ingested=[{"source": "demo", "rows": 50, "quarantined": 0, "seconds": 1.0}],
        steps={"affect": {"seconds": 2.0}, "build": None, "explain": None, "publish": None},
        states={
            "ingest_demo_0": "success",
            "affect": "success",
            "build": "failed",
            "explain": "upstream_failed",
            "publish": "upstream_failed",
        },
        started_at="2026-11-15T02:00:05+00:00",
        airflow_run_id="manual__x",
    )
    assert entry["status"] == "failed"
    assert entry["failed_sources"] == {}
    assert entry["failed_steps"] == ["build", "explain", "publish"]
    # the shape `ripple status` and stg_runs read
    for key in (
        "run_id",
        "since",
        "until",
        "status",
        "started_at",
        "finished_at",
        "rows",
        "quarantined",
        "failed_sources",
        "seconds",
        "resumed",
    ):
        assert key in entry


def test_run_log_entry_succeeded(ripple_env):
    entry = lib.run_log_entry(
        _plan(),
        planned={"demo": ["demo"], "reddit": [], "x": []},
        ingested=[{"source": "demo", "rows": 7, "quarantined": 0, "seconds": 1.0}],
        steps={s: {"seconds": 1.0} for s in ("affect", "build", "explain", "publish")},
        states={},
        started_at="2026-11-15T02:00:05+00:00",
        airflow_run_id="manual__x",
    )
    assert (entry["status"], entry["rows"], entry["failed_sources"]) == ("succeeded", 7, {})


# ------------------------------------------------------------------------------------------------ weekly
def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_weekly_report_is_due_only_on_the_publish_that_completes_a_week(ripple_env):
    # 2026-11-16 is a Monday: the 02:00 run covers Sunday 02:00 .. Monday 02:00 and completes week 46
    assert lib.due_weeks([(_utc(2026, 11, 15, 2), _utc(2026, 11, 16, 2))]) == ["2026-W46"]
    # Tuesday's run completes nothing new
    assert lib.due_weeks([(_utc(2026, 11, 16, 2), _utc(2026, 11, 17, 2))]) == []
    # Sunday's run neither: week 47 ends at Monday 00:00
    assert lib.due_weeks([(_utc(2026, 11, 21, 2), _utc(2026, 11, 22, 2))]) == []
    # a midnight schedule: the window ending exactly at Monday 00:00 completes the week
    assert lib.due_weeks([(_utc(2026, 11, 15), _utc(2026, 11, 16))]) == ["2026-W46"]
    # a backfill's events together: every week they complete
    days = [(_utc(2026, 10, 1) + timedelta(days=i), _utc(2026, 10, 2) + timedelta(days=i)) for i in range(31)]
    assert lib.due_weeks(days) == ["2026-W40", "2026-W41", "2026-W42", "2026-W43"]
    # an event without a window (emitted by hand): the last complete week
    assert lib.due_weeks([(None, _utc(2026, 11, 19, 8))]) == ["2026-W46"]
    # ISO years: 2026-12-28 is in 2026-W53, and 2027-01-04 is the Monday that ends it
    assert lib.due_weeks([(_utc(2027, 1, 3, 2), _utc(2027, 1, 4, 2))]) == ["2026-W53"]


def test_week_end_is_the_monday_after(ripple_env):
    assert lib.week_end("2026-W46") == _utc(2026, 11, 16)
    assert lib.week_end("2026-W53") == _utc(2027, 1, 4)


# ------------------------------------------------------------------------------------------------ task bodies
def _call_with_context(dag, task_id: str, context: dict, monkeypatch):
    """Run a task's Python body with a hand-made context (its module's get_current_context is swapped)."""
    fn = dag.get_task(task_id).python_callable
    monkeypatch.setitem(fn.__globals__, "get_current_context", lambda: context)
    return fn


def test_plan_uses_the_data_interval_and_the_configured_sources(dagbag, ripple_env, monkeypatch):
    import pendulum

    ripple_env.write_text('[run]\nsources = ["demo", "reddit"]\n', encoding="utf-8")
    context = {
        "params": {"since": None, "until": None},
        "data_interval_start": pendulum.datetime(2026, 11, 14, 2, tz="UTC"),
        "data_interval_end": pendulum.datetime(2026, 11, 15, 2, tz="UTC"),
    }
    plan = _call_with_context(dagbag.dags["ripple_nightly"], "plan", context, monkeypatch)
    planned = plan()
    # the plan checks the pseudonym key (generated and recorded on first use) and passes its fingerprint on
    state = ripple_env.parent / "data" / "state"
    recorded = json.loads((state / "pseudonym.json").read_text())["fingerprint"]
    assert planned == {
        "since": "2026-11-14T02:00:00+00:00",
        "until": "2026-11-15T02:00:00+00:00",
        "run_id": "run-20261114T020000Z-20261115T020000Z",
        "sources": ["demo", "reddit"],
        "key_fingerprint": recorded,
    }
    assert len(recorded) == 16 and recorded not in (state / "pseudonym.key").read_text()
    # the params widen a manual run's window; the other bound stays the data interval's
    context["params"] = {"since": "2026-11-01", "until": None}
    assert plan()["run_id"] == "run-20261101T000000Z-20261115T020000Z"


def test_plan_of_a_run_without_data_interval_covers_the_day_before_it_was_queued(
    dagbag, ripple_env, monkeypatch
):
    from types import SimpleNamespace

    import pendulum

    context = {
        "params": {"since": None, "until": None},
        "data_interval_start": None,
        "data_interval_end": None,
        "dag_run": SimpleNamespace(run_after=pendulum.datetime(2026, 11, 20, 9, 30, tz="UTC")),
    }
    plan = _call_with_context(dagbag.dags["ripple_nightly"], "plan", context, monkeypatch)
    assert (plan()["since"], plan()["until"]) == ("2026-11-19T09:30:00+00:00", "2026-11-20T09:30:00+00:00")


def test_plan_rejects_an_unknown_source_without_retrying(dagbag, ripple_env, monkeypatch):
    import pendulum
    from airflow.sdk.exceptions import AirflowFailException

    ripple_env.write_text('[run]\nsources = ["demo", "mastodonn"]\n', encoding="utf-8")
    context = {
        "params": {"since": None, "until": None},
        "data_interval_start": pendulum.datetime(2026, 11, 14, 2, tz="UTC"),
        "data_interval_end": pendulum.datetime(2026, 11, 15, 2, tz="UTC"),
    }
    plan = _call_with_context(dagbag.dags["ripple_nightly"], "plan", context, monkeypatch)
    with pytest.raises(AirflowFailException, match="mastodonn"):
        plan()


def test_choose_weeks_reads_the_windows_of_the_triggering_publishes(dagbag, monkeypatch):
    from types import SimpleNamespace

    dag = dagbag.dags["ripple_weekly_report"]
    warehouse = dag.timetable.asset_condition
    events = [
        # Monday's nightly run: completes week 46
        SimpleNamespace(
            extra={"since": "2026-11-15T02:00:00+00:00", "until": "2026-11-16T02:00:00+00:00"},
            timestamp=datetime(2026, 11, 16, 2, 20, tzinfo=UTC),
        ),
        # Tuesday's: nothing new
        SimpleNamespace(
            extra={"since": "2026-11-16T02:00:00+00:00", "until": "2026-11-17T02:00:00+00:00"},
            timestamp=datetime(2026, 11, 17, 2, 20, tzinfo=UTC),
        ),
    ]
    context = {"params": {"week": None}, "triggering_asset_events": {warehouse: events}}
    choose_weeks = _call_with_context(dag, "choose_weeks", context, monkeypatch)
    assert choose_weeks() == ["2026-W46"]
    context["triggering_asset_events"] = {warehouse: events[1:]}
    assert choose_weeks() == []
    # a manual run names its week
    context["params"] = {"week": "2026-W40"}
    assert choose_weeks() == ["2026-W40"]


def test_publish_can_be_retried_after_its_rename_succeeded(dagbag, ripple_env, monkeypatch):
    import os
    from pathlib import Path
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowFailException

    class OutletEvents(dict):
        def __missing__(self, key):
            self[key] = SimpleNamespace(extra=None)
            return self[key]

    data = Path(os.environ["RIPPLE_DATA_DIR"])
    data.mkdir()
    label = "run-20261114T020000Z-20261115T020000Z"
    candidate = data / f".warehouse.duckdb.building-{label}"
    candidate.write_bytes(b"the new warehouse")
    built = {"inode": candidate.stat().st_ino}
    context = {"outlet_events": OutletEvents()}
    publish = _call_with_context(dagbag.dags["ripple_nightly"], "publish", context, monkeypatch)
    window = ("2026-11-14T02:00:00+00:00", "2026-11-15T02:00:00+00:00")

    first = publish(label, *window, built)
    assert (data / "warehouse.duckdb").read_bytes() == b"the new warehouse" and not candidate.exists()
    [event] = context["outlet_events"].values()
    assert event.extra == {"run_id": label, "since": window[0], "until": window[1], "path": first["path"]}
    # the task died after the rename and Airflow retries it: the same warehouse is announced again
    assert publish(label, *window, built)["path"] == first["path"]
    # no candidate and a warehouse this run did not build: say what to do instead of retrying in vain
    with pytest.raises(AirflowFailException, match="clear the build task"):
        publish(label, *window, {"inode": built["inode"] + 1})


def test_a_changed_pseudonym_key_fails_the_plan_without_retrying(dagbag, ripple_env, monkeypatch):
    import pendulum
    from airflow.sdk.exceptions import AirflowFailException

    context = {
        "params": {"since": None, "until": None},
        "data_interval_start": pendulum.datetime(2026, 11, 14, 2, tz="UTC"),
        "data_interval_end": pendulum.datetime(2026, 11, 15, 2, tz="UTC"),
    }
    plan = _call_with_context(dagbag.dags["ripple_nightly"], "plan", context, monkeypatch)
    monkeypatch.setenv("RIPPLE_PSEUDONYM_KEY", "a" * 32)
    first = plan()["key_fingerprint"]
    monkeypatch.setenv("RIPPLE_PSEUDONYM_KEY", "b" * 32)
    with pytest.raises(AirflowFailException, match="the pseudonym key changed"):
        plan()
    monkeypatch.setenv("RIPPLE_PSEUDONYM_KEY", "short")
    with pytest.raises(AirflowFailException, match="is 5 bytes; it must be at least 32"):
        plan()
    monkeypatch.setenv("RIPPLE_PSEUDONYM_KEY", "a" * 32)
    assert plan()["key_fingerprint"] == first


def test_tasks_that_write_wait_for_the_writer_lock_then_fail_naming_its_holder(ripple_env, monkeypatch):
    import os
    from pathlib import Path

    from pipeline.config import load_settings
    from pipeline.locking import LockBusy

    monkeypatch.setenv("RIPPLE__AIRFLOW__LOCK_WAIT_SECONDS", "0.5")
    settings = load_settings()
    window = ("2026-11-14T02:00:00+00:00", "2026-11-15T02:00:00+00:00")
    entry = {"run_id": "run-x", "status": "failed", "failed_sources": {}, "failed_steps": ["build"]}
    holder = subprocess.Popen(  # another writer (the lock is re-entrant within one process)
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pipeline.config import load_settings\n"
            "from pipeline.locking import writer_lock\n"
            "with writer_lock(load_settings(), 'ripple run'):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(120)\n",
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        for call in (
            lambda: lib.ingest("demo", *window, None),
            lib.affect,
            lambda: lib.build("run-x"),
            lambda: lib.record_run(entry),
        ):
            with pytest.raises(LockBusy, match=rf"after waiting 0.5s: pid {holder.pid} \(`ripple run`\)"):
                call()
    finally:
        holder.kill()
        holder.wait()
    assert not Path(os.environ["RIPPLE_DATA_DIR"], "lake").exists()
    assert not (settings.state_dir / "runs.jsonl").exists()
    # free again: the task writes, and holds the lock while it does
    seen = []
    monkeypatch.setattr("pipeline.run.append_run_log", lambda s, e: seen.append(_lock_holder(s)))
    lib.record_run(entry)
    assert seen == ["airflow record_run"]


def _lock_holder(settings):
    from pipeline.locking import read_holder

    return (read_holder(settings) or {}).get("command")


def test_build_logs_the_run_as_running_before_it_builds(ripple_env, monkeypatch):
    from types import SimpleNamespace

    from pipeline.config import load_settings
    from pipeline.run import read_run_log

    plan = {**_plan(), "key_fingerprint": "0123456789abcdef"}
    xcoms = {"plan": plan, "sources_demo": ["demo"], "affect": {"seconds": 2.0}}
    ingested = [{"source": "demo", "rows": 42, "quarantined": 1, "seconds": 1.0}]

    class TI:
        def xcom_pull(self, task_ids, key="return_value"):
            if isinstance(task_ids, list):
                return ingested if task_ids == ["ingest_demo"] else []
            value = xcoms.get(task_ids)
            return value.get(key) if task_ids == "plan" else value

        def get_task_states(self, dag_id, run_ids):
            return {run_ids[0]: {"ingest_demo_0": "success", "affect": "success"}}

    dag_run = SimpleNamespace(
        dag_id="ripple_nightly", run_id="manual__x", start_date=_utc(2026, 11, 15, 2), run_after=None
    )
    settings = load_settings()
    seen = []

    def build_candidate(current, label, skip_hooks):
        seen.append([(e["run_id"], e["status"]) for e in read_run_log(current)])
        raise RuntimeError("stop here")

    monkeypatch.setattr("pipeline.warehouse.build_candidate", build_candidate)
    running = lambda: lib.run_log_entry_of({"ti": TI(), "dag_run": dag_run}, running=True)  # noqa: E731
    with pytest.raises(RuntimeError, match="stop here"):
        lib.build(plan["run_id"], running=running)
    assert seen == [[(plan["run_id"], "running")]]
    [entry] = read_run_log(settings)
    assert (entry["rows"], entry["quarantined"], entry["finished_at"]) == (42, 1, None)
    assert entry["key_fingerprint"] == "0123456789abcdef" and entry["failed_steps"] == []
    assert entry["seconds"] == {"ingest:demo": 1.0, "affect": 2.0}
    # the finished entry of the same run follows it
    finished = lib.run_log_entry_of({"ti": TI(), "dag_run": dag_run})
    assert finished["status"] == "failed" and finished["key_fingerprint"] == "0123456789abcdef"


# ------------------------------------------------------------------------------------------------ bad settings
def test_a_broken_ripple_toml_fails_the_tasks_with_its_message_not_the_dag_import(ripple_env, monkeypatch):
    import pendulum
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.exceptions import AirflowFailException

    ripple_env.write_text("[run\nsources = demo\n", encoding="utf-8")  # not TOML
    dagbag = DagBag(dag_folder=str(DAGS_DIR))
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == set(DAG_FILES)
    # scheduled with the defaults meanwhile
    assert dagbag.dags["ripple_nightly"].timetable.expression == "0 2 * * *"
    context = {
        "params": {"since": None, "until": None},
        "data_interval_start": pendulum.datetime(2026, 11, 14, 2, tz="UTC"),
        "data_interval_end": pendulum.datetime(2026, 11, 15, 2, tz="UTC"),
    }
    plan = _call_with_context(dagbag.dags["ripple_nightly"], "plan", context, monkeypatch)
    with pytest.raises(AirflowFailException, match=rf"{ripple_env.name}: invalid TOML"):
        plan()
    build = dagbag.dags["ripple_nightly"].get_task("build").python_callable
    with pytest.raises(AirflowFailException, match="invalid TOML"):
        build("run-x")
    render = _call_with_context(
        dagbag.dags["ripple_weekly_report"], "render", {"outlet_events": {}}, monkeypatch
    )
    with pytest.raises(AirflowFailException, match="invalid TOML"):
        render("2026-W46")
