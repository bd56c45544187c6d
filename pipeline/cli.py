"""The ``ripple`` command. It parses arguments and formats output; the work is done by plain functions in
``pipeline.*`` that the Airflow DAGs call too."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from pipeline.config import Settings, load_settings
from pipeline.errors import ConfigError, RippleError
from pipeline.versions import location, published, published_path

app = typer.Typer(
    help="ripple: which items travel beyond the community they were born in, how far, and why.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
import_app = typer.Typer(
    help="Import files researchers already hold (dumps, archives).", add_completion=False
)
app.add_typer(import_app, name="import")
export_app = typer.Typer(
    help="Export the warehouse's networks for Gephi, Cytoscape or networkx.", add_completion=False
)
app.add_typer(export_app, name="export")

out = Console()
err = Console(stderr=True, soft_wrap=True)

DataDir = Annotated[
    str | None,
    typer.Option(
        "--data-dir", envvar="RIPPLE_DATA_DIR", help="Data directory (default ./data), or s3://bucket/prefix."
    ),
]
ConfigPath = Annotated[
    Path | None,
    typer.Option("--config", envvar="RIPPLE_CONFIG", help="Path of ripple.toml (default ./ripple.toml)."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars, only the summary.")]
Rekey = Annotated[
    bool,
    typer.Option("--rekey", help="Accept a new pseudonym key (refused while the lake holds old pseudonyms)."),
]
Wait = Annotated[
    float,
    typer.Option(
        "--wait",
        envvar="RIPPLE_LOCK_WAIT",
        help="Seconds to wait for another writer on the same data directory (default 0: exit 75 at once).",
    ),
]


def _settings(config: Path | None, data_dir: str | None) -> Settings:
    return load_settings(config=config, data_dir=data_dir)


def _rekey(settings: Settings, rekey: bool) -> None:
    if rekey:
        from pipeline.pseudonyms import accept_new_key

        accept_new_key(settings)


def _writer(settings: Settings, command: str, wait: float) -> contextlib.AbstractContextManager[None]:
    """The data directory's writer lock (pipeline.locking), for commands that change it."""
    from pipeline.locking import writer_lock

    return writer_lock(settings, f"ripple {command}", wait=wait)


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from pipeline.retry import quiet_libraries

    quiet_libraries(debug=verbose or bool(os.environ.get("RIPPLE_DEBUG")))


