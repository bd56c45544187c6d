"""The lake: raw landing, normalized partitions, quarantine, and the ingest that fills them.

Layout (under the data directory)::

    raw/<source>/date=YYYY-MM-DD/<run_id>.jsonl.zst       raw pages + provenance, one zstd frame per page
    lake/posts/platform=<p>/date=YYYY-MM-DD/<run_id>.parquet
    quarantine/<source>/<run_id>.jsonl                   rejected records with their reason
    state/<source>.json                                  watermarks and resume cursors

``run_id`` is derived from the source and the window (``demo-20261001T000000Z-20261031T000000Z``), so re-running
a window replaces exactly that window's files. Every file is written to a temporary name in its final directory and
renamed into place. While a run is in progress its raw file is ``<run_id>.jsonl.zst.partial``; each page is a
complete zstd frame flushed to the OS before the source moves on, so after a crash the next attempt re-reads the
pages that made it to disk and asks the source to continue from its checkpoint. ``raw/`` and everything in it is
owner-only (directories 0700, files 0600).

With ``lake.root = "s3://bucket/prefix"`` the same tree lives in an object store: files get a per-attempt token in
their names, are written to ``<data_dir>/spool`` first, uploaded on commit, and become visible together when the
run's manifest is created (:mod:`pipeline.commits`); readers use :func:`committed_files` / :func:`posts_source`.

The Post rules live in :mod:`pipeline.validation`, pseudonyms in :mod:`pipeline.pseudonyms`, run state in
:mod:`pipeline.state` and atomic writes in :mod:`pipeline.files`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import zstandard

from pipeline.commits import Commit, lake_store

# what readers of the lake call (they live in pipeline.commits, which pipeline.pseudonyms can import too)
from pipeline.commits import committed_files as committed_files
from pipeline.commits import has_posts as has_posts
from pipeline.config import Settings
from pipeline.files import atomic_path, atomic_write_text, private_dir, private_tree, remove_stale_temp_files
from pipeline.pseudonyms import pseudonymizer
from pipeline.schema import FILE_SCHEMA
from pipeline.sources.base import FetchContext, Reject, Source, Window
from pipeline.state import state_for
from pipeline.validation import EPOCH, Validator, to_micros

log = logging.getLogger(__name__)

MICROS_PER_DAY = 86_400_000_000


# --------------------------------------------------------------------------------------------- raw landing
def raw_path(settings: Settings, source: str, run_id: str, day: date) -> Path:
    return settings.raw_dir / source / f"date={day.isoformat()}" / f"{run_id}.jsonl.zst"


def encode_raw_page(cctx: zstandard.ZstdCompressor, page: dict[str, Any]) -> bytes:
    """One page as one complete zstd frame holding one ASCII JSON line (lone surrogates stay escaped)."""
    return cctx.compress(json.dumps(page, separators=(",", ":"), default=str).encode("ascii") + b"\n")


def rewrite_raw_file(path: Path, pages: list[dict[str, Any]]) -> None:
    """Replace a raw file atomically with exactly ``pages``, one frame each."""
    cctx = zstandard.ZstdCompressor(level=3)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        for page in pages:
            fh.write(encode_raw_page(cctx, page))


class RawWriter:
    """Appends pages to ``<run_id>.jsonl.zst.partial``, one zstd frame per page; owner-only from ``root`` down."""

    def __init__(self, path: Path, root: Path | None = None):
        self.partial = path.with_name(path.name + ".partial")
        self.path = path
        self.pages = 0
        private_dir(path.parent, root)
        fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        self._fh = os.fdopen(fd, "ab")
        self._cctx = zstandard.ZstdCompressor(level=3)

    def write(self, page: dict[str, Any]) -> None:
        self._fh.write(encode_raw_page(self._cctx, page))
        self._fh.flush()
        self.pages += 1

    def commit(self) -> Path:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self.partial, self.path)
        return self.path

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def read_raw_pages(path: Path | str, store: Any = None) -> Iterator[dict[str, Any]]:
    """Yield the complete pages of a raw file (a local path, or a location in ``store``, a
    :class:`pipeline.storage.Store`); a torn last frame (killed writer) is ignored."""
    dctx = zstandard.ZstdDecompressor()
    with open(path, "rb") if store is None else store.open(str(path), "rb") as fh:
        reader = dctx.stream_reader(fh, read_across_frames=True)
        text = io.TextIOWrapper(reader, encoding="ascii")
        try:
            for line in text:
                if not line.endswith("\n"):
                    return
                yield json.loads(line)
        except (zstandard.ZstdError, json.JSONDecodeError, UnicodeDecodeError):
            return


def _recover_partial(partial: Path) -> list[dict[str, Any]]:
    """Read the complete pages of an interrupted run and rewrite the partial file with exactly those."""
    pages = list(read_raw_pages(partial))
    rewrite_raw_file(partial, pages)
    return pages


# --------------------------------------------------------------------------------------------- partitions
def posts_file(settings: Settings, platform: str, day: str, run_id: str) -> Path:
    return settings.posts_dir / f"platform={platform}" / f"date={day}" / f"{run_id}.parquet"


_DAY_CACHE: dict[int, str] = {}


def _day_of(micros: int) -> str:
    day_number = micros // MICROS_PER_DAY
    day = _DAY_CACHE.get(day_number)
    if day is None:
        day = _DAY_CACHE[day_number] = (EPOCH + timedelta(days=day_number)).date().isoformat()
    return day


# columns with few distinct values per row group; ids and texts are unique, so a dictionary only costs time
_DICTIONARY_COLUMNS = ["kind", "share_type", "community", "author_id", "author_name", "root_id", "lang",
                       "run_id", "source"]  # fmt: skip
_Key = tuple[str, str]  # (platform, day)
_Open = tuple[pq.ParquetWriter, Path, Path | str]  # (writer, temporary file, final path or object name)


class PartitionWriter:
    """A run's validated rows into ``lake/posts/platform=<p>/date=<d>/<run_id>.parquet``, renamed in on commit.

    Takes Post rows (:meth:`add_row`, dicts from :class:`~pipeline.validation.Validator`) and Arrow tables
    (:meth:`add_table`, in :data:`FILE_SCHEMA`). A post id seen before is dropped as a duplicate: rows are
    checked against the whole run, a table within itself (a dump of a hundred million lines must not hold
    every id in memory). Parquet encoding runs on a helper thread (it releases the GIL) while the caller maps
    the next batch; at most two batches wait for it, so memory stays bounded.
    """

    def __init__(
        self, settings: Settings, run_id: str, batch_rows: int | None = None, log: Commit | None = None
    ):
        self.settings = settings
        self.run_id = run_id
        self.log = log  # the run's commit when the lake is on an object store: files are uploaded into it
        self.batch_rows = batch_rows or settings.lake.batch_rows
        self.rows = 0
        self.duplicates = 0
        self.counts: Counter[tuple[str, str | None]] = Counter()
        self._rows: dict[_Key, list[dict[str, Any]]] = defaultdict(list)
        self._tables: dict[_Key, list[pa.Table]] = defaultdict(list)
        self._buffered = 0
        self._seen: set[str] = set()
        self._writers: dict[_Key, _Open] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet")
        self._pending: list[Future[None]] = []

    def add_row(self, row: dict[str, Any]) -> None:
        if row["post_id"] in self._seen:
            self.duplicates += 1
            return
        self._seen.add(row["post_id"])
        self._rows[(row["platform"], _day_of(row["created_at"]))].append(row)
        self.counts[(row["platform"], row["community"])] += 1
        self.rows += 1
        self._buffered += 1
        if self._buffered >= self.batch_rows:
            self.flush()

    def add_table(self, table: pa.Table, platform: str) -> None:
        table = self._dedupe(table)
        if not table.num_rows:
            return
        micros = pc.cast(table["created_at"], pa.int64())
        days = pc.divide(micros, pa.scalar(MICROS_PER_DAY, pa.int64())).combine_chunks()
        unique_days = pc.unique(days).to_pylist()
        for day_number in unique_days:
            part = table if len(unique_days) == 1 else table.filter(pc.equal(days, day_number))
            self._tables[(platform, _day_of(day_number * MICROS_PER_DAY))].append(part)
        for entry in pc.value_counts(table["community"]).to_pylist():
            self.counts[(platform, entry["values"])] += entry["counts"]
        self.rows += table.num_rows
        self._buffered += table.num_rows
        if self._buffered >= self.batch_rows:
            self.flush()

    def _dedupe(self, table: pa.Table) -> pa.Table:
        ids = table["post_id"]
        if pc.count_distinct(ids).as_py() == table.num_rows:
            return table
        seen: set[str] = set()
        mask = []
        for post_id in ids.to_pylist():
            mask.append(post_id not in seen)
            seen.add(post_id)
        self.duplicates += mask.count(False)
        return table.filter(pa.array(mask))

    def flush(self) -> None:
        for key, rows in self._rows.items():
            self._tables[key].append(pa.Table.from_pylist(rows, schema=FILE_SCHEMA))
        if self._tables:
            self._pending.append(self._pool.submit(self._write, self._tables))
        self._rows, self._tables, self._buffered = defaultdict(list), defaultdict(list), 0
        while len(self._pending) > 2:
            self._pending.pop(0).result()

    def _write(self, buffers: dict[_Key, list[pa.Table]]) -> None:
        for key, tables in buffers.items():
            entry = self._writers.get(key)
            if entry is None:
                final: Path | str = posts_file(self.settings, key[0], key[1], self.run_id)
                directory = final.parent
                if self.log is not None:  # written in the spool, uploaded under a unique name on commit
                    part = f"platform={key[0]}/date={key[1]}"
                    final = self.log.name(f"lake/posts/{part}", self.run_id, ".parquet")
                    directory = self.settings.spool_dir / "posts" / part
                directory.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{self.run_id}.", suffix=".tmp", dir=directory)
                os.close(fd)
                writer = pq.ParquetWriter(
                    tmp, FILE_SCHEMA, compression="zstd", use_dictionary=_DICTIONARY_COLUMNS
                )
                entry = self._writers[key] = (writer, Path(tmp), final)
            table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
            entry[0].write_table(table, row_group_size=self.batch_rows)

    def _drain(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def commit(self) -> list[Path | str]:
        """Close the partition files, rename them into place and delete this run's other partition files: they
        are left from an earlier attempt of the same window whose items have moved or gone. On an object store
        the files are uploaded into the run's commit instead, which supersedes the earlier attempt's files."""
        self.flush()
        self._drain()
        self._pool.shutdown()
        written: list[Path | str] = []
        for writer, tmp, final in self._writers.values():
            writer.close()
            if isinstance(final, str) and self.log is not None:
                written.append(self.log.add_file(tmp, final))
                tmp.unlink()
                continue
            os.replace(tmp, final)
            written.append(final)
        self._writers = {}
        if self.log is not None:
            self.log.supersede_run("lake/posts/", ".parquet")
            return written
        keep = set(written)
        for old in self.settings.posts_dir.glob(f"platform=*/date=*/{self.run_id}.parquet"):
            if old not in keep:
                old.unlink()
        return written

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._drain()
        self._pool.shutdown()
        for writer, tmp, _final in self._writers.values():
            with contextlib.suppress(Exception):
                writer.close()
            tmp.unlink(missing_ok=True)
        self._writers = {}

    def by_community(self) -> dict[str, dict[str, int]]:
        """Rows written per platform and community (``(none)`` for rows without one)."""
        out: dict[str, dict[str, int]] = defaultdict(dict)
        for (platform, community), n in sorted(self.counts.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
            out[platform][community or "(none)"] = n
        return dict(out)


class Quarantine:
    """Collects rejected records; written as ``quarantine/<source>/<run_id>.jsonl`` on commit."""

    MAX_RECORD_CHARS = 20_000

    def __init__(self, settings: Settings, source: str, run_id: str, log: Commit | None = None):
        self.path = settings.quarantine_dir / source / f"{run_id}.jsonl"
        self.log = log
        self.source = source
        self.run_id = run_id
        self.reasons: Counter[str] = Counter()
        self._lines: list[str] = []

    def add(self, reason: str, record: Any, location: str | None = None) -> None:
        try:
            shown = json.dumps(record, default=repr)
        except (TypeError, ValueError):
            shown = json.dumps(repr(record))
        if len(shown) > self.MAX_RECORD_CHARS:
            shown = json.dumps(shown[: self.MAX_RECORD_CHARS] + "...[truncated]")
        line = json.dumps(
            {"source": self.source, "run_id": self.run_id, "reason": reason, "location": location}
        )
        self._lines.append(line[:-1] + f', "record": {shown}}}')
        # group reasons by their stable prefix so the summary stays readable
        self.reasons[reason.split(":")[0].split(" (")[0]] += 1

    @property
    def count(self) -> int:
        return len(self._lines)

    def commit(self) -> Path | str | None:
        if self.log is not None:  # on an object store: a new object in the run's commit replaces the old
            self.log.supersede_run(f"quarantine/{self.source}/", ".jsonl")
            if not self._lines:
                return None
            data = ("\n".join(self._lines) + "\n").encode()
            return self.log.add_bytes(self.log.name(f"quarantine/{self.source}", self.run_id, ".jsonl"), data)
        if not self._lines:
            self.path.unlink(missing_ok=True)
            return None
        atomic_write_text(self.path, "\n".join(self._lines) + "\n")
        return self.path


# --------------------------------------------------------------------------------------------- ingest
@dataclass
class IngestResult:
    source: str
    run_id: str
    pages: int = 0
    rows: int = 0
    duplicates: int = 0
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    by_community: dict[str, dict[str, int]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    resumed_pages: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_id_for(source: str, window: Window | None, label: str | None = None) -> str:
    if window is not None:
        return f"{source}-{window.key()}"
    if label is None:
        raise ValueError("a run without a window needs a label")
    return f"{source}-{label}"


class LakeRun:
    """The writers of one run: rows to the partitions, rejects to the quarantine, a summary at the end.

    :func:`ingest` feeds it pages; bulk importers feed it validated tables and rows directly.
    """

    def __init__(self, settings: Settings, source: str, platform: str, run_id: str, *, rekey: bool = False):
        self.settings = settings
        self.source = source
        self.run_id = run_id
        self.validate = Validator(settings, platform, pseudonymizer(settings, rekey=rekey))
        self.log = Commit(lake_store(settings), run_id) if settings.lake_remote else None
        self.writer = PartitionWriter(settings, run_id, log=self.log)
        self.quarantine = Quarantine(settings, source, run_id, log=self.log)
        self.result = IngestResult(source=source, run_id=run_id)
        remove_stale_temp_files(settings.spool_dir / "posts" if self.log else settings.posts_dir)

    def check(self, rec: Any, fetched_at: int, location: str | None) -> dict[str, Any] | None:
        """The clean row of one mapped record; None when it (or a Reject) went to the quarantine."""
        if isinstance(rec, Reject):
            self.quarantine.add(rec.reason, rec.record, rec.location or location)
            return None
        row = self.validate(rec, fetched_at, self.run_id, self.source)
        if isinstance(row, str):
            self.quarantine.add(row, rec, location)
            return None
        return row

    def add(self, rec: Any, fetched_at: int, location: str | None) -> None:
        """Validate one mapped record (or Reject) and send it to the partitions or the quarantine."""
        row = self.check(rec, fetched_at, location)
        if row is not None:
            self.writer.add_row(row)

    def commit(self, raw_writer: RawWriter | None = None) -> IngestResult:
        """Rename the partitions into place, write the quarantine and the raw file, and summarise. On an object
        store the run's manifest is created last: that is the moment all its files become visible at once."""
        self.result.files = [str(p) for p in self.writer.commit()]
        self.quarantine.commit()
        if raw_writer is not None:
            self.result.files.append(self._commit_raw(raw_writer))
        if self.log is not None:
            self.log.publish(cleanup=self._run_prefixes(raw=raw_writer is not None))
        self.result.rows = self.writer.rows
        self.result.duplicates = self.writer.duplicates
        self.result.quarantined = self.quarantine.count
        self.result.quarantine_reasons = dict(self.quarantine.reasons)
        self.result.by_community = self.writer.by_community()
        return self.result

    def _commit_raw(self, raw_writer: RawWriter) -> str:
        path = raw_writer.commit()
        if self.log is None:
            return str(path)
        rel = self.log.name(f"raw/{self.source}/{path.parent.name}", self.run_id, ".jsonl.zst")
        self.log.supersede_run(f"raw/{self.source}/", ".jsonl.zst")
        location = self.log.add_file(path, rel)
        path.unlink()
        return location

    def _run_prefixes(self, raw: bool) -> tuple[tuple[str, str], ...]:
        """Where files of this run id may be left by a crashed attempt (deleted once this attempt commits)."""
        out = [("lake/posts/", ".parquet"), (f"quarantine/{self.source}/", ".jsonl")]
        return (*out, (f"raw/{self.source}/", ".jsonl.zst")) if raw else tuple(out)

    def abort(self) -> None:
        self.writer.abort()


