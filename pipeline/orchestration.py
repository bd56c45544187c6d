"""What ripple's Airflow DAGs call: one function per task body, plus the run id, run log and week rules.

The DAG files in ``dags/`` only wire tasks to these functions (docs/operations.md). Nothing here imports
Airflow: the DAGs pass Airflow's exception class and connection lookup in. Importing this module is cheap (the
DAG processor does it at parse time): the stage functions import the data libraries when they run.

Settings are read at parse time only for the schedule and ``default_args``, through :func:`parse_time_settings`,
which never raises: a broken ``ripple.toml`` leaves the DAGs importable with default scheduling, and every task
fails with the configuration error's message (:func:`permanent_failures`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from pipeline.config import DEFAULTS, Settings, airflow_default_args, load_settings
from pipeline.errors import AssertionFailed, ConfigError, RippleError, SourceError
from pipeline.platforms import platform_names, platform_of_source, platform_spec
from pipeline.sources.base import REGISTRY, Window
from pipeline.state import run_id_of

log = logging.getLogger(__name__)

DEFAULT_SCHEDULE = str(DEFAULTS["airflow"]["nightly_schedule"])
#: the stages after ingest, in order (their results go to the run log)
STEPS = ("affect", "build", "explain", "publish")
#: errors that retrying does not fix: the task fails at once
PERMANENT_ERRORS: tuple[type[Exception], ...] = (ConfigError, SourceError, AssertionFailed)


# ------------------------------------------------------------------------------------------------ parse time
def parse_time_settings() -> Settings | None:
    """The settings, or None when they cannot be read (the tasks then fail with the reason)."""
    try:
        return load_settings()
    except ConfigError as exc:
        log.warning("ripple settings unreadable, DAG scheduled with defaults; its tasks will fail: %s", exc)
        return None


def dag_default_args(settings: Settings | None) -> dict[str, Any]:
    return airflow_default_args(settings or Settings(data_dir=Path("data")))


def nightly_schedule(settings: Settings | None) -> str:
    value = settings.airflow.nightly_schedule if settings is not None else None
    return str(value or DEFAULT_SCHEDULE)


@contextmanager
def permanent_failures(raise_as: type[Exception], *also: type[Exception]) -> Iterator[None]:
    """Turn errors that retrying cannot fix into ``raise_as`` (Airflow's AirflowFailException)."""
    try:
        yield
    except (*PERMANENT_ERRORS, *also) as exc:
        raise raise_as(str(exc)) from exc


def settings() -> Settings:
    """The settings a task works with (read when the task runs, so a fixed ripple.toml takes effect). With the
    data directory on an object store, the lake's Airflow connection (if the DAG registered a lookup with
    :func:`use_connections` and the connection exists) supplies the endpoint and keys."""
    current = load_settings()
    if current.data_uri and _connection_lookup is not None:
        apply_lake_connection(current, _connection_lookup)
    return current


# ------------------------------------------------------------------------------------------------ the lake's connection
_connection_lookup: Callable[[str], Any | None] | None = None

#: what an Airflow connection of type aws may hold, as the AWS variable botocore (and so s3fs) reads
_AWS_EXTRA = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_session_token": "AWS_SESSION_TOKEN",
    "endpoint_url": "AWS_ENDPOINT_URL",
    "region_name": "AWS_DEFAULT_REGION",
}


def use_connections(get: Callable[[str], Any], missing: type[Exception]) -> None:
    """Register how tasks look up Airflow connections: the DAG files pass ``Connection.get`` and the exception it
    raises for an undefined connection (the lookup then gives None)."""
    global _connection_lookup

    def lookup(conn_id: str) -> Any | None:
        try:
            return get(conn_id)
        except missing:
            return None

    _connection_lookup = lookup


def connection(conn_id: str) -> Any | None:
    """The Airflow connection ``conn_id`` through the registered lookup; None when it is not defined."""
    return _connection_lookup(conn_id) if _connection_lookup is not None else None


