"""ripple_nightly: one nightly run of the pipeline, one task per stage (docs/operations.md).

plan → ingest_<platform> (mapped over the configured sources of that platform, one Airflow pool per
platform) → affect → build → explain → publish (emits the ``ripple_warehouse`` asset) → record_run (appends to
state/runs.jsonl).

Every task works on the run's data interval [data_interval_start, data_interval_end) and can run twice: lake
files derive from the source and the window, the warehouse candidate from the window, and publishing is an
atomic rename. The library (``pipeline.*``) does the work and never imports Airflow; this file only wires it
up. Parse time stays cheap: reading the schedule from the configuration is the only work done at import.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, get_current_context, task

from pipeline.config import airflow_default_args, load_settings
from pipeline.sources.base import REGISTRY, Window

DEFAULT_SCHEDULE = "0 2 * * *"
# one pool per platform, so that API rate limits hold across concurrent runs (scheduled + backfill);
# docker-compose.yml's init service and the tests create them (docs/deploy.md)
PLATFORMS: tuple[str, ...] = tuple(sorted({platform for _target, platform in REGISTRY.values()}))
POOL_SLOTS: dict[str, int] = {"bluesky": 1, "demo": 2, "reddit": 1, "x": 1}
# Airflow connection that holds a platform's credentials; a missing connection means "use the pipeline's own
# configuration" (praw.ini / praw_* variables for Reddit, RIPPLE_X_BEARER_TOKEN for X, RIPPLE_BLUESKY_* for Bluesky)
CONNECTIONS: dict[str, str] = {"bluesky": "bluesky_default", "reddit": "reddit_default", "x": "x_default"}

#: the published warehouse; the weekly report DAG is scheduled on it (same name and URI there)
WAREHOUSE = Asset(name="ripple_warehouse", uri="x-ripple://warehouse", group="ripple")

# The [airflow] section of ripple.toml, or RIPPLE__AIRFLOW__<KEY> variables (docs/deploy.md). Reading this
# small file is the only work done when the DAG file is parsed.
SETTINGS = load_settings()
DEFAULT_ARGS: dict[str, Any] = airflow_default_args(SETTINGS)


def pool_name(platform: str) -> str:
    return f"ripple_{platform}"


def connection_credentials(platform: str, conn: Any) -> dict[str, Any]:
    """Map an Airflow connection to the plain keyword arguments the platform's client takes.

    reddit: login = client_id, password = client_secret; extra holds the other PRAW settings (user_agent,
    username, password, refresh_token, oauth_url, ...) and wins over login/password.
    x: password = bearer_token (or extra ``bearer_token``). Others: login, password, host, then extra.
    Empty values are dropped so that the client's own configuration fills them in.
    """
    extra = dict(conn.extra_dejson or {})
    if platform == "reddit":
        base = {"client_id": conn.login, "client_secret": conn.password}
    elif platform == "x":
        base = {"bearer_token": conn.password}
    else:
        base = {"login": conn.login, "password": conn.password, "host": conn.host}
    merged = {**base, **extra}
    return {key: value for key, value in merged.items() if value not in (None, "")}


def credentials_for(platform: str) -> dict[str, Any] | None:
    """Credentials from the platform's Airflow connection, or None when it is not defined."""
    conn_id = CONNECTIONS.get(platform)
    if conn_id is None:
        return None
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        return None
    return connection_credentials(platform, conn) or None