def _progress_factory(quiet: bool) -> Callable[[str, int | None], Any]:
    show = not quiet and err.is_terminal

    @contextlib.contextmanager
    def factory(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        if not show:
            if not quiet:
                err.print(f"[dim]… {description}[/dim]")
            yield lambda n=1: None
            return
        columns = [
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        ]
        if total is None:
            columns = [
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn("{task.completed:,} items"),
                TimeElapsedColumn(),
            ]
        with Progress(*columns, console=err, transient=False) as progress:
            task = progress.add_task(description, total=total)
            yield lambda n=1: progress.advance(task, n)

    return factory


def _fail(exc: BaseException) -> None:
    code = getattr(exc, "exit_code", 1)
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    err.print(f"[bold red]error:[/bold red] {message}", highlight=False)
    raise typer.Exit(code)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """One clear line and a non-zero exit instead of a traceback (RIPPLE_DEBUG=1 shows the traceback)."""
    try:
        yield
    except typer.Exit:
        raise
    except RippleError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        err.print("[bold red]interrupted[/bold red]")
        raise typer.Exit(130) from None
    except BrokenPipeError:
        # the reader of our output went away (`ripple sql ... | head`): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(0) from None
    except Exception as exc:
        if os.environ.get("RIPPLE_DEBUG"):
            raise
        err.print(
            f"[bold red]error:[/bold red] {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
            "(set RIPPLE_DEBUG=1 for the traceback)",
            highlight=False,
        )
        raise typer.Exit(1) from None


# ------------------------------------------------------------------------------------------------ output
def _print_ingest(results: dict[str, dict[str, Any]]) -> None:
    table = Table(title="Items ingested", show_lines=False)
    for col in ("source", "platform", "community", "items"):
        table.add_column(col, justify="right" if col == "items" else "left")
    for source, result in results.items():
        for platform, communities in result.get("by_community", {}).items():
            for community, n in communities.items():
                table.add_row(source, platform, community, f"{n:,}")
    out.print(table)


def _print_quarantine(results: dict[str, dict[str, Any]]) -> None:
    total = sum(r.get("quarantined", 0) for r in results.values())
    if not total:
        out.print("Quarantined records: 0")
        return
    out.print(f"Quarantined records: {total:,}")
    for source, result in results.items():
        for reason, n in result.get("quarantine_reasons", {}).items():
            out.print(f"  {source}: {n:,} × {reason}")


def _print_affect(result: dict[str, Any]) -> None:
    if not result:
        return
    if "skipped" in result:
        out.print(f"Affect: skipped ({result['skipped']})")
        return
    line = (
        f"Affect: scored {result.get('scored', 0):,} items ({result.get('texts_scored', 0):,} distinct texts), "
        f"{result.get('skipped_already_scored', 0):,} already scored"
    )
    if result.get("failed"):
        line += f", [red]{result['failed']:,} failed[/red]"
    out.print(line + (f" in {result['seconds']:.1f}s" if "seconds" in result else ""))
    if "posts_files" in result:
        if result.get("whole_lake"):
            considered = f"every post of the lake ({result['whole_lake_reason']})"
        else:
            considered = f"the posts of {result['posts_files_considered']:,} new lake file(s)"
        out.print(f"  considered: {considered}; {result['posts_files']:,} posts file(s) in the lake")


def _print_build(build: dict[str, Any]) -> None:
    tables = build.get("tables", {})
    if not tables:
        return
    mode = build.get("mode", "full")
    seconds = build.get("seconds", {}).get("total")
    took = f" in {seconds:.1f}s" if seconds is not None else ""
    out.print(f"Warehouse build: {mode}{took} ({build.get('reason') or 'no reason given'})")
    out.print(f"Tables built: {len(tables)} ({build.get('assertions', 0)} assertions passed)")
    names = sorted(t for t in tables if t.startswith(("fct_", "dim_", "demo_")))
    for name in names:
        out.print(f"  {name}: {tables[name]:,} rows")


def _print_import(results: list[Any]) -> None:
    merged = {r.run_id: r.to_dict() for r in results}
    _print_ingest(merged)
    _print_quarantine(merged)
    out.print("Run `ripple affect` then `ripple build` to score the imported items and publish them.")


# ------------------------------------------------------------------------------------------------ commands
@app.command()
def run(
    since: Annotated[str | None, typer.Option(help="Window start (YYYY-MM-DD or ISO time, UTC).")] = None,
    until: Annotated[
        str | None, typer.Option(help="Window end, exclusive (default: now; a later time is clamped to now).")
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only these sources (repeatable).")
    ] = None,
    data_dir: DataDir = None,
    config: ConfigPath = None,
    quiet: Quiet = False,
    wait: Wait = 0.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    rekey: Rekey = False,
) -> None:
    """Run the nightly pipeline: ingest → lake → affect → warehouse → explain → publish."""
    _setup_logging(verbose)
    with _errors():
        from pipeline.run import check_sources, run_nightly

        settings = _settings(config, data_dir)
        _rekey(settings, rekey)
        check_sources(source or settings.sources)
        with _writer(settings, "run", wait):
            summary = run_nightly(
                settings, since=since, until=until, sources=source or None, progress=_progress_factory(quiet)
            )
            _print_run(settings, summary)
        if summary.failed_sources:
            raise typer.Exit(1)


def _print_run(settings: Settings, summary: Any) -> None:
    for note in summary.notes:
        err.print(f"note: {note}", highlight=False)
    out.print(f"[bold]Run {summary.run_id}[/bold] ({summary.status}{', resumed' if summary.resumed else ''})")
    out.print(f"Window: {summary.since} .. {summary.until}")
    _print_ingest(summary.ingest)
    _print_quarantine(summary.ingest)
    for name, reason in summary.failed_sources.items():
        out.print(f"[red]Source failed:[/red] {name}: {reason}", highlight=False)
    _print_affect(summary.affect)
    if summary.build_skipped:
        out.print(
            "Nothing new: the lake, the settings and the models are as they were at the last build; "
            "build and report skipped (`ripple build` rebuilds anyway)."
        )
        out.print(f"Warehouse: {location(settings)}")
        return
    _print_build(summary.build)
    out.print(f"Warehouse: {location(settings)}")
    try:
        report = _maybe_report(settings)
    except Exception as exc:  # the warehouse is published; a report problem must not hide that
        out.print(
            f"[yellow]Report: not rendered ({type(exc).__name__}: {exc}); retry with `ripple report`[/yellow]",
            highlight=False,
        )
    else:
        if report:
            out.print(f"Report: {report}")


def _maybe_report(settings: Settings) -> str | None:
    """Render the weekly report of the last complete week when the report module is available."""
    try:
        from pipeline.report import render_report
    except ImportError:
        return None
    path = render_report(settings)
    return str(path) if path else None


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="Source name (see `ripple sources`).")],
    since: Annotated[str | None, typer.Option(help="Window start (default: as `ripple run`).")] = None,
    until: Annotated[str | None, typer.Option(help="Window end, exclusive (default: now).")] = None,
    thread: Annotated[list[str] | None, typer.Option("--thread", help="Thread id or URL (reddit).")] = None,
    replace_more: Annotated[
        int | None,
        typer.Option("--replace-more", help="With --thread: expand at most N 'more' stubs (default: all)."),
    ] = None,
    instance: Annotated[str | None, typer.Option(help="Instance of bare --thread ids (mastodon).")] = None,
    data_dir: DataDir = None,
    config: ConfigPath = None,
    quiet: Quiet = False,
    rekey: Rekey = False,
    wait: Wait = 0.0,
) -> None:
    """Ingest one source into the lake without building the warehouse."""
    _setup_logging()
    with _errors():
        from pipeline.run import check_sources, ingest_source, resolve_window
        from pipeline.sources.base import Window

        settings = _settings(config, data_dir)
        _rekey(settings, rekey)
        check_sources([source])
        if thread and not _source_supports(source, "supports_thread"):
            raise ConfigError(f"--thread is not supported by the {source} source (it fetches by time window)")
        options: dict[str, Any] = {}
        window: Window | None = None
        run_id = None
        notes: list[str] = []
        with _writer(settings, f"ingest {source}", wait):
            if thread:
                options["threads"] = list(thread)
                if replace_more is not None:
                    options["replace_more"] = replace_more
                if instance:
                    options["instance"] = instance
                run_id = _thread_run_id(source, [*thread, *([instance] if instance else [])])
            else:
                window = resolve_window(settings, since, until, notes=notes)
            for note in notes:
                err.print(f"note: {note}", highlight=False)
            result = ingest_source(
                settings, source, window, options=options, run_id=run_id, progress=_progress_factory(quiet)
            )
        _print_ingest({source: result})
        _print_quarantine({source: result})