def lake_environment(conn: Any) -> dict[str, str]:
    """The AWS variables an Airflow connection of the lake stands for: login/password are the access keys,
    extra ``endpoint_url`` (or the host), ``region_name``, ``aws_session_token``; keys in extra win."""
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    env = {
        "AWS_ACCESS_KEY_ID": conn.login,
        "AWS_SECRET_ACCESS_KEY": conn.password,
        "AWS_ENDPOINT_URL": conn.host,
    }
    for key, variable in _AWS_EXTRA.items():
        if extra.get(key):
            env[variable] = extra[key]
    return {key: str(value) for key, value in env.items() if value}


def apply_lake_connection(current: Settings, lookup: Callable[[str], Any | None]) -> bool:
    """Point this task's object-store clients at the lake's connection: its AWS variables are set in this task
    process only (never logged, written or returned). False when the connection is not defined."""
    from pipeline.shared import forget_stores

    conn_id = current.airflow.lake_connection_id
    conn = lookup(conn_id) if conn_id else None
    if conn is None:
        return False
    env = lake_environment(conn)
    os.environ.update(env)
    forget_stores()  # clients made before read the old variables
    log.info("object store %s: endpoint and keys from the Airflow connection %s", current.data_uri, conn_id)
    return True


def writing(current: Settings, task: str) -> AbstractContextManager[None]:
    """The data directory's writer lock (pipeline.locking), held by every task that writes to it. A task waits up
    to ``airflow.lock_wait_seconds`` for another writer (another task, a ``ripple`` command), then fails with
    the holder's name and is retried."""
    from pipeline.locking import writer_lock

    return writer_lock(current, f"airflow {task}", wait=current.airflow.lock_wait_seconds)


# ------------------------------------------------------------------------------------------------ plan
def utc_iso(value: Any) -> str:
    return datetime.fromisoformat(value.isoformat()).astimezone(UTC).isoformat()


def window_of(since: str, until: str) -> Window:
    from pipeline.run import parse_when

    return Window(parse_when(since), parse_when(until))  # type: ignore[arg-type]


def plan_run(
    params: dict[str, Any], interval_start: Any, interval_end: Any, run_after: Any = None
) -> dict[str, Any]:
    """The run's window (params win over the data interval), run id, configured sources and the fingerprint
    of the pseudonym key (a bad or changed key stops the run here, before any source runs).

    A run without a data interval (manual, no logical date) covers the 24 hours before ``run_after``.
    """
    from pipeline.pseudonyms import key_fingerprint
    from pipeline.run import parse_when

    if interval_start is None or interval_end is None:
        interval_end = run_after
        interval_start = run_after - timedelta(days=1)
    since = parse_when(params.get("since")) or parse_when(utc_iso(interval_start))
    until = parse_when(params.get("until")) or parse_when(utc_iso(interval_end))
    window = window_of(since.isoformat(), until.isoformat())  # type: ignore[union-attr]
    current = settings()
    names = current.sources
    unknown = [name for name in names if name not in REGISTRY]
    if unknown:
        raise ConfigError(f"run.sources: unknown source(s) {unknown} (known: {sorted(REGISTRY)})")
    with writing(current, "plan"):  # the first run records the key's fingerprint in state/
        fingerprint = key_fingerprint(current)
    return {
        "since": window.since.isoformat(),
        "until": window.until.isoformat(),
        "run_id": run_id_of(window),
        "sources": list(names),
        "key_fingerprint": fingerprint,
    }


def sources_of(platform: str, sources: list[str]) -> list[str]:
    return [name for name in sources if platform_of_source(name) == platform]


# ------------------------------------------------------------------------------------------------ credentials
def connection_credentials(platform: str, conn: Any) -> dict[str, Any]:
    """An Airflow connection as the keyword arguments of the platform's client (pipeline.platforms)."""
    return platform_spec(platform).credentials(conn)


def credentials_for(platform: str, lookup: Callable[[str], Any | None]) -> dict[str, Any] | None:
    """Credentials from the platform's connection (``lookup(conn_id)``, None when it is not defined)."""
    conn_id = platform_spec(platform).connection_id
    conn = lookup(conn_id) if conn_id else None
    return (connection_credentials(platform, conn) or None) if conn is not None else None


