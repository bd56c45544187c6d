"""One nightly run end to end: ingest every configured source for the window → lake → affect → warehouse
(build, explain, tests) → publish. Used by ``ripple run`` and by the Airflow DAG (which calls the stage
functions one task each).

* Window: without an explicit one, a run covers the time from the end of the last successful run (or
  ``run.initial_lookback_days`` before now, on the first run) to now.
* Idempotent: file names derive from the source and the window, so running a window twice replaces its files.
* Resumable: each finished stage is checkpointed in ``state/runs/<run_id>.json``; if the last run did not finish
  (crash, ``kill -9``), the next run without an explicit window resumes that same window, skipping the sources
  that were already ingested and continuing the interrupted one from its own cursor.
* The run log ``state/runs.jsonl`` has one line per finished or failed run (``ripple status`` reads it), plus a
  ``running`` line written just before the build, so the warehouse lists the run that built it (``stg_runs``).
* A window never ends after now: a later ``until`` is clamped (with a note), so the run log cannot run ahead.
* Nothing new, no rebuild: when the inputs of the warehouse (:func:`inputs_fingerprint`) are those of the last
  build, the build is skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from pipeline import lake, versions, warehouse
from pipeline.commits import attach, lake_store
from pipeline.config import Settings
from pipeline.errors import ConfigError, RippleError
from pipeline.pseudonyms import key_fingerprint
from pipeline.shared import list_state, read_state, shared_root, update_state, write_state
from pipeline.sources.base import REGISTRY, Window, get_source
from pipeline.state import run_id_of

log = logging.getLogger(__name__)

#: progress(description, total) -> context manager yielding advance(n)
ProgressFactory = Callable[[str, int | None], AbstractContextManager[Callable[[int], None]]]


@contextlib.contextmanager
def _no_progress(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    log.info("%s ...", description)
    yield lambda n=1: None


# ------------------------------------------------------------------------------------------------ run log
#: the run log, in ``state/`` (:mod:`pipeline.shared`: local, or on the data directory's object store)
RUN_LOG = "runs.jsonl"


def runs_log_path(settings: Settings) -> Path:
    return settings.state_dir / RUN_LOG


def checkpoint_path(settings: Settings, run_id: str) -> Path:
    return settings.state_dir / "runs" / f"{run_id}.json"


def read_run_log(settings: Settings) -> list[dict[str, Any]]:
    text = read_state(settings, RUN_LOG)
    if text is None:
        return []
    entries = []
    for line in text.splitlines():
        if line.strip():
            with contextlib.suppress(json.JSONDecodeError):
                entries.append(json.loads(line))
    return entries


def append_run_log(settings: Settings, entry: dict[str, Any]) -> None:
    """Append one line (on an object store: compare-and-swap, so concurrent appends are all kept)."""
    line = json.dumps(entry, default=str, sort_keys=True) + "\n"
    update_state(settings, RUN_LOG, lambda existing: (existing or "") + line)


def load_checkpoint(settings: Settings, run_id: str) -> dict[str, Any]:
    text = read_state(settings, f"runs/{run_id}.json")
    return json.loads(text) if text is not None else {}


def save_checkpoint(settings: Settings, run_id: str, data: dict[str, Any]) -> None:
    write_state(settings, f"runs/{run_id}.json", json.dumps(data, indent=1, default=str))


def unfinished_run(settings: Settings) -> dict[str, Any] | None:
    """The most recent run that started but never finished, if it is newer than the last finished one."""
    names = list_state(settings, "runs", ".json")
    if not names:
        return None
    finished = {e["run_id"] for e in read_run_log(settings) if e.get("status") in ("succeeded", "partial")}
    candidates = []
    for name in names:
        data = json.loads(read_state(settings, name) or "{}")
        if data.get("run_id") not in finished and data.get("status") != "succeeded":
            candidates.append(data)
    if not candidates:
        return None
    return max(candidates, key=lambda d: d.get("started_at", ""))


def parse_when(value: str | datetime | None) -> datetime | None:
    """Accept '2026-11-01', '2026-11-01T06:00', ISO with offset, or a datetime; naive means UTC."""
    if value is None or isinstance(value, datetime):
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise RippleError(f"cannot read {value!r} as a date or time (use YYYY-MM-DD or ISO 8601)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def resolve_window(
    settings: Settings,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    now: datetime | None = None,
    notes: list[str] | None = None,
) -> Window:
    """The window of a run. An ``until`` after ``now`` is clamped to ``now`` (with a note appended to
    ``notes``), so neither the window nor the run log ever reaches past the time of the run."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    since_dt, until_dt = parse_when(since), parse_when(until)
    if until_dt is not None and until_dt > now:
        if notes is not None:
            notes.append(
                f"--until {until_dt.isoformat()} is in the future; the window ends now ({now.isoformat()})"
            )
        until_dt = now
    until_dt = until_dt or now
    if since_dt is not None and since_dt > until_dt:
        raise ConfigError(f"the window start {since_dt.isoformat()} is after its end {until_dt.isoformat()}")
    if since_dt is None:
        since_dt = _last_covered(settings) or until_dt - timedelta(days=settings.run.initial_lookback_days)
    if since_dt >= until_dt:
        raise RippleError(
            f"nothing to do: the window {since_dt.isoformat()} .. {until_dt.isoformat()} is empty "
            "(the last run already covered it; pass --since to re-run a window)"
        )
    return Window(since_dt, until_dt)


