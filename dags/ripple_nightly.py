"""ripple_nightly: one nightly run of the pipeline, one task per stage (docs/operations.md).

plan → ingest_<platform> (mapped over the configured sources of that platform, one Airflow pool per
platform) → affect → build → explain → publish (emits the ``ripple_warehouse`` asset) → record_run (appends to
state/runs.jsonl).

Every task works on the run's data interval [data_interval_start, data_interval_end) and can run twice: lake
files derive from the source and the window, the warehouse candidate from the window, and publishing is an
atomic rename. The library does the work (``pipeline.orchestration``, one function per task; platforms, pools
and connections come from ``pipeline.platforms``); this file only wires it up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Asset, Connection, CronDataIntervalTimetable, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException, AirflowSkipException

from pipeline import orchestration as lib
from pipeline.errors import RippleError
from pipeline.platforms import platforms

#: the published warehouse; the weekly report DAG is scheduled on it (same name and URI there)
WAREHOUSE = Asset(name="ripple_warehouse", uri="x-ripple://warehouse", group="ripple")
#: read once at parse time; never raises (a broken ripple.toml fails the tasks, not the import)
SETTINGS = lib.parse_time_settings()
PLATFORMS = platforms()


# tasks reach a data directory on an object store through the lake's connection when it is defined
lib.use_connections(Connection.get, AirflowNotFoundException)


def fail_fast(*also: type[Exception]) -> Any:
    """Configuration, credential and assertion errors do not go away by retrying: fail the task at once."""
    return lib.permanent_failures(AirflowFailException, lib.NoCandidate, *also)


@task(multiple_outputs=True)
def plan() -> dict[str, Any]:
    """Fix the run's window, its run id and the sources to ingest (every later task reads them)."""
    context = get_current_context()
    interval = (context.get("data_interval_start"), context.get("data_interval_end"))
    run_after = context["dag_run"].run_after if None in interval else None
    # a bad since/until param or an empty window is a mistake to fix, not to retry
    with fail_fast(RippleError, ValueError):
        return lib.plan_run(context["params"], *interval, run_after=run_after)


@task
def sources_of(platform: str, sources: list[str]) -> list[str]:
    """The configured sources of one platform (Airflow maps a task over a whole return value only)."""
    return lib.sources_of(platform, sources)


@task(map_index_template="{{ source_name }}")
def ingest(source: str, since: str, until: str) -> dict[str, Any]:
    """Ingest one source for the window into the lake (re-running replaces the window's files)."""
    get_current_context()["source_name"] = source  # type: ignore[typeddict-unknown-key]
    with fail_fast():
        return lib.ingest(
            source, since, until, lib.credentials_for(lib.platform_of_source(source), lib.connection)
        )


@task(trigger_rule="all_done")
def affect() -> dict[str, Any]:
    """Score new items; runs when every ingest has finished, failed or not (one broken source does not
    keep the others' items out of tonight's warehouse; the run is still logged "partial")."""
    if not lib.ingested_anything(get_current_context()):
        raise AirflowSkipException("no source was ingested in this run: nothing new to build")
    with fail_fast():
        return lib.affect()


@task
def build(label: str) -> dict[str, Any]:
    """Build a complete candidate warehouse next to the published one (the run is logged as running first)."""
    with fail_fast():
        return lib.build(label, running=lambda: lib.run_log_entry_of(get_current_context(), running=True))


@task
def explain(label: str) -> dict[str, Any]:
    """Fit the spread-drivers regression into the candidate (the build's after_marts hooks)."""
    with fail_fast():
        return lib.explain(label)


@task(outlets=[WAREHOUSE])
def publish(label: str, since: str, until: str, built: dict[str, Any]) -> dict[str, Any]:
    """Atomically replace warehouse.duckdb with the candidate and announce the new warehouse."""
    with fail_fast():
        result = lib.publish(label, built)
    extra = {"run_id": label, "since": since, "until": until, "path": result["path"]}
    get_current_context()["outlet_events"][WAREHOUSE].extra = extra
    return result


@task(trigger_rule="all_done")
def record_run() -> dict[str, Any]:
    """Append the run to state/runs.jsonl (`ripple status`, the report); fail the run if a part failed."""
    return lib.record_dag_run(get_current_context(), AirflowFailException)


@task
def send_alerts() -> dict[str, Any]:
    """Send the last complete week's alerts once: to [alerts] webhook_url, else through the Airflow
    connection alerts.connection_id (http or email); nothing when neither is configured."""
    return lib.send_alerts(lib.connection, now=get_current_context()["data_interval_end"])


@dag(
    dag_id="ripple_nightly",
    description="Ingest → lake → affect → warehouse → explain → publish, for the run's data interval",
    schedule=CronDataIntervalTimetable(lib.nightly_schedule(SETTINGS), timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=lib.dag_default_args(SETTINGS),
    tags=["ripple", "nightly"],
    params={
        "since": Param(None, type=["null", "string"], description="Window start (YYYY-MM-DD or ISO, UTC)"),
        "until": Param(None, type=["null", "string"], description="Window end, exclusive"),
    },
    doc_md=__doc__,
)
def ripple_nightly() -> None:
    planned = plan()
    ingested = [
        ingest.override(task_id=f"ingest_{p.name}", pool=p.pool)
        .partial(since=planned["since"], until=planned["until"])
        .expand(source=sources_of.override(task_id=f"sources_{p.name}")(p.name, planned["sources"]))
        for p in PLATFORMS
    ]
    built = build(planned["run_id"])
    published = publish(planned["run_id"], planned["since"], planned["until"], built)
    ingested >> affect() >> built >> explain(planned["run_id"]) >> published >> record_run()
    published >> send_alerts()


ripple_nightly()