def _source_supports(name: str, capability: str) -> bool:
    """Whether the source class declares ``capability`` (e.g. ``supports_thread``), without instantiating it."""
    import importlib

    from pipeline.sources.base import REGISTRY

    module_name, _, class_name = REGISTRY[name][0].partition(":")
    return bool(getattr(getattr(importlib.import_module(module_name), class_name), capability, False))


def _thread_run_id(source: str, thread: list[str]) -> str:
    """Specific threads are not a window: their own run id, so they never replace a night's files."""
    import hashlib

    from pipeline.lake import run_id_for

    digest = hashlib.sha1(",".join(sorted(thread)).encode()).hexdigest()[:10]
    return run_id_for(source, None, label=f"threads-{digest}")


@app.command()
def build(
    data_dir: DataDir = None,
    config: ConfigPath = None,
    quiet: Quiet = False,
    wait: Wait = 0.0,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Rebuild every table from the whole lake, not only what new files change."
        ),
    ] = False,
) -> None:
    """Build the warehouse from the lake (incrementally when it can) and publish it."""
    _setup_logging()
    with _errors():
        from pipeline.run import build_warehouse

        settings = _settings(config, data_dir)
        with _writer(settings, "build", wait):
            result = build_warehouse(settings, progress=_progress_factory(quiet), full=full)
        _print_build(result)
        out.print(f"Warehouse: {location(settings)}")