def _last_covered(settings: Settings) -> datetime | None:
    """The end of the latest finished run's window, never later than when that run finished (a run log
    written before windows were clamped may hold an ``until`` in the future)."""
    ends = []
    for entry in read_run_log(settings):
        if entry.get("status") in ("succeeded", "partial"):
            until = parse_when(entry["until"])
            finished = parse_when(entry.get("finished_at"))
            ends.append(min(until, finished) if until and finished else until)
    return max((e for e in ends if e is not None), default=None)


def check_sources(names: list[str]) -> None:
    """Unknown source names stop a run before it does any work."""
    for name in names:
        if name not in REGISTRY:
            known = ", ".join(sorted(REGISTRY))
            raise ConfigError(f"unknown source {name!r} (known: {known})")


# ------------------------------------------------------------------------------------------------ stages
def ingest_source(
    settings: Settings,
    source_name: str,
    window: Window | None,
    *,
    credentials: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    run_id: str | None = None,
    progress: ProgressFactory | None = None,
) -> dict[str, Any]:
    """Ingest one source for one window into the lake (safe to call twice for the same window)."""
    source = get_source(source_name, settings)
    progress = progress or _no_progress
    with progress(f"ingest {source_name}", None) as advance:
        result = lake.ingest(
            source,
            settings,
            window,
            run_id=run_id,
            credentials=credentials,
            options=options,
            progress=advance,
        )
    return result.to_dict()


def score_affect(settings: Settings, progress: ProgressFactory | None = None) -> dict[str, Any]:
    """Score the text of new items (incremental); a no-op when affect scoring is switched off."""
    if not settings.affect.enabled:
        return {"skipped": "affect.enabled is false"}
    try:
        from pipeline import affect
    except ImportError:  # pragma: no cover - affect is part of the package
        return {"skipped": "affect module missing"}
    if not hasattr(affect, "score_lake"):
        return {"skipped": "affect scoring not available"}
    progress = progress or _no_progress
    with progress("affect", None) as advance:
        return affect.score_lake(settings, progress=lambda done, total=None: advance(done))


def build_warehouse(
    settings: Settings,
    progress: ProgressFactory | None = None,
    *,
    fingerprint: str | None = None,
    full: bool = False,
) -> dict[str, Any]:
    """Build every model, run the assertions and publish the new warehouse atomically (always, even when
    nothing changed), then record the fingerprint of its inputs (:func:`inputs_fingerprint`)."""
    progress = progress or _no_progress
    fingerprint = fingerprint or inputs_fingerprint(settings)
    models = warehouse.load_models()
    with progress("warehouse", len(models) + 1) as advance:
        result = warehouse.build(settings, progress=lambda name: advance(1), full=full)
    record = {"fingerprint": fingerprint, "warehouse": _warehouse_identity(settings)}
    write_state(settings, FINGERPRINT, json.dumps(record))
    return result.to_dict()


# ------------------------------------------------------------------------------------------------ inputs
#: lake columns that change when the same items are fetched again (a re-run of a window), not the items
VOLATILE_COLUMNS = ("fetched_at", "run_id")


FINGERPRINT = "warehouse_inputs.json"


def fingerprint_path(settings: Settings) -> Path:
    return settings.state_dir / FINGERPRINT


def stored_fingerprint(settings: Settings) -> str | None:
    """The fingerprint of the inputs of the published warehouse, when ``ripple run`` or ``ripple build``
    published it (None before the first build, or when something else published since, e.g. a DAG run)."""
    try:
        record = json.loads(read_state(settings, FINGERPRINT) or "null")
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("warehouse") != _warehouse_identity(settings):
        return None
    return record.get("fingerprint")


def _warehouse_identity(settings: Settings) -> list[int] | str | None:
    """Which file is published (a publish renames a new file over it; on an object store: the current version)."""
    if shared_root(settings):
        return versions.current_version(settings)
    try:
        stat = settings.warehouse_path.stat()
    except OSError:
        return None
    return [stat.st_ino, stat.st_mtime_ns]