# ------------------------------------------------------------------------------------------------ stages
def _seconds(started: float) -> float:
    return round(time.perf_counter() - started, 2)


def ingest(source: str, since: str, until: str, credentials: dict[str, Any] | None) -> dict[str, Any]:
    """Ingest one source for the window (re-running replaces the window's files); the task's XCom."""
    from pipeline.run import ingest_source

    started = time.perf_counter()
    current = settings()
    with writing(current, f"ingest {source}"):
        result = ingest_source(current, source, window_of(since, until), credentials=credentials)
    return {
        "source": source,
        "platform": platform_of_source(source),
        "rows": result.get("rows", 0),
        "quarantined": result.get("quarantined", 0),
        "quarantine_reasons": result.get("quarantine_reasons", {}),
        "files": len(result.get("files", [])),
        "seconds": _seconds(started),
    }


def affect() -> dict[str, Any]:
    from pipeline.run import score_affect

    started = time.perf_counter()
    current = settings()
    with writing(current, "affect"):
        result = score_affect(current)
    counts = {k: v for k, v in result.items() if isinstance(v, int | float | str | bool)}
    return {**counts, "seconds": _seconds(started)}


def build(label: str, running: Callable[[], dict[str, Any] | None] | None = None) -> dict[str, Any]:
    """A complete candidate warehouse next to the published one (explain and publish come later).

    ``running()`` is the run's run-log entry marked running: it is appended to the run log before the build,
    so the warehouse lists the run that built it (``stg_runs``), as `ripple run` does; record_run finishes it."""
    from pipeline.run import append_run_log
    from pipeline.versions import stash_candidate
    from pipeline.warehouse import build_candidate

    started = time.perf_counter()
    current = settings()
    with writing(current, "build"):
        entry = running() if running is not None else None
        if entry is not None:
            append_run_log(current, entry)
        path, result = build_candidate(current, label=label, skip_hooks=("after_marts",))
        stash_candidate(current, path, label)  # on an object store: explain and publish may run elsewhere
    return {
        "candidate": str(path),
        # lets a retried publish recognise a candidate it already moved into place
        "inode": path.stat().st_ino,
        "tables": result.tables,
        "assertions": result.assertions,
        "seconds": _seconds(started),
    }


class NoCandidate(RippleError):
    """The candidate of this run is gone (removed, or published by another run)."""

    def __init__(self, candidate: Path):
        super().__init__(
            f"no candidate warehouse at {candidate}: it was removed or built by another run; "
            "clear the build task with its downstream tasks"
        )


def explain(label: str) -> dict[str, Any]:
    """Fit the spread-drivers regression into the candidate (the build's after_marts hooks)."""
    from pipeline.versions import stash_candidate, sync_candidate
    from pipeline.warehouse import candidate_path, run_hooks_on

    started = time.perf_counter()
    current = settings()
    candidate = candidate_path(current, label)
    with writing(current, "explain"):
        if not sync_candidate(current, candidate, label):
            raise NoCandidate(candidate)
        hooks = run_hooks_on(current, candidate, "after_marts")
        stash_candidate(current, candidate, label)
    return {"hooks": sorted(hooks), "seconds": _seconds(started)}


def publish(label: str, built: dict[str, Any]) -> dict[str, Any]:
    """Atomically replace warehouse.duckdb with the candidate (on an object store: publish it as a new version,
    whichever worker built it). A retry after the rename succeeded finds the warehouse with the candidate's inode
    (on an object store: the pointer naming this run) and publishes nothing twice."""
    from pipeline import versions
    from pipeline.warehouse import candidate_path
    from pipeline.warehouse import publish as publish_candidate

    started = time.perf_counter()
    current = settings()
    candidate = candidate_path(current, label)
    target = current.warehouse_path
    with writing(current, "publish"):
        if versions.sync_candidate(current, candidate, label):
            path = publish_candidate(current, candidate)
            versions.drop_candidate(current, candidate, label)
        elif versions.published_run(current) == label:
            path = target  # on an object store: an earlier try of this task already published this run
        elif target.exists() and target.stat().st_ino == built["inode"]:
            path = target  # an earlier try of this task already moved this run's candidate into place
        else:
            raise NoCandidate(candidate)
    return {"path": str(path), "seconds": _seconds(started)}


