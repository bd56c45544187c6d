"""ripple_weekly_report: the weekly trend report of each ISO week, once the warehouse covers the whole week.

Scheduled on the ``ripple_warehouse`` asset that ``ripple_nightly`` emits after every publish. A run renders
the ISO week(s) that the triggering publishes completed: the latest week that ends (Monday 00:00 UTC) inside a
published window. With the default nightly schedule that is the Monday 02:00 run, so the report of last week
appears a few minutes after Monday's warehouse is published; on other days the render task is skipped. A late
or failed Monday run delays the report instead of producing one with missing days (docs/operations.md).

A manual run renders the week given in the ``week`` param (e.g. ``2026-W47``), or the last complete week.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from airflow.sdk import Asset, Param, dag, get_current_context, task

from pipeline.config import airflow_default_args, load_settings

#: emitted by ripple_nightly's publish task (same name and URI there)
WAREHOUSE = Asset(name="ripple_warehouse", uri="x-ripple://warehouse", group="ripple")
#: one event per rendered week; the event's extra names the week and the report's path
REPORT = Asset(name="ripple_weekly_report", uri="x-ripple://reports", group="ripple")

DEFAULT_ARGS: dict[str, Any] = airflow_default_args(load_settings())
WEEK_PATTERN = r"^[0-9]{4}-W[0-9]{2}$"


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_end(week: str) -> datetime:
    """Monday 00:00 UTC after the ISO week ``YYYY-Www`` (the week is [start, end))."""
    year, number = week.split("-W")
    start = date.fromisocalendar(int(year), int(number), 1)
    return datetime.combine(start + timedelta(days=7), time(), tzinfo=UTC)


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


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@contextmanager
def fail_without_retry_on_permanent_errors() -> Iterator[None]:
    """Configuration errors do not go away by retrying: fail the task at once."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.errors import ConfigError

    try:
        yield
    except ConfigError as exc:
        raise AirflowFailException(str(exc)) from exc


@dag(
    dag_id="ripple_weekly_report",
    description="Render the weekly trend report when a published warehouse completes an ISO week",
    schedule=WAREHOUSE,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
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
        if context["params"].get("week"):
            return [context["params"]["week"]]
        events = context["triggering_asset_events"].get(WAREHOUSE, [])
        if not events:
            return [last_complete_week(datetime.now(UTC))]
        windows = []
        for event in events:
            extra = event.extra or {}
            until = _parse(extra.get("until")) or event.timestamp
            windows.append((_parse(extra.get("since")), until))
        return due_weeks(windows)

    @task(outlets=[REPORT], map_index_template="{{ report_week }}")
    def render(week: str) -> dict[str, str]:
        """Render reports/<week>/ from the published warehouse (atomic; rendering twice replaces it)."""
        from pipeline.report import render_report

        context = get_current_context()
        context["report_week"] = week  # type: ignore[typeddict-unknown-key]
        with fail_without_retry_on_permanent_errors():
            path = render_report(load_settings(), week=week)
        context["outlet_events"][REPORT].extra = {"week": week, "path": str(path)}
        return {"week": week, "path": str(path)}

    render.expand(week=choose_weeks())


ripple_weekly_report()