def inputs_fingerprint(settings: Settings) -> str:
    """A hash of everything the warehouse is built from: the content of every lake table (rows, not files,
    so a re-run that fetches the same items again changes nothing; ``fetched_at`` and ``run_id`` are left
    out), the quarantine files, the settings, the ``sql/`` models and the pipeline's own modules. The run log is
    not an input."""
    digest = hashlib.sha256(_settings_identity(settings).encode())
    con = duckdb.connect()
    try:
        attach(con, settings)
        for name, files in _lake_tables(settings):
            if files:
                digest.update(f"{name}:{_content_hash(con, files)}".encode())
    finally:
        con.close()
    if settings.lake_remote:  # object names carry a per-attempt token: the content is what counts
        store = lake_store(settings)
        for f in lake.committed_files(settings, "quarantine"):
            name = re.sub(r"-[0-9a-f]{12}(?=\.jsonl$)", "", f.path.rsplit("/", 1)[-1])
            digest.update(name.encode() + hashlib.sha256(store.read_bytes(f.path)).digest())
        extra = []
    else:
        extra = sorted(settings.quarantine_dir.rglob("*.jsonl")) if settings.quarantine_dir.exists() else []
    code = sorted(Path(__file__).parent.glob("*.py"))  # an upgrade of ripple rebuilds once
    for path in [*extra, *sorted(warehouse.sql_dir().rglob("*.sql")), *code]:
        digest.update(path.name.encode() + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _settings_identity(settings: Settings) -> str:
    """The settings as the fingerprint sees them. On an object store the local work directory differs from one
    machine to the next: the store's URI stands for it, so a build on another worker recognises the same inputs."""
    if not shared_root(settings):
        return repr(settings)
    same = settings.model_copy(deep=True)
    same.data_dir = Path("/")
    same.warehouse.cache_dir = ""
    return repr(same)


def _lake_tables(settings: Settings) -> list[tuple[str, list[str]]]:
    """The lake's tables by top-level name (posts, affect, each reference table directory) and their files."""
    if not settings.lake_remote:
        tables = sorted(settings.lake_dir.iterdir()) if settings.lake_dir.exists() else []
        return [
            (t.name, [str(t)] if t.suffix == ".parquet" else [str(p) for p in sorted(t.rglob("*.parquet"))])
            for t in tables
        ]
    out: dict[str, list[str]] = {}
    for table in ("affect", "posts"):
        out[table] = [f.path for f in lake.committed_files(settings, table)]
    for _name, location in lake.lake_reference_tables(settings):
        out.setdefault(location.rsplit("/", 2)[-2], []).append(location)
    return sorted(out.items())


def _content_hash(con: duckdb.DuckDBPyConnection, files: list[str]) -> str:
    """Row count and an order-independent sum of row hashes (volatile columns left out)."""
    volatile = ", ".join(f"'{c}'" for c in VOLATILE_COLUMNS)
    paths = [str(f) for f in files]
    row = con.execute(
        f"select count(*), sum(hash(*columns(lambda c: c not in ({volatile})))) "
        "from read_parquet(?, union_by_name = true, hive_partitioning = false)",
        [paths],
    ).fetchone()
    return f"{row[0]}:{row[1]}" if row else ""


# ------------------------------------------------------------------------------------------------ the run
@dataclass
class RunSummary:
    run_id: str
    since: str
    until: str
    status: str = "running"
    resumed: bool = False
    started_at: str = ""
    finished_at: str | None = None
    ingest: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed_sources: dict[str, str] = field(default_factory=dict)
    affect: dict[str, Any] = field(default_factory=dict)
    build: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    #: notes for the user (e.g. a window clamped to now)
    notes: list[str] = field(default_factory=list)
    #: True when nothing the warehouse is built from changed, so the build (and the report) were skipped
    build_skipped: bool = False
    #: fingerprint of the pseudonym key the run used (None when pseudonymisation is off)
    key_fingerprint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def quarantined(self) -> int:
        return sum(r.get("quarantined", 0) for r in self.ingest.values())

    @property
    def rows(self) -> int:
        return sum(r.get("rows", 0) for r in self.ingest.values())


def run_nightly(
    settings: Settings,
    *,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    sources: list[str] | None = None,
    credentials: dict[str, dict[str, Any]] | None = None,
    progress: ProgressFactory | None = None,
    build: bool = True,
) -> RunSummary:
    """Run the whole nightly pipeline for one window; see the module docstring for the guarantees."""
    names = sources if sources is not None else settings.sources
    check_sources(names)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    summary, window, checkpoint = _start_run(settings, since, until)
    _ingest_all(settings, summary, window, checkpoint, names, credentials, progress)

    started = time.perf_counter()
    summary.affect = score_affect(settings, progress)
    summary.seconds["affect"] = time.perf_counter() - started
    if build:
        _build_stage(settings, summary, progress)

    summary.status = "partial" if summary.failed_sources else "succeeded"
    summary.finished_at = datetime.now(UTC).isoformat()
    checkpoint.update(status=summary.status, finished_at=summary.finished_at)
    save_checkpoint(settings, summary.run_id, checkpoint)
    append_run_log(settings, _log_entry(summary))
    return summary


def _start_run(
    settings: Settings, since: datetime | str | None, until: datetime | str | None
) -> tuple[RunSummary, Window, dict[str, Any]]:
    """The window (resumed or new), the run's summary and its checkpoint (saved as running). The pseudonym key
    is checked once the window is known and before anything is saved: a bad or changed key stops the run."""
    resumed = None
    notes: list[str] = []
    if since is None and until is None:
        resumed = unfinished_run(settings)
    if resumed is not None:
        window = Window(parse_when(resumed["since"]), parse_when(resumed["until"]))  # type: ignore[arg-type]
        log.warning("resuming interrupted run %s", resumed["run_id"])
    else:
        window = resolve_window(settings, since, until, notes=notes)
    fingerprint = key_fingerprint(settings)
    run_id = run_id_of(window)
    checkpoint = load_checkpoint(settings, run_id) if resumed is not None else {}
    summary = RunSummary(
        run_id=run_id,
        since=window.since.isoformat(),
        until=window.until.isoformat(),
        resumed=resumed is not None,
        started_at=checkpoint.get("started_at") or datetime.now(UTC).isoformat(),
        notes=notes,
        key_fingerprint=fingerprint,
    )
    checkpoint.update(
        run_id=run_id,
        since=summary.since,
        until=summary.until,
        started_at=summary.started_at,
        status="running",
    )
    checkpoint.setdefault("ingest", {})
    save_checkpoint(settings, run_id, checkpoint)
    return summary, window, checkpoint


def _ingest_all(
    settings: Settings,
    summary: RunSummary,
    window: Window,
    checkpoint: dict[str, Any],
    names: list[str],
    credentials: dict[str, dict[str, Any]] | None,
    progress: ProgressFactory | None,
) -> None:
    """Ingest every source not ingested yet in this run; one broken source does not stop the others."""
    for name in names:
        if name in checkpoint["ingest"]:
            summary.ingest[name] = checkpoint["ingest"][name]
            continue
        started = time.perf_counter()
        try:
            summary.ingest[name] = ingest_source(
                settings, name, window, credentials=(credentials or {}).get(name), progress=progress
            )
        except RippleError as exc:
            summary.failed_sources[name] = str(exc)
            log.error("source %s failed: %s", name, exc)
        except Exception as exc:  # one broken source must not stop the others
            summary.failed_sources[name] = f"{type(exc).__name__}: {exc}"
            log.error("source %s failed:\n%s", name, traceback.format_exc())
        else:
            checkpoint["ingest"][name] = summary.ingest[name]
            save_checkpoint(settings, summary.run_id, checkpoint)
        summary.seconds[f"ingest:{name}"] = time.perf_counter() - started


def _build_stage(settings: Settings, summary: RunSummary, progress: ProgressFactory | None) -> None:
    """Build and publish, unless nothing the warehouse is built from changed since the last build.

    The run's entry goes into the run log (marked running) before the build, so the warehouse it builds
    lists the run that built it (``stg_runs``); the finished entry follows after the run."""
    started = time.perf_counter()
    fingerprint = inputs_fingerprint(settings)
    if versions.published(settings) and fingerprint == stored_fingerprint(settings):
        summary.build_skipped = True
        summary.build = {"skipped": "nothing the warehouse is built from changed since the last build"}
    else:
        summary.status = "running"
        append_run_log(settings, _log_entry(summary))
        summary.build = build_warehouse(settings, progress, fingerprint=fingerprint)
    summary.seconds["warehouse"] = time.perf_counter() - started


def _log_entry(summary: RunSummary) -> dict[str, Any]:
    return {
        "run_id": summary.run_id,
        "since": summary.since,
        "until": summary.until,
        "status": summary.status,
        "started_at": summary.started_at,
        "finished_at": summary.finished_at,
        "resumed": summary.resumed,
        "rows": summary.rows,
        "quarantined": summary.quarantined,
        "failed_sources": summary.failed_sources,
        "seconds": {k: round(v, 2) for k, v in summary.seconds.items()},
        "key_fingerprint": summary.key_fingerprint,
        **({"build_skipped": True} if summary.build_skipped else {}),
    }