@app.command()
def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be removed.")] = False,
    data_dir: DataDir = None,
    config: ConfigPath = None,
    wait: Wait = 0.0,
) -> None:
    """Remove items deleted or removed upstream from the lake, the raw pages and the warehouse."""
    _setup_logging()
    with _errors():
        from pipeline.purge import purge as do_purge

        settings = _settings(config, data_dir)
        with _writer(settings, "purge", wait) if not dry_run else contextlib.nullcontext():
            report = do_purge(settings, dry_run=dry_run)
        verb = "Would remove" if dry_run else "Removed"
        out.print(f"{verb} {report['flagged_items']:,} items flagged deleted/removed upstream")
        for platform, n in sorted(report["by_platform"].items()):
            out.print(f"  {platform}: {n:,}")
        if not dry_run:
            out.print(
                f"  lake rows: {report['lake_rows']:,}; affect rows: {report['affect_rows']:,}; "
                f"raw objects redacted: {report['raw_objects']:,}"
            )
            out.print(f"  warehouse rebuilt: {'yes' if report['warehouse_rebuilt'] else 'no (none yet)'}")


Format = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="auto (a table that fits the terminal, one field per line when it does not, CSV when piped), "
        "table, vertical, csv, tsv or json",
    ),
]
FORMATS = ("auto", "table", "vertical", "csv", "tsv", "json")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL to run against the published warehouse (read-only).")],
    fmt: Format = "auto",
    data_dir: DataDir = None,
    config: ConfigPath = None,
) -> None:
    """Run a read-only query against the published warehouse."""
    with _errors():
        from pipeline.db import connect_readonly

        _check_format(fmt)
        settings = _settings(config, data_dir)
        con = connect_readonly(published_path(settings))
        result = _query(con, query)
        if result is not None:
            _emit(*result, fmt)


@app.command()
def shell(
    fmt: Format = "auto",
    data_dir: DataDir = None,
    config: ConfigPath = None,
) -> None:
    """An interactive read-only SQL prompt over the published warehouse (statements end with `;`;
    `.tables` lists the tables, `.quit` leaves)."""
    with _errors():
        from pipeline.db import connect_readonly

        _check_format(fmt)
        settings = _settings(config, data_dir)
        con = connect_readonly(published_path(settings))
        interactive = sys.stdin.isatty()
        if interactive:
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401  (line editing and history for input())
            err.print(
                f"ripple shell on {location(settings)} (read-only). End statements with ;  .quit leaves"
            )
        failed = 0
        for statement in _shell_statements(interactive):
            if statement in (".quit", ".exit"):
                break
            failed += not _shell_run(con, statement, fmt)
        if failed and not interactive:
            raise typer.Exit(1)


def _shell_statements(interactive: bool) -> Iterator[str]:
    """Complete statements (ending with ``;``) and dot commands, from the prompt or from piped input."""
    buffer: list[str] = []
    while True:
        try:
            line = input("ripple> " if not buffer else "   ...> ") if interactive else next(sys.stdin)
        except (EOFError, StopIteration):
            break
        if not buffer and line.strip().startswith("."):
            yield line.strip()
            continue
        if line.strip():
            buffer.append(line.rstrip("\n"))
        if buffer and buffer[-1].rstrip().endswith(";"):
            yield "\n".join(buffer)
            buffer = []
    if buffer:
        yield "\n".join(buffer)


def _shell_run(con: Any, statement: str, fmt: str) -> bool:
    """Run one statement or dot command of the shell; print a one-line error and return False on failure."""
    if statement == ".tables":
        statement = "select table_name from duckdb_tables() order by table_name"
    elif statement.startswith("."):
        err.print(f"error: unknown command {statement} (use .tables or .quit)", highlight=False)
        return False
    try:
        result = _query(con, statement)
    except RippleError as exc:
        err.print(f"[bold red]error:[/bold red] {str(exc).splitlines()[0]}", highlight=False)
        return False
    if result is not None:
        _emit(*result, fmt)
    return True


