"""Rendering one report: choose the week, run the sections, write the HTML and the exports atomically."""

from __future__ import annotations

import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from jinja2 import Environment, FileSystemLoader, StrictUndefined

import pipeline.report.queries as queries
import pipeline.report.sections as sections
from pipeline.config import Settings
from pipeline.db import connect_readonly
from pipeline.errors import RippleError
from pipeline.report.db import Warehouse
from pipeline.report.drivers import drivers_section
from pipeline.report.summary import summary
from pipeline.report.view import Report, fmt
from pipeline.report.weeks import IsoWeek
from pipeline.versions import published_path

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
GENERATED_MARK = '<p class="generated">'


# ------------------------------------------------------------------------------------------- week
def resolve_week(wh: Warehouse, week: str | None, now: datetime | None = None) -> tuple[IsoWeek, list[str]]:
    """The report week and the notes that explain the choice (shown at the top of the report)."""
    notes: list[str] = []
    now = now or datetime.now(UTC)
    current = IsoWeek.of(now)
    if week is not None:
        chosen = IsoWeek.parse(week)
        if chosen >= current:
            notes.append(f"{chosen.label} is not complete yet: the numbers cover the items collected so far.")
    else:
        chosen = _default_week(wh, current)
        if chosen < current.shift(-1):
            notes.append(
                f"The warehouse's data do not cover {current.shift(-1).label}, the last complete calendar week; "
                f"this report covers {chosen.label}, the last complete week of the data."
            )
        if queries.week_item_count(wh, chosen) == 0:
            fallback = queries.latest_week_with_data(wh, current)
            if fallback is not None and fallback != chosen:
                notes.append(
                    f"The warehouse has no items in {chosen.label}, the last complete week; this report "
                    f"covers {fallback.label}, the latest complete week with data."
                )
                chosen = fallback
    if queries.week_item_count(wh, chosen) == 0:
        first, last = queries.data_span(wh)
        span = (
            f" The warehouse holds items from {fmt(first, 'date')} to {fmt(last, 'date')}."
            if first is not None
            else " The warehouse holds no items at all."
        )
        notes.append(f"No data: the warehouse has no items in {chosen.label}.{span}")
    return chosen, notes


def _default_week(wh: Warehouse, current: IsoWeek) -> IsoWeek:
    """The last complete week: the latest week that ended within the lake's coverage (the mart
    ``last_complete_week``), and never the running calendar week or a later one; the week before ``current``
    when no platform has a complete week."""
    calendar = current.shift(-1)
    data = queries.last_complete_week(wh)
    return calendar if data is None else min(data, calendar)


def warmup_note(wh: Warehouse, week: IsoWeek, window_days: int) -> str | None:
    """One line on the weeks the report leaves out of its comparisons (the membership warm-up), or None."""
    w = queries.warmup(wh, week)
    earlier = w["earlier_weeks"]
    weeks = f"{earlier} earlier week{'s are' if earlier != 1 else ' is'} left out of comparisons"
    if not w["is_warmup"]:
        return (
            f"{weeks}: less than {window_days} days of history (the membership window)." if earlier else None
        )
    days = "no" if w["history_days"] is None else fmt(w["history_days"], "int")
    also = f"; {weeks} too" if earlier else ""
    return (
        f"{week.label} is in the membership warm-up ({days} days of history, less than the {window_days}-day "
        f"membership window): its escaped items and overlap are upper bounds, marked as such and not compared "
        f"with other weeks{also}."
    )


# ------------------------------------------------------------------------------------------- output
def _write_table(df: pd.DataFrame, directory: Path, name: str) -> None:
    df = df.reset_index(drop=True)
    df.to_csv(directory / f"{name}.csv", index=False, lineterminator="\n", date_format="%Y-%m-%dT%H:%M:%S%z")
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table.replace_schema_metadata(None), directory / f"{name}.parquet", compression="zstd")


def _replace_dir(tmp: Path, target: Path) -> None:
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = fmt
    return env


def _sections(rep: Report, wh: Warehouse, week: IsoWeek, settings: Settings) -> None:
    """Every section, in the order of the page."""
    sections.alerts(rep, wh, week, settings)
    sections.glance(rep, wh, week)
    sections.escaped(rep, wh, week, settings)
    drivers_section(rep, wh, week)
    sections.overlap(rep, wh, week, settings)
    cascade_quality = sections.cascades(rep, wh, week)
    sections.affect(rep, wh, week)
    sections.terms(rep, wh, week)
    sections.quality(rep, wh, week, cascade_quality)
    summary(rep, wh, week)  # written last from the sections' tables, shown first


def _write(rep: Report, html: str) -> None:
    for name, df in rep.exports.items():
        _write_table(df, rep.out_dir, name)
    for name, png in rep.chart_files.items():
        (rep.out_dir / f"{name}.png").write_bytes(png)
    (rep.out_dir / "report.html").write_text(html, encoding="utf-8")


def _temp_dir(out_dir: Path) -> Path:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    return tmp


def render_report(settings: Settings, week: str | None = None, *, now: datetime | None = None) -> Path:
    """Render the report of ``week`` (``YYYY-Www``; default: the last complete ISO week) and return the
    HTML path."""
    path = published_path(settings)  # on an object store: the current version, cached (pipeline.versions)
    if not path.exists():
        raise RippleError(f"no warehouse at {path}: run `ripple run` or `ripple build` first")
    now = now or datetime.now(UTC)
    con = connect_readonly(path)  # read-only, UTC, no access to other files (pipeline.db)
    try:
        wh = Warehouse(con)
        chosen, notes = resolve_week(wh, week, now)
        note = warmup_note(wh, chosen, settings.membership.window_days)
        notes += [note] if note else []
        out_dir = settings.reports_dir / chosen.label
        rep = Report(_temp_dir(out_dir))
        try:
            _sections(rep, wh, chosen, settings)
            first, last = queries.data_span(wh)
        except BaseException:
            shutil.rmtree(rep.out_dir, ignore_errors=True)
            raise
    finally:
        con.close()
    try:
        html = (
            _environment()
            .get_template("report.html.j2")
            .render(
                week=chosen,
                prev_week=chosen.shift(-1),
                notes=notes,
                sections=rep.sections,
                generated_at=now.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                warehouse=path.name,
                data_first=fmt(first, "date"),
                data_last=fmt(last, "date"),
                pseudonymized=settings.privacy.pseudonymize,
            )
        )
        _write(rep, html)
        _replace_dir(rep.out_dir, out_dir)
    except BaseException:
        shutil.rmtree(rep.out_dir, ignore_errors=True)
        raise
    log.info("report for %s written to %s", chosen.label, out_dir)
    return out_dir / "report.html"