def _consume(
    run: LakeRun, source: Source, page: dict[str, Any], progress: Callable[[int], None] | None
) -> None:
    """Map one landed page and hand its records to the run; a page the mapper cannot read is quarantined."""
    fetched = to_micros(page["_fetched_at"])
    location = page.get("_location")
    try:
        records = list(source.normalize(page))
    except Exception as exc:  # a page the mapper cannot read must not stop the run
        run.quarantine.add(f"unreadable page: {type(exc).__name__}: {exc}", page, location)
        return
    for rec in records:
        run.add(rec, fetched, location)
    run.result.pages += 1
    if progress is not None:
        progress(len(records))


def _open_raw(
    run: LakeRun, source: Source, ctx: FetchContext, progress: Callable[[int], None] | None
) -> RawWriter:
    """The raw file of this run; pages a killed attempt landed are re-read first when the source can resume."""
    window = ctx.window
    day = (window.until - timedelta(microseconds=1)).date() if window else datetime.now(UTC).date()
    final_raw = raw_path(run.settings, source.name, run.run_id, day)
    raw_root = run.settings.raw_dir
    if run.settings.lake_remote:  # pages land in the spool; the finished file is uploaded on commit
        raw_root = run.settings.spool_dir / "raw"
        final_raw = raw_root / final_raw.relative_to(run.settings.raw_dir)
    partial = final_raw.with_name(final_raw.name + ".partial")
    if partial.exists() and ctx.cursor:
        recovered = _recover_partial(partial)
        run.result.resumed_pages = len(recovered)
        log.info("%s: resuming %s from %d landed pages", source.name, run.run_id, len(recovered))
        for page in recovered:
            _consume(run, source, page, progress)
    else:
        partial.unlink(missing_ok=True)
        ctx.state.data["runs"].pop(run.run_id, None)
    writer = RawWriter(final_raw, raw_root)
    private_tree(raw_root / source.name)  # files an older version left readable to others
    return writer