def _query(con: Any, query: str) -> tuple[list[str], list[tuple[Any, ...]]] | None:
    """Columns and rows of a reader's query, after the read-only check; DuckDB errors become one line."""
    import duckdb

    from pipeline.db import ReadOnlyError, check_statement

    check_statement(query)
    try:
        rel = con.sql(query)
        return None if rel is None else (rel.columns, rel.fetchall())
    except duckdb.PermissionException as exc:  # a file outside the warehouse, an extension
        raise ReadOnlyError(str(exc).splitlines()[0]) from None
    except duckdb.Error as exc:
        raise RippleError(str(exc).splitlines()[0]) from None


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _resolve_format(fmt: str, columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    """``auto``: CSV when stdout is not a terminal; a table when it fits the terminal; else vertical."""
    if fmt != "auto":
        return fmt
    if not out.is_terminal:
        return "csv"
    widths = [max([len(c)] + [len(_cell(r[i])) for r in rows]) for i, c in enumerate(columns)]
    return "table" if sum(widths) + 3 * len(widths) + 1 <= out.width else "vertical"


def _emit(columns: list[str], rows: list[tuple[Any, ...]], fmt: str, title: str | None = None) -> None:
    fmt = _resolve_format(fmt, columns, rows)
    if fmt == "json":
        out.print_json(json.dumps([dict(zip(columns, r, strict=False)) for r in rows], default=str))
    elif fmt in ("csv", "tsv"):
        import csv

        writer = csv.writer(sys.stdout, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_cell(v) for v in r] for r in rows])
        sys.stdout.flush()
    elif fmt == "vertical":
        pad = max((len(c) for c in columns), default=0)
        if title:
            out.print(title, markup=False, highlight=False)
        for n, r in enumerate(rows, 1):
            out.print(f"-[ row {n} ]" + "-" * max(0, pad - 6), markup=False, highlight=False)
            for c, v in zip(columns, r, strict=False):
                out.print(f"{c:<{pad}} | {_cell(v)}", markup=False, highlight=False)
    else:
        table = Table(title=title)
        for c in columns:
            table.add_column(c, overflow="fold")
        for r in rows:
            table.add_row(*(_cell(v) for v in r))
        out.print(table)


@app.command()
def status(
    limit: Annotated[int, typer.Option(help="How many runs to show.")] = 10,
    fmt: Format = "auto",
    data_dir: DataDir = None,
    config: ConfigPath = None,
) -> None:
    """What the last runs did (from the run log in state/)."""
    with _errors():
        from pipeline.run import read_run_log, unfinished_run

        _check_format(fmt)
        settings = _settings(config, data_dir)
        latest = {e["run_id"]: e for e in read_run_log(settings) if "run_id" in e}  # a run's last entry
        entries = list(latest.values())[-limit:]
        pending = unfinished_run(settings)
        if not entries and not pending:
            out.print(
                f"No runs yet in {settings.data_uri or settings.data_dir}. Start one with `ripple run`."
            )
            return
        columns = ["run_id", "status", "finished", "items", "quarantined", "failed sources", "seconds"]
        rows = [_status_row(e) for e in entries]
        _emit(columns, rows, fmt, title=f"Runs in {settings.data_uri or settings.data_dir}")
        notes = err if fmt in ("csv", "tsv", "json") else out  # an explicit machine format stays clean
        if pending:
            notes.print(
                f"[yellow]Unfinished run {pending['run_id']}[/yellow]: the next `ripple run` resumes it."
            )
        notes.print(f"Warehouse: {location(settings) if published(settings) else '(not built yet)'}")


def _status_row(e: dict[str, Any]) -> tuple[str, ...]:
    return (
        e["run_id"],
        e["status"],
        str(e.get("finished_at") or "")[:19],
        f"{e.get('rows', 0):,}",
        f"{e.get('quarantined', 0):,}",
        ", ".join(e.get("failed_sources") or {}) or "-",
        str(round(sum((e.get("seconds") or {}).values()), 1)),
    )


@app.command()
def sources(data_dir: DataDir = None, config: ConfigPath = None) -> None:
    """List the available sources and which ones `ripple run` ingests."""
    with _errors():
        from pipeline.sources.base import REGISTRY

        settings = _settings(config, data_dir)
        for name, (_target, platform) in sorted(REGISTRY.items()):
            mark = "*" if name in settings.sources else " "
            out.print(f"{mark} {name:<12} platform={platform}")
        out.print("(* = configured in run.sources)")