# ------------------------------------------------------------------------------------------------ run log
def _failed_sources(
    planned: dict[str, list[str]], succeeded: dict[str, Any], states: dict[str, str]
) -> dict[str, str]:
    failed: dict[str, str] = {}
    for platform, names in planned.items():
        for index, name in enumerate(names):
            if name not in succeeded:
                state = states.get(f"ingest_{platform}_{index}", "not run")
                failed[name] = f"Airflow task ingest_{platform}[{index}] ended {state}; see its log"
    return failed


def run_log_entry(
    plan: dict[str, Any],
    *,
    planned: dict[str, list[str]],
    ingested: list[dict[str, Any]],
    steps: dict[str, dict[str, Any] | None],
    states: dict[str, str],
    started_at: str,
    airflow_run_id: str,
    finished_at: str | None = None,
    running: bool = False,
) -> dict[str, Any]:
    """The run-log line of one DAG run, in the shape `ripple run` writes (plus failed_steps, airflow_run_id).

    ``planned``: platform -> sources its ingest task was mapped over; ``ingested``: what the ingest tasks
    that succeeded returned; ``steps``: what affect/build/explain/publish returned (None unless they
    succeeded); ``states``: task states from Airflow (``ingest_<platform>_<map index>`` for mapped tasks).
    Status: succeeded; partial = published but a source failed (as `ripple run`); failed = nothing published;
    running (``running=True``) = the entry written before the build, not finished yet.
    """
    succeeded = {result["source"]: result for result in ingested}
    failed_sources = _failed_sources(planned, succeeded, states)
    if running:
        status = "running"
    elif steps.get("publish") is None:
        status = "failed"
    else:
        status = "partial" if failed_sources else "succeeded"
    seconds = {f"ingest:{name}": result.get("seconds", 0.0) for name, result in succeeded.items()}
    for step in STEPS:
        if steps.get(step):
            seconds["warehouse" if step == "build" else step] = steps[step].get("seconds", 0.0)  # type: ignore[union-attr]
    return {
        "run_id": plan["run_id"],
        "since": plan["since"],
        "until": plan["until"],
        "status": status,
        "started_at": started_at,
        "finished_at": None if running else finished_at or datetime.now(UTC).isoformat(),
        "resumed": False,
        "rows": sum(int(result.get("rows", 0)) for result in succeeded.values()),
        "quarantined": sum(int(result.get("quarantined", 0)) for result in succeeded.values()),
        "failed_sources": failed_sources,
        "failed_steps": [step for step in STEPS if states.get(step) in ("failed", "upstream_failed")],
        "seconds": seconds,
        "key_fingerprint": plan.get("key_fingerprint"),
        "airflow_run_id": airflow_run_id,
    }


def run_log_entry_of(context: Mapping[str, Any], *, running: bool = False) -> dict[str, Any] | None:
    """The run-log entry of a DAG run, from its task context's XComs and task states (None: no plan)."""
    ti, dag_run = context["ti"], context["dag_run"]
    keys = ("since", "until", "run_id", "key_fingerprint")
    plan = {key: ti.xcom_pull(task_ids="plan", key=key) for key in keys}
    if plan["run_id"] is None:
        return None
    platforms = platform_names()
    states = ti.get_task_states(dag_id=dag_run.dag_id, run_ids=[dag_run.run_id]).get(dag_run.run_id, {})
    return run_log_entry(
        plan,
        planned={p: ti.xcom_pull(task_ids=f"sources_{p}") or [] for p in platforms},
        ingested=[r for p in platforms for r in ti.xcom_pull(task_ids=[f"ingest_{p}"]) or [] if r],
        steps={step: ti.xcom_pull(task_ids=step) for step in STEPS},
        states=states,
        started_at=utc_iso(dag_run.start_date or dag_run.run_after),
        airflow_run_id=dag_run.run_id,
        running=running,
    )