def _land(
    run: LakeRun, source: Source, ctx: FetchContext, pages: Iterable[dict[str, Any]] | None,
    progress: Callable[[int], None] | None,
) -> None:  # fmt: skip
    raw_writer = _open_raw(run, source, ctx, progress) if source.lands_raw else None
    try:
        for page in pages if pages is not None else source.fetch(ctx):
            page.setdefault("_source", source.name)
            page.setdefault("_run_id", run.run_id)
            page.setdefault("_fetched_at", datetime.now(UTC).isoformat())
            if raw_writer is not None:
                raw_writer.write(page)
            _consume(run, source, page, progress)
        run.commit(raw_writer)
    finally:
        if raw_writer is not None:
            raw_writer.close()


def ingest(
    source: Source,
    settings: Settings,
    window: Window | None,
    *,
    run_id: str | None = None,
    credentials: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
    pages: Iterable[dict[str, Any]] | None = None,
    rekey: bool = False,
) -> IngestResult:
    """Fetch, land, normalize, validate and write one source for one window (or one import).

    Safe to re-run: the window's files are replaced. Resumable: pages landed by a killed attempt are re-used and
    the source continues from the cursor it checkpointed. ``rekey=True`` accepts a changed pseudonym key
    (:func:`pipeline.pseudonyms.accept_new_key`); without it a changed key stops the run.
    """
    run_id = run_id or run_id_for(source.name, window)
    state = state_for(settings, source.name)
    ctx = FetchContext(
        settings=settings, run_id=run_id, window=window, state=state,
        credentials=credentials or {}, options=options or {},
    )  # fmt: skip
    run = LakeRun(settings, source.name, source.platform, run_id, rekey=rekey)
    try:
        _land(run, source, ctx, pages, progress)
    except BaseException:
        run.abort()
        raise
    # the run's files are in place: the cursor is no longer needed, the watermark may advance
    state.data["runs"].pop(run_id, None)
    if ctx.pending_watermark is not None:
        state.data["watermark"] = ctx.pending_watermark
    state.save()
    return run.result