@app.command()
def report(
    week: Annotated[
        str | None, typer.Option(help="ISO week, e.g. 2026-W47 (default: the last complete week).")
    ] = None,
    data_dir: DataDir = None,
    config: ConfigPath = None,
) -> None:
    """Render the weekly trend report (HTML + charts + CSV/Parquet) from the published warehouse."""
    _setup_logging()
    with _errors():
        from pipeline.report import render_report

        settings = _settings(config, data_dir)
        if week:
            _check_week_has_data(settings, week)
        path = render_report(settings, week=week)
        out.print(f"Report: {path}")


@export_app.command("network")
def export_network(
    kind: Annotated[str, typer.Option(help="interaction, community-flow or cascade.")],
    week: Annotated[str | None, typer.Option(help="ISO week, e.g. 2026-W47.")] = None,
    format: Annotated[str, typer.Option("--format", help="gexf, graphml or csv.")] = "gexf",
    output: Annotated[Path | None, typer.Option(help="File to write (default under data/exports).")] = None,
    root: Annotated[str | None, typer.Option(help="Root post id of the cascade (--kind cascade).")] = None,
    data_dir: DataDir = None,
    config: ConfigPath = None,
) -> None:
    """Write one week's network (or one cascade) from the published warehouse."""
    _setup_logging()
    with _errors():
        from pipeline.networks import export_network as export

        paths = export(
            _settings(config, data_dir), kind=kind, fmt=format, week=week, output=output, root=root
        )
        for path in paths:
            out.print(f"Network: {path}")


def _check_week_has_data(settings: Settings, week: str) -> None:
    """A week the warehouse has no items in stops with one line (exit 1) instead of an empty report."""
    from pipeline.db import connect_readonly
    from pipeline.report.db import Warehouse
    from pipeline.report.weeks import IsoWeek

    try:
        chosen = IsoWeek.parse(week)
    except RippleError as exc:
        raise ConfigError(str(exc)) from None
    con = connect_readonly(published_path(settings))
    try:
        wh = Warehouse(con)
        (items,) = wh.row("week_items", start=chosen.start, end=chosen.end)
        first, last = wh.row("data_span")
    finally:
        con.close()
    if not items:
        held = f"it holds items from {first.date()} to {last.date()}" if first else "it holds no items"
        raise RippleError(f"no items in {chosen.label} in the warehouse ({held}); choose another --week")


@app.command()
def affect(
    rescore: Annotated[
        bool, typer.Option("--rescore", help="Score every item again, not only new text.")
    ] = False,
    data_dir: DataDir = None,
    config: ConfigPath = None,
    quiet: Quiet = False,
    wait: Wait = 0.0,
) -> None:
    """Score the sentiment and emotion of items in the lake (incremental unless --rescore)."""
    _setup_logging()
    with _errors():
        from pipeline import affect as affect_module

        settings = _settings(config, data_dir)
        factory = _progress_factory(quiet)
        with _writer(settings, "affect", wait), factory("affect", None) as advance:
            if rescore:
                result = affect_module.rescore(settings, progress=lambda done, total=None: advance(done))
            else:
                result = affect_module.score_lake(settings, progress=lambda done, total=None: advance(done))
        _print_affect(result)
        out.print("Run `ripple build` to publish the new scores in the warehouse.")


@contextlib.contextmanager
def _importing(
    config: Path | None, data_dir: str | None, what: str, *, quiet: bool, wait: float, rekey: bool
) -> Iterator[tuple[Settings, Callable[[int], None]]]:
    """What every `ripple import WHAT` does around its importer: settings, the key check, the writer lock and
    a progress bar."""
    settings = _settings(config, data_dir)
    _rekey(settings, rekey)
    with (
        _writer(settings, f"import {what}", wait),
        _progress_factory(quiet)(f"import {what.replace('-', ' ')}", None) as advance,
    ):
        yield settings, advance