def ingested_anything(context: Mapping[str, Any]) -> bool:
    """Whether any ingest task of the DAG run returned a result (ingested a source)."""
    return any(context["ti"].xcom_pull(task_ids=[f"ingest_{p}" for p in platform_names()]) or [])


def record_run(entry: dict[str, Any]) -> str | None:
    """Append the entry to state/runs.jsonl; the reason to fail the DAG run, or None when it succeeded."""
    from pipeline.run import append_run_log

    current = settings()
    with writing(current, "record_run"):
        append_run_log(current, entry)
    if entry["status"] == "succeeded":
        return None
    failed = [*(f"source {name}" for name in entry["failed_sources"]), *entry["failed_steps"]]
    what = ", ".join(failed) or "no source ran"
    return f"run {entry['run_id']} {entry['status']}: {what} (see those tasks' logs)"


def record_dag_run(context: Mapping[str, Any], raise_as: type[Exception]) -> dict[str, Any]:
    """Record a DAG run in the run log; raise ``raise_as`` (AirflowFailException) when a part of it failed."""
    entry = run_log_entry_of(context)
    if entry is None:
        raise raise_as("the plan task failed: no window to record (see its log)")
    with permanent_failures(raise_as, NoCandidate):
        failure = record_run(entry)
    if failure:
        raise raise_as(failure)
    return {key: entry[key] for key in ("run_id", "status", "rows", "quarantined")}


def send_alerts(lookup: Callable[[str], Any | None], now: datetime) -> dict[str, Any]:
    """Send the last complete week's alerts once (pipeline.alerts): to ``[alerts] webhook_url``, else through
    the connection ``alerts.connection_id`` (``lookup(conn_id)``: http or email); nothing when neither is set."""
    from pipeline.alerts import send_alerts as send

    current = settings()
    c = lookup(current.alerts.connection_id)
    conn = None
    if c is not None:
        conn = {k: getattr(c, k) for k in ("conn_type", "host", "schema", "port", "login", "password")}
        conn["extra"] = c.extra_dejson
    return send(current, connection=conn, now=now)


# ------------------------------------------------------------------------------------------------ weeks
def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_end(week: str) -> datetime:
    """Monday 00:00 UTC after the ISO week ``YYYY-Www`` (the week is [start, end))."""
    year, number = week.split("-W")
    start = date.fromisocalendar(int(year), int(number), 1)
    return datetime.combine(start + timedelta(days=7), clock_time(), tzinfo=UTC)


def last_complete_week(until: datetime) -> str:
    """The latest ISO week that ends at or before ``until``."""
    monday = until.astimezone(UTC).date() - timedelta(days=until.astimezone(UTC).weekday())
    return iso_week(monday - timedelta(days=7))


def due_weeks(windows: list[tuple[datetime | None, datetime]]) -> list[str]:
    """Weeks completed by published windows [since, until): per window, its latest complete week if that
    week ends inside the window. A window without a start (an event from elsewhere) means the latest week."""
    weeks: set[str] = set()
    for since, until in windows:
        week = last_complete_week(until)
        if since is None or since < week_end(week):
            weeks.add(week)
    return sorted(weeks)


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def weeks_to_render(week: str | None, events: list[Any], now: datetime | None = None) -> list[str]:
    """The param's week; else the weeks the triggering publishes (asset events) completed; else, for a
    manual run without events, the last complete week."""
    if week:
        return [week]
    if not events:
        return [last_complete_week(now or datetime.now(UTC))]
    windows = []
    for event in events:
        extra = event.extra or {}
        windows.append((parse_time(extra.get("since")), parse_time(extra.get("until")) or event.timestamp))
    return due_weeks(windows)


def render_week(week: str) -> dict[str, str]:
    """Render reports/<week>/ from the published warehouse (atomic; rendering twice replaces it)."""
    from pipeline.report import render_report

    path = render_report(settings(), week=week)
    return {"week": week, "path": str(path)}