# --------------------------------------------------------------------------------------------- reading
def posts_glob(settings: Settings) -> str:
    return str(settings.posts_dir / "platform=*" / "date=*" / "*.parquet")


def posts_source(settings: Settings) -> str | list[str]:
    """What ``read_parquet`` reads for the lake's posts: the glob on the local disk, the committed files (a list
    of ``s3://`` locations; :func:`pipeline.commits.attach` the connection first) on an object store."""
    if settings.lake_remote:
        return [f.path for f in committed_files(settings, "posts")]
    return posts_glob(settings)


def lake_reference_tables(settings: Settings) -> list[tuple[str, str]]:
    """``(<dir>_<stem>, location)`` of the single files sources write beside the lake (``lake/<dir>/<stem>.parquet``,
    replaced whole: a rename locally, one PUT on an object store)."""
    if not settings.lake_remote:
        return [(f"{p.parent.name}_{p.stem}", str(p)) for p in sorted(settings.lake_dir.glob("*/*.parquet"))]
    store = lake_store(settings)
    out = []
    # one listing of lake/ and one per reference directory: posts/ and affect/ (many files) are not listed
    for directory in store.list_dirs("lake"):
        name = directory.rsplit("/", 1)[-1]
        if name in ("posts", "affect") or name.startswith("_"):
            continue
        for location in store.list(f"lake/{name}", ".parquet"):
            stem = location.rsplit("/", 1)[-1].removesuffix(".parquet")
            if store.relative(location).count("/") == 2:
                out.append((f"{name}_{stem}", location))
    return sorted(out)


def write_reference_table(settings: Settings, directory: str, name: str, table: pa.Table) -> str:
    """Write ``lake/<directory>/<name>.parquet`` whole (atomic for readers)."""
    if not settings.lake_remote:
        final = settings.lake_dir / directory / f"{name}.parquet"
        with atomic_path(final) as tmp:
            pq.write_table(table, tmp)
        return str(final)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    store = lake_store(settings)
    location = store.join("lake", directory, f"{name}.parquet")
    store.write_bytes(location, sink.getvalue().to_pybytes())
    return location