@import_app.command("reddit-dump")
def import_reddit_dump(
    files: Annotated[list[Path], typer.Argument(help="RC_/RS_ .zst or NDJSON files.")],
    subreddit: Annotated[list[str] | None, typer.Option("--subreddit", help="Keep only these.")] = None,
    author: Annotated[list[str] | None, typer.Option("--author", help="Keep only items by these.")] = None,
    since: Annotated[str | None, typer.Option(help="Keep items created at or after this time.")] = None,
    until: Annotated[str | None, typer.Option(help="Keep items created before this time.")] = None,
    data_dir: DataDir = None,
    config: ConfigPath = None,
    quiet: Quiet = False,
    rekey: Rekey = False,
    wait: Wait = 0.0,
) -> None:
    """Import Pushshift / Arctic Shift Reddit dump files into the lake."""
    _setup_logging()
    with _errors():
        from pipeline.run import parse_when
        from pipeline.sources.reddit_dump import import_dump

        with _importing(config, data_dir, "reddit-dump", quiet=quiet, wait=wait, rekey=rekey) as (
            settings,
            advance,
        ):
            results = import_dump(
                settings,
                list(files),
                subreddits=subreddit or None,
                authors=author or None,
                since=parse_when(since),
                until=parse_when(until),
                progress=advance,
            )
        _print_import(results)


@import_app.command("x-archive")
def import_x_archive(
    files: Annotated[list[Path], typer.Argument(help="twarc2 JSONL, flattened, stream or v2 page files.")],
    data_dir: DataDir = None,
    config: ConfigPath = None,
    quiet: Quiet = False,
    rekey: Rekey = False,
    wait: Wait = 0.0,
) -> None:
    """Import X API v2 archives (twarc2 output and friends) into the lake."""
    _setup_logging()
    with _errors():
        from pipeline.sources.x_archive import import_archive

        with _importing(config, data_dir, "x-archive", quiet=quiet, wait=wait, rekey=rekey) as (
            settings,
            advance,
        ):
            results = import_archive(settings, list(files), progress=advance)
        _print_import(results)


@app.command()
def stream(
    platform: Annotated[str, typer.Argument(help="Platform to stream: bluesky (Jetstream).")],
    max_events: Annotated[int | None, typer.Option(help="Stop after this many events.")] = None,
    data_dir: DataDir = None,
    config: ConfigPath = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            envvar="RIPPLE_LOCK_WAIT",
            help="Seconds a commit of a full buffer waits for another writer (default 3600; then exit 75).",
        ),
    ] = 3600.0,
) -> None:
    """Consume a live stream into the lake until interrupted, committing partitions as it goes (each commit
    holds the writer lock only while it writes)."""
    _setup_logging()
    with _errors():
        if platform != "bluesky":
            from pipeline.errors import ConfigError

            raise ConfigError(f"no stream for {platform!r} (known: bluesky)")
        from pipeline.sources.bluesky_stream import stream as run_stream

        stats = run_stream(_settings(config, data_dir), max_events=max_events, lock_wait=wait)
        out.print(
            f"{stats.received} events received, {stats.kept} kept, {stats.rows} items written in "
            f"{stats.commits} commits, {stats.reconnects} reconnects"
        )


@import_app.command("bluesky-jetstream")
def import_bluesky_jetstream(
    files: Annotated[list[Path], typer.Argument(help="Jetstream JSONL files (plain or .zst).")],
    data_dir: DataDir = None,
    config: ConfigPath = None,
    quiet: Quiet = False,
    rekey: Rekey = False,
    wait: Wait = 0.0,
) -> None:
    """Import Bluesky Jetstream recordings: posts, replies, quotes, reposts and deletes."""
    _setup_logging()
    with _errors():
        from pipeline.sources.bluesky_jetstream import import_jetstream, summary

        with _importing(config, data_dir, "bluesky-jetstream", quiet=quiet, wait=wait, rekey=rekey) as (
            settings,
            advance,
        ):
            results, counts = import_jetstream(settings, list(files), progress=advance)
        out.print(f"events: {summary(counts)}")
        _print_import(results)


@app.callback(invoke_without_command=True)
def main(ctx: typer.Context) -> None:
    """Without a command, `ripple` runs the whole pipeline (on the demo source unless configured otherwise)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(run)


if __name__ == "__main__":  # pragma: no cover
    app()
