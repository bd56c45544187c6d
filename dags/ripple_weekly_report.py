"""ripple_weekly_report: the weekly trend report of each ISO week, once the warehouse covers the whole week.

Scheduled on the ``ripple_warehouse`` asset that ``ripple_nightly`` emits after every publish. A run renders
the ISO week(s) that the triggering publishes completed: the latest week that ends (Monday 00:00 UTC) inside a
published window. With the default nightly schedule that is the Monday 02:00 run, so the report of last week
appears a few minutes after Monday's warehouse is published; on other days the render task is skipped. A late
or failed Monday run delays the report instead of producing one with missing days (docs/operations.md).

A manual run renders the week given in the ``week`` param (e.g. ``2026-W47``), or the last complete week.
The rules live in ``pipeline.orchestration``; this file only wires them up.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Asset, Connection, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

from pipeline import orchestration as lib

#: emitted by ripple_nightly's publish task (same name and URI there)
WAREHOUSE = Asset(name="ripple_warehouse", uri="x-ripple://warehouse", group="ripple")
#: one event per rendered week; the event's extra names the week and the report's path
REPORT = Asset(name="ripple_weekly_report", uri="x-ripple://reports", group="ripple")
WEEK_PATTERN = r"^[0-9]{4}-W[0-9]{2}$"


# the report reads a warehouse on an object store through the lake's connection when it is defined
lib.use_connections(Connection.get, AirflowNotFoundException)


@dag(
    dag_id="ripple_weekly_report",
    description="Render the weekly trend report when a published warehouse completes an ISO week",
    schedule=WAREHOUSE,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    # never raises: a broken ripple.toml fails the render task with its message, not the DAG import
    default_args=lib.dag_default_args(lib.parse_time_settings()),
    tags=["ripple", "weekly", "report"],
    params={
        "week": Param(
            None,
            type=["null", "string"],
            pattern=WEEK_PATTERN,
            description="ISO week to render, e.g. 2026-W47 (manual runs; default: the last complete week)",
        ),
    },
    doc_md=__doc__,
)
def ripple_weekly_report() -> None:
    @task
    def choose_weeks() -> list[str]:
        """The week(s) to render: the param, else the weeks the triggering publishes completed."""
        context = get_current_context()
        week = context["params"].get("week")
        events = [] if week else list(context["triggering_asset_events"].get(WAREHOUSE, []))
        return lib.weeks_to_render(week, events)

    @task(outlets=[REPORT], map_index_template="{{ report_week }}")
    def render(week: str) -> dict[str, str]:
        """Render reports/<week>/ from the published warehouse (atomic; rendering twice replaces it)."""
        context = get_current_context()
        context["report_week"] = week  # type: ignore[typeddict-unknown-key]
        with lib.permanent_failures(AirflowFailException):
            result = lib.render_week(week)
        context["outlet_events"][REPORT].extra = result
        return result

    render.expand(week=choose_weeks())


ripple_weekly_report()
