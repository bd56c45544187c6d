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
from pipeline.errors import RippleError

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

out = Console()
err = Console(stderr=True, soft_wrap=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="RIPPLE_DATA_DIR", help="Data directory (default ./data)."),
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


def _settings(config: Path | None, data_dir: Path | None) -> Settings:
    return load_settings(config=config, data_dir=data_dir)


def _rekey(settings: Settings, rekey: bool) -> None:
    if rekey:
        from pipeline.pseudonyms import accept_new_key

        accept_new_key(settings)


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


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


def _print_build(build: dict[str, Any]) -> None:
    tables = build.get("tables", {})
    if not tables:
        return
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
    until: Annotated[str | None, typer.Option(help="Window end, exclusive (default: now).")] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only these sources (repeatable).")
    ] = None,
    data_dir: DataDir = None,
    config: ConfigPath = None,
    quiet: Quiet = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    rekey: Rekey = False,
) -> None:
    """Run the nightly pipeline: ingest → lake → affect → warehouse → explain → publish."""
    _setup_logging(verbose)
    with _errors():
        from pipeline.run import run_nightly

        settings = _settings(config, data_dir)
        _rekey(settings, rekey)
        summary = run_nightly(
            settings, since=since, until=until, sources=source or None, progress=_progress_factory(quiet)
        )
        out.print(
            f"[bold]Run {summary.run_id}[/bold] ({summary.status}{', resumed' if summary.resumed else ''})"
        )
        out.print(f"Window: {summary.since} .. {summary.until}")
        _print_ingest(summary.ingest)
        _print_quarantine(summary.ingest)
        for name, reason in summary.failed_sources.items():
            out.print(f"[red]Source failed:[/red] {name}: {reason}", highlight=False)
        _print_affect(summary.affect)
        _print_build(summary.build)
        out.print(f"Warehouse: {settings.warehouse_path}")
        try:
            report = _maybe_report(settings)
        except Exception as exc:  # the warehouse is published; a report problem must not hide that
            out.print(
                f"[yellow]Report: not rendered ({type(exc).__name__}: {exc}); "
                "retry with `ripple report`[/yellow]",
                highlight=False,
            )
        else:
            if report:
                out.print(f"Report: {report}")
        if summary.failed_sources:
            raise typer.Exit(1)


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
    data_dir: DataDir = None,
    config: ConfigPath = None,
    quiet: Quiet = False,
    rekey: Rekey = False,
) -> None:
    """Ingest one source into the lake without building the warehouse."""
    _setup_logging()
    with _errors():
        from pipeline.run import ingest_source, resolve_window
        from pipeline.sources.base import Window

        settings = _settings(config, data_dir)
        _rekey(settings, rekey)
        options: dict[str, Any] = {}
        window: Window | None
        run_id = None
        if thread:
            # specific threads are not a window: their own run id, so they never replace a night's files
            import hashlib

            from pipeline.lake import run_id_for

            options["threads"] = list(thread)
            window = None
            digest = hashlib.sha1(",".join(sorted(thread)).encode()).hexdigest()[:10]
            run_id = run_id_for(source, None, label=f"threads-{digest}")
        else:
            window = resolve_window(settings, since, until)
        result = ingest_source(
            settings, source, window, options=options, run_id=run_id, progress=_progress_factory(quiet)
        )
        _print_ingest({source: result})
        _print_quarantine({source: result})


@app.command()
def build(data_dir: DataDir = None, config: ConfigPath = None, quiet: Quiet = False) -> None:
    """Rebuild the warehouse from whatever Parquet files are in the lake, and publish it."""
    _setup_logging()
    with _errors():
        from pipeline.run import build_warehouse

        settings = _settings(config, data_dir)
        result = build_warehouse(settings, progress=_progress_factory(quiet))
        _print_build(result)
        out.print(f"Warehouse: {settings.warehouse_path}")


@app.command()
def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be removed.")] = False,
    data_dir: DataDir = None,
    config: ConfigPath = None,
) -> None:
    """Remove items deleted or removed upstream from the lake, the raw pages and the warehouse."""
    _setup_logging()
    with _errors():
        from pipeline.purge import purge as do_purge

        settings = _settings(config, data_dir)
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


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL to run against the published warehouse (read-only).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv or json")] = "table",
    data_dir: DataDir = None,
    config: ConfigPath = None,
) -> None:
    """Run a read-only query against the published warehouse."""
    with _errors():
        import duckdb

        from pipeline.warehouse import connect_readonly

        settings = _settings(config, data_dir)
        con = connect_readonly(settings)
        try:
            rel = con.sql(query)
        except duckdb.Error as exc:
            raise RippleError(str(exc).splitlines()[0]) from None
        if rel is None:
            return
        columns, rows = rel.columns, rel.fetchall()
        if fmt == "json":
            out.print_json(json.dumps([dict(zip(columns, r, strict=False)) for r in rows], default=str))
        elif fmt == "csv":
            import csv

            writer = csv.writer(sys.stdout)
            writer.writerow(columns)
            writer.writerows(rows)
        elif fmt == "table":
            table = Table()
            for c in columns:
                table.add_column(c)
            for r in rows:
                table.add_row(*("" if v is None else str(v) for v in r))
            out.print(table)
        else:
            raise RippleError(f"unknown format {fmt!r} (use table, csv or json)")