@contextmanager
def fail_without_retry_on_permanent_errors(*also: type[Exception]) -> Iterator[None]:
    """Configuration, credential and assertion errors do not go away by retrying: fail the task at once."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.errors import AssertionFailed, ConfigError, SourceError

    try:
        yield
    except (ConfigError, SourceError, AssertionFailed, *also) as exc:
        raise AirflowFailException(str(exc)) from exc


def _no_candidate(candidate: Path) -> NoReturn:
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(
        f"no candidate warehouse at {candidate}: it was removed or built by another run; "
        "clear the build task with its downstream tasks"
    )


def _utc_iso(value: Any) -> str:
    return datetime.fromisoformat(value.isoformat()).astimezone(UTC).isoformat()


def _window(since: str, until: str) -> Window:
    from pipeline.run import parse_when

    return Window(parse_when(since), parse_when(until))


STEPS = ("affect", "build", "explain", "publish")


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
) -> dict[str, Any]:
    """The run-log line of one DAG run, in the shape `ripple run` writes (plus failed_steps, airflow_run_id).

    ``planned``: platform -> sources its ingest task was mapped over; ``ingested``: what the ingest tasks
    that succeeded returned; ``steps``: what affect/build/explain/publish returned (None unless they
    succeeded); ``states``: task states from Airflow (``ingest_<platform>_<map index>`` for mapped tasks).
    Status: succeeded; partial = published but a source failed (as `ripple run`); failed = nothing published.
    """
    succeeded = {result["source"]: result for result in ingested}
    failed_sources: dict[str, str] = {}
    for platform, names in planned.items():
        for index, name in enumerate(names):
            if name not in succeeded:
                state = states.get(f"ingest_{platform}_{index}", "not run")
                failed_sources[name] = f"Airflow task ingest_{platform}[{index}] ended {state}; see its log"
    failed_steps = [step for step in STEPS if states.get(step) in ("failed", "upstream_failed")]
    if steps.get("publish") is None:
        status = "failed"
    else:
        status = "partial" if failed_sources else "succeeded"
    seconds = {f"ingest:{name}": result.get("seconds", 0.0) for name, result in succeeded.items()}
    for step in STEPS:
        result = steps.get(step)
        if result:
            seconds["warehouse" if step == "build" else step] = result.get("seconds", 0.0)
    return {
        "run_id": plan["run_id"],
        "since": plan["since"],
        "until": plan["until"],
        "status": status,
        "started_at": started_at,
        "finished_at": finished_at or datetime.now(UTC).isoformat(),
        "resumed": False,
        "rows": sum(int(result.get("rows", 0)) for result in succeeded.values()),
        "quarantined": sum(int(result.get("quarantined", 0)) for result in succeeded.values()),
        "failed_sources": failed_sources,
        "failed_steps": failed_steps,
        "seconds": seconds,
        "airflow_run_id": airflow_run_id,
    }


@dag(
    dag_id="ripple_nightly",
    description="Ingest → lake → affect → warehouse → explain → publish, for the run's data interval",
    schedule=CronDataIntervalTimetable(
        SETTINGS.get("airflow", "nightly_schedule") or DEFAULT_SCHEDULE, timezone="UTC"
    ),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["ripple", "nightly"],
    params={
        "since": Param(
            None,
            type=["null", "string"],
            description="Window start (YYYY-MM-DD or ISO time, UTC); default: the run's data_interval_start",
        ),
        "until": Param(
            None,
            type=["null", "string"],
            description="Window end, exclusive; default: the run's data_interval_end",
        ),
    },
    doc_md=__doc__,
)
def ripple_nightly() -> None:
    @task(multiple_outputs=True)
    def plan() -> dict[str, Any]:
        """Fix the run's window, its run id and the sources to ingest (every later task reads them)."""
        from pipeline.errors import RippleError
        from pipeline.run import parse_when

        context = get_current_context()
        params = context["params"]
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        if start is None or end is None:
            # a manual run without a logical date has no data interval: the 24 hours before it was queued
            end = context["dag_run"].run_after
            start = end - timedelta(days=1)
        # a bad since/until param or an empty window is a mistake to fix, not to retry
        with fail_without_retry_on_permanent_errors(RippleError, ValueError):
            since = parse_when(params.get("since")) or parse_when(_utc_iso(start))
            until = parse_when(params.get("until")) or parse_when(_utc_iso(end))
            window = _window(since.isoformat(), until.isoformat())
            settings = load_settings()
            unknown = [name for name in settings.sources if name not in REGISTRY]
            if unknown:
                from pipeline.errors import ConfigError

                raise ConfigError(f"run.sources: unknown source(s) {unknown} (known: {sorted(REGISTRY)})")
        return {
            "since": window.since.isoformat(),
            "until": window.until.isoformat(),
            "run_id": f"run-{window.key()}",
            "sources": list(settings.sources),
        }

    @task
    def sources_of(platform: str, sources: list[str]) -> list[str]:
        """The configured sources of one platform (Airflow maps a task over a whole return value only)."""
        return [name for name in sources if REGISTRY[name][1] == platform]

    @task(map_index_template="{{ source_name }}")
    def ingest(source: str, since: str, until: str) -> dict[str, Any]:
        """Ingest one source for the window into the lake (re-running replaces the window's files)."""
        from pipeline.run import ingest_source

        get_current_context()["source_name"] = source  # type: ignore[typeddict-unknown-key]
        started = time.perf_counter()
        platform = REGISTRY[source][1]
        with fail_without_retry_on_permanent_errors():
            window = _window(since, until)
            result = ingest_source(load_settings(), source, window, credentials=credentials_for(platform))
        return {
            "source": source,
            "platform": platform,
            "rows": result.get("rows", 0),
            "quarantined": result.get("quarantined", 0),
            "quarantine_reasons": result.get("quarantine_reasons", {}),
            "files": len(result.get("files", [])),
            "seconds": round(time.perf_counter() - started, 2),
        }

    @task(trigger_rule="all_done")
    def affect() -> dict[str, Any]:
        """Score the text of new items (incremental over the lake).

        Runs when every ingest task has finished, failed or not: one broken source does not keep the others'
        items out of tonight's warehouse (the run is still marked failed, and "partial" in the run log).
        """
        from airflow.sdk.exceptions import AirflowSkipException

        from pipeline.run import score_affect

        ti = get_current_context()["ti"]
        if not any(ti.xcom_pull(task_ids=[f"ingest_{platform}" for platform in PLATFORMS]) or []):
            raise AirflowSkipException("no source was ingested in this run: nothing new to build")
        started = time.perf_counter()
        with fail_without_retry_on_permanent_errors():
            result = score_affect(load_settings())
        counts = {k: v for k, v in result.items() if isinstance(v, int | float | str | bool)}
        return {**counts, "seconds": round(time.perf_counter() - started, 2)}

    @task
    def build(label: str) -> dict[str, Any]:
        """Build a complete candidate warehouse next to the published one (explain and publish come later)."""
        from pipeline.warehouse import build_candidate

        started = time.perf_counter()
        with fail_without_retry_on_permanent_errors():
            path, result = build_candidate(load_settings(), label=label, skip_hooks=("after_marts",))
        return {
            "candidate": str(path),
            # lets a retried publish recognise a candidate it already moved into place
            "inode": path.stat().st_ino,
            "tables": result.tables,
            "assertions": result.assertions,
            "seconds": round(time.perf_counter() - started, 2),
        }

    @task
    def explain(label: str) -> dict[str, Any]:
        """Fit the spread-drivers regression into the candidate (the build's after_marts hooks)."""
        from pipeline.warehouse import candidate_path, run_hooks_on

        started = time.perf_counter()
        settings = load_settings()
        candidate = candidate_path(settings, label)
        if not candidate.exists():
            _no_candidate(candidate)
        with fail_without_retry_on_permanent_errors():
            hooks = run_hooks_on(settings, candidate, "after_marts")
        return {"hooks": sorted(hooks), "seconds": round(time.perf_counter() - started, 2)}

    @task(outlets=[WAREHOUSE])
    def publish(label: str, since: str, until: str, built: dict[str, Any]) -> dict[str, Any]:
        """Atomically replace warehouse.duckdb with the candidate and announce the new warehouse."""
        from pipeline.warehouse import candidate_path
        from pipeline.warehouse import publish as publish_candidate

        started = time.perf_counter()
        settings = load_settings()
        candidate = candidate_path(settings, label)
        target = settings.warehouse_path
        if candidate.exists():
            with fail_without_retry_on_permanent_errors():
                path = publish_candidate(settings, candidate)
        elif target.exists() and target.stat().st_ino == built["inode"]:
            path = target  # an earlier try of this task already moved this run's candidate into place
        else:
            _no_candidate(candidate)
        get_current_context()["outlet_events"][WAREHOUSE].extra = {
            "run_id": label,
            "since": since,
            "until": until,
            "path": str(path),
        }
        return {"path": str(path), "seconds": round(time.perf_counter() - started, 2)}

    @task(trigger_rule="all_done")
    def record_run() -> dict[str, Any]:
        """Append the run to state/runs.jsonl (`ripple status`, the report); fail the run if a part failed."""
        from airflow.sdk.exceptions import AirflowFailException

        from pipeline.run import append_run_log

        context = get_current_context()
        ti, dag_run = context["ti"], context["dag_run"]
        plan_out = {key: ti.xcom_pull(task_ids="plan", key=key) for key in ("since", "until", "run_id")}
        if plan_out["run_id"] is None:
            raise AirflowFailException("the plan task failed: no window to record (see its log)")
        states = ti.get_task_states(dag_id=dag_run.dag_id, run_ids=[dag_run.run_id]).get(dag_run.run_id, {})
        entry = run_log_entry(
            plan_out,
            planned={p: ti.xcom_pull(task_ids=f"sources_{p}") or [] for p in PLATFORMS},
            ingested=[r for p in PLATFORMS for r in ti.xcom_pull(task_ids=[f"ingest_{p}"]) or [] if r],
            steps={step: ti.xcom_pull(task_ids=step) for step in STEPS},
            states=states,
            started_at=_utc_iso(dag_run.start_date or dag_run.run_after),
            airflow_run_id=dag_run.run_id,
        )
        append_run_log(load_settings(), entry)
        if entry["status"] != "succeeded":
            failed = [*(f"source {name}" for name in entry["failed_sources"]), *entry["failed_steps"]]
            what = ", ".join(failed) or "no source ran"
            raise AirflowFailException(
                f"run {entry['run_id']} {entry['status']}: {what} (see those tasks' logs)"
            )
        return {key: entry[key] for key in ("run_id", "status", "rows", "quarantined")}

    @task
    def send_alerts() -> dict[str, Any]:
        """Send the last complete week's alerts once (pipeline.alerts): to [alerts] webhook_url, else through
        the Airflow connection alerts.connection_id (http or email); nothing when neither is configured."""
        from airflow.sdk import Connection
        from airflow.sdk.exceptions import AirflowNotFoundException

        from pipeline.alerts import send_alerts as send

        settings = load_settings()
        try:
            c = Connection.get(settings.alerts.connection_id)
            keys = ("conn_type", "host", "schema", "port", "login", "password")
            conn = {**{k: getattr(c, k) for k in keys}, "extra": c.extra_dejson}
        except AirflowNotFoundException:
            conn = None
        return send(settings, connection=conn, now=get_current_context()["data_interval_end"])

    planned = plan()
    ingested = [
        ingest.override(task_id=f"ingest_{platform}", pool=pool_name(platform))
        .partial(since=planned["since"], until=planned["until"])
        .expand(source=sources_of.override(task_id=f"sources_{platform}")(platform, planned["sources"]))
        for platform in PLATFORMS
    ]
    scored = affect()
    built = build(planned["run_id"])
    explained = explain(planned["run_id"])
    published = publish(planned["run_id"], planned["since"], planned["until"], built)
    ingested >> scored >> built >> explained >> published >> record_run()
    published >> send_alerts()


ripple_nightly()