@app.command()
def status(
    limit: Annotated[int, typer.Option(help="How many runs to show.")] = 10,
    data_dir: DataDir = None,
    config: ConfigPath = None,
) -> None:
    """What the last runs did (from the run log in state/)."""
    with _errors():
        from pipeline.run import read_run_log, unfinished_run

        settings = _settings(config, data_dir)
        entries = read_run_log(settings)[-limit:]
        pending = unfinished_run(settings)
        if not entries and not pending:
            out.print(f"No runs yet in {settings.data_dir}. Start one with `ripple run`.")
            return
        table = Table(title=f"Runs in {settings.data_dir}")
        for col in ("run_id", "status", "finished", "items", "quarantined", "failed sources", "seconds"):
            table.add_column(col)
        for e in entries:
            table.add_row(
                e["run_id"],
                e["status"],
                str(e.get("finished_at", ""))[:19],
                f"{e.get('rows', 0):,}",
                f"{e.get('quarantined', 0):,}",
                ", ".join(e.get("failed_sources") or {}) or "-",
                str(round(sum((e.get("seconds") or {}).values()), 1)),
            )
        out.print(table)
        if pending:
            out.print(
                f"[yellow]Unfinished run {pending['run_id']}[/yellow]: the next `ripple run` resumes it."
            )
        wh = settings.warehouse_path
        out.print(f"Warehouse: {wh if wh.exists() else '(not built yet)'}")


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
        path = render_report(settings, week=week)
        out.print(f"Report: {path}")


@app.command()
def affect(
    rescore: Annotated[
        bool, typer.Option("--rescore", help="Score every item again, not only new text.")
    ] = False,
    data_dir: DataDir = None,
    config: ConfigPath = None,
    quiet: Quiet = False,
) -> None:
    """Score the sentiment and emotion of items in the lake (incremental unless --rescore)."""
    _setup_logging()
    with _errors():
        from pipeline import affect as affect_module

        settings = _settings(config, data_dir)
        factory = _progress_factory(quiet)
        with factory("affect", None) as advance:
            if rescore:
                result = affect_module.rescore(settings, progress=lambda done, total=None: advance(done))
            else:
                result = affect_module.score_lake(settings, progress=lambda done, total=None: advance(done))
        _print_affect(result)
        out.print("Run `ripple build` to publish the new scores in the warehouse.")


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
) -> None:
    """Import Pushshift / Arctic Shift Reddit dump files into the lake."""
    _setup_logging()
    with _errors():
        from pipeline.run import parse_when
        from pipeline.sources.reddit_dump import import_dump

        settings = _settings(config, data_dir)
        _rekey(settings, rekey)
        with _progress_factory(quiet)("import reddit dump", None) as advance:
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
) -> None:
    """Import X API v2 archives (twarc2 output and friends) into the lake."""
    _setup_logging()
    with _errors():
        from pipeline.sources.x_archive import import_archive

        settings = _settings(config, data_dir)
        _rekey(settings, rekey)
        with _progress_factory(quiet)("import x archive", None) as advance:
            results = import_archive(settings, list(files), progress=advance)
        _print_import(results)


@app.command()
def stream(
    platform: Annotated[str, typer.Argument(help="Platform to stream: bluesky (Jetstream).")],
    max_events: Annotated[int | None, typer.Option(help="Stop after this many events.")] = None,
    data_dir: DataDir = None,
    config: ConfigPath = None,
) -> None:
    """Consume a live stream into the lake until interrupted, committing partitions as it goes."""
    _setup_logging()
    with _errors():
        if platform != "bluesky":
            from pipeline.errors import ConfigError

            raise ConfigError(f"no stream for {platform!r} (known: bluesky)")
        from pipeline.sources.bluesky_stream import stream as run_stream

        stats = run_stream(_settings(config, data_dir), max_events=max_events)
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
) -> None:
    """Import Bluesky Jetstream recordings: posts, replies, quotes, reposts and deletes."""
    _setup_logging()
    with _errors():
        from pipeline.sources.bluesky_jetstream import import_jetstream, summary

        settings = _settings(config, data_dir)
        with _progress_factory(quiet)("import bluesky jetstream", None) as advance:
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
