"""The lake: raw landing, normalized partitions, quarantine and atomic writes.

Layout (under the data directory)::

    raw/<source>/date=YYYY-MM-DD/<run_id>.jsonl.zst       raw pages + provenance, one zstd frame per page
    lake/posts/platform=<p>/date=YYYY-MM-DD/<run_id>.parquet
    quarantine/<source>/<run_id>.jsonl                   rejected records with their reason
    state/<source>.json                                  watermarks and resume cursors

``run_id`` is derived from the source and the window (``demo-20261001T000000Z-20261031T000000Z``), so re-running
a window replaces exactly that window's files. Every file is written to a temporary name in its final directory and
renamed into place. While a run is in progress its raw file is ``<run_id>.jsonl.zst.partial``; each page is a
complete zstd frame flushed to the OS before the source moves on, so after a crash the next attempt re-reads the
pages that made it to disk and asks the source to continue from its checkpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import logging
import math
import os
import secrets
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from pipeline.config import Settings
from pipeline.schema import (
    BOOL_COLUMNS,
    INT_COLUMNS,
    KINDS,
    POSTS_SCHEMA,
    SHARE_TYPES,
    STRING_COLUMNS,
)
from pipeline.sources.base import FetchContext, Reject, Source, Window, state_for

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# timestamps outside this range are certainly corrupt (Usenet-era dates, ms-vs-s mixups)
MIN_CREATED = datetime(1990, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=2)
FILE_SCHEMA = pa.schema([f for f in POSTS_SCHEMA if f.name != "platform"])
DELETED_AUTHORS = frozenset({"[deleted]", "[removed]", ""})


# --------------------------------------------------------------------------------------------- atomic writes
@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it into place only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def remove_stale_temp_files(directory: Path) -> int:
    """Delete leftovers of writes that were killed before their rename."""
    removed = 0
    if directory.exists():
        for tmp in directory.rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


# --------------------------------------------------------------------------------------------- pseudonyms
def pseudonym_key(settings: Settings) -> bytes:
    """The key for author pseudonyms: ``RIPPLE_PSEUDONYM_KEY``, else a key generated once in ``state/``."""
    env_key = os.environ.get("RIPPLE_PSEUDONYM_KEY")
    if env_key:
        return env_key.encode("utf-8")
    key_path = settings.state_dir / "pseudonym.key"
    if not key_path.exists():
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes racing to create the key must not end up with different keys
        try:
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    os.chmod(key_path, 0o600)
    return key_path.read_text().strip().encode("utf-8")


class Pseudonymizer:
    def __init__(self, key: bytes, enabled: bool = True):
        self.key = key
        self.enabled = enabled
        self._cache: dict[tuple[str, str], str] = {}

    def __call__(self, platform: str, raw_id: str) -> str:
        cached = self._cache.get((platform, raw_id))
        if cached is None:
            digest = hmac.new(self.key, f"{platform}:{raw_id}".encode(), hashlib.sha256).hexdigest()
            cached = self._cache[(platform, raw_id)] = "u_" + digest[:20]
        return cached


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
    """Appends pages to ``<run_id>.jsonl.zst.partial``, one zstd frame per page."""

    def __init__(self, path: Path):
        self.partial = path.with_name(path.name + ".partial")
        self.path = path
        self.pages = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        self._fh = open(self.partial, "ab")
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


def read_raw_pages(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the complete pages of a raw file; a torn last frame (killed writer) is ignored."""
    dctx = zstandard.ZstdDecompressor()
    with open(path, "rb") as fh:
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


# --------------------------------------------------------------------------------------------- validation
def to_micros(value: Any) -> int:
    """Parse a timestamp (datetime, epoch seconds as int/float/str, ISO 8601 text) to UTC epoch microseconds."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite timestamp: {value!r}")
        return int(round(value * 1_000_000))
    if isinstance(value, str):
        text = value.strip()
        try:
            return to_micros(float(text))
        except ValueError:
            pass
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        return to_micros(datetime.fromisoformat(text))
    raise ValueError(f"not a timestamp: {type(value).__name__}")


def _valid_utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_STRING_COLS = tuple(c for c in POSTS_SCHEMA.names if c in STRING_COLUMNS and c != "platform")
_INT_COLS = tuple(c for c in POSTS_SCHEMA.names if c in INT_COLUMNS)
_BOOL_COLS = tuple(c for c in POSTS_SCHEMA.names if c in BOOL_COLUMNS)


class Validator:
    """Turns a source's Post dict into a clean row, or explains why it cannot."""

    def __init__(self, settings: Settings, platform: str, pseudonymize: Pseudonymizer | None):
        self.platform = platform
        self.max_text = int(settings.get("lake", "max_text_chars"))
        self.pseudonymize = pseudonymize
        self.max_micros = to_micros(datetime.now(UTC) + MAX_FUTURE)
        self.min_micros = to_micros(MIN_CREATED)

    def __call__(
        self, rec: dict[str, Any], fetched_at: int, run_id: str, source: str
    ) -> dict[str, Any] | str:
        if not isinstance(rec, dict):
            return f"record is a {type(rec).__name__}, not an object"
        platform = rec.get("platform") or self.platform
        post_id = rec.get("post_id")
        if not post_id or not isinstance(post_id, str):
            return "missing post_id"
        if not post_id.startswith(f"{platform}:") or len(post_id) <= len(platform) + 1:
            return f"post_id {post_id[:60]!r} does not start with '{platform}:'"
        kind = rec.get("kind")
        if kind not in KINDS:
            return f"invalid kind {str(kind)[:30]!r}"
        row: dict[str, Any] = {"platform": platform}
        get = rec.get
        for col in _STRING_COLS:
            value = get(col)
            if value is not None:
                if type(value) is not str:
                    return f"wrong type for {col}: {type(value).__name__}"
                if not _valid_utf8(value):
                    return f"invalid UTF-8 in {col}"
            row[col] = value
        for col in _INT_COLS:
            value = get(col)
            if value is not None and type(value) is not int:
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    return f"wrong type for {col}: {type(value).__name__}"
            row[col] = value
        for col in _BOOL_COLS:
            value = get(col)
            if value is None:
                value = False
            elif type(value) is not bool:
                return f"wrong type for {col}: {type(value).__name__}"
            row[col] = value
        try:
            created = to_micros(rec.get("created_at"))
        except (ValueError, TypeError, OverflowError):
            return f"unparseable created_at {str(rec.get('created_at'))[:40]!r}"
        if not self.min_micros <= created <= self.max_micros:
            return f"created_at out of range: {str(rec.get('created_at'))[:40]!r}"
        row["created_at"] = created
        text_len = len(row["text"] or "") + len(row["title"] or "")
        if text_len > self.max_text:
            return f"text over limit ({text_len} > {self.max_text} chars)"
        if kind == "share" and not row["shared_id"]:
            return "share without shared_id"
        if kind == "comment" and not row["parent_id"]:
            return "comment without parent_id"
        share_type = row["share_type"]
        if share_type is not None and share_type not in SHARE_TYPES:
            return f"invalid share_type {share_type[:30]!r}"
        if row["root_id"] is None and kind != "comment":
            row["root_id"] = post_id
        if row["community"] is not None:
            row["community"] = row["community"].strip().lower() or None
        author_id, author_name = row["author_id"], row["author_name"]
        if author_id is None and author_name not in (None, *DELETED_AUTHORS):
            author_id = author_name
        if author_id in DELETED_AUTHORS or author_name in DELETED_AUTHORS:
            # the author deleted their account: nobody to attribute, and they must not count as a member
            author_id, author_name = None, None
        if self.pseudonymize is not None and author_id is not None:
            author_id, author_name = self.pseudonymize(platform, author_id), None
        row["author_id"], row["author_name"] = author_id, author_name
        row["fetched_at"] = fetched_at
        row["run_id"] = run_id
        row["source"] = source
        return row


# --------------------------------------------------------------------------------------------- writers
def posts_file(settings: Settings, platform: str, day: str, run_id: str) -> Path:
    return settings.posts_dir / f"platform={platform}" / f"date={day}" / f"{run_id}.parquet"


_DAY_CACHE: dict[int, str] = {}


def _day_of(micros: int) -> str:
    day_number = micros // 86_400_000_000
    day = _DAY_CACHE.get(day_number)
    if day is None:
        day = _DAY_CACHE[day_number] = (EPOCH + timedelta(days=day_number)).date().isoformat()
    return day


class PostWriter:
    """Buffers validated rows and writes one Parquet file per (platform, date) partition for a run."""

    def __init__(self, settings: Settings, run_id: str, batch_rows: int | None = None):
        self.settings = settings
        self.run_id = run_id
        self.batch_rows = batch_rows or int(settings.get("lake", "batch_rows"))
        self._buffers: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._buffered = 0
        self._writers: dict[tuple[str, str], tuple[pq.ParquetWriter, Path, Path]] = {}
        self._seen: set[str] = set()
        self.rows = 0
        self.duplicates = 0
        self.counts: Counter[tuple[str, str | None]] = Counter()

    def add(self, row: dict[str, Any]) -> None:
        if row["post_id"] in self._seen:
            self.duplicates += 1
            return
        self._seen.add(row["post_id"])
        key = (row["platform"], _day_of(row["created_at"]))
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = []
        buf.append(row)
        self.counts[(row["platform"], row["community"])] += 1
        self.rows += 1
        self._buffered += 1
        if self._buffered >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        for key, buf in self._buffers.items():
            if not buf:
                continue
            table = pa.Table.from_pylist(buf, schema=FILE_SCHEMA)
            entry = self._writers.get(key)
            if entry is None:
                final = posts_file(self.settings, key[0], key[1], self.run_id)
                final.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
                os.close(fd)
                writer = pq.ParquetWriter(tmp, FILE_SCHEMA, compression="zstd")
                entry = self._writers[key] = (writer, Path(tmp), final)
            entry[0].write_table(table, row_group_size=self.batch_rows)
        self._buffers = {}
        self._buffered = 0

    def commit(self) -> list[Path]:
        """Close the partition files, rename them into place and drop this run's files that are now stale."""
        self.flush()
        written = commit_partition_files(self.settings, self.run_id, list(self._writers.values()))
        self._writers = {}
        return written

    def abort(self) -> None:
        abort_partition_files(list(self._writers.values()))
        self._writers = {}


def commit_partition_files(
    settings: Settings, run_id: str, writers: list[tuple[pq.ParquetWriter, Path, Path]]
) -> list[Path]:
    """Close each (writer, temp file, final path), rename it into place, and delete this run's other partition
    files: they are left from an earlier attempt of the same window whose items have moved or gone."""
    written: list[Path] = []
    for writer, tmp, final in writers:
        writer.close()
        os.replace(tmp, final)
        written.append(final)
    keep = set(written)
    for old in settings.posts_dir.glob(f"platform=*/date=*/{run_id}.parquet"):
        if old not in keep:
            old.unlink()
    return written


def abort_partition_files(writers: list[tuple[pq.ParquetWriter, Path, Path]]) -> None:
    for writer, tmp, _final in writers:
        with contextlib.suppress(Exception):
            writer.close()
        tmp.unlink(missing_ok=True)


class Quarantine:
    """Collects rejected records; written as ``quarantine/<source>/<run_id>.jsonl`` on commit."""

    MAX_RECORD_CHARS = 20_000

    def __init__(self, settings: Settings, source: str, run_id: str):
        self.path = settings.quarantine_dir / source / f"{run_id}.jsonl"
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

    def commit(self) -> Path | None:
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
) -> IngestResult:
    """Fetch, land, normalize, validate and write one source for one window (or one import).

    Safe to re-run: the window's files are replaced. Resumable: pages landed by a killed attempt are re-used and
    the source continues from the cursor it checkpointed.
    """
    run_id = run_id or run_id_for(source.name, window)
    state = state_for(settings, source.name)
    ctx = FetchContext(
        settings=settings,
        run_id=run_id,
        window=window,
        state=state,
        credentials=credentials or {},
        options=options or {},
    )
    result = IngestResult(source=source.name, run_id=run_id)
    pseudo = Pseudonymizer(pseudonym_key(settings)) if settings.get("privacy", "pseudonymize") else None
    validate = Validator(settings, source.platform, pseudo)
    writer = PostWriter(settings, run_id)
    quarantine = Quarantine(settings, source.name, run_id)
    remove_stale_temp_files(settings.posts_dir)

    def consume(page: dict[str, Any]) -> None:
        fetched = to_micros(page["_fetched_at"])
        location = page.get("_location")
        try:
            records = list(source.normalize(page))
        except Exception as exc:  # a page the mapper cannot read must not stop the run
            quarantine.add(f"unreadable page: {type(exc).__name__}: {exc}", page, location)
            return
        for rec in records:
            if isinstance(rec, Reject):
                quarantine.add(rec.reason, rec.record, rec.location or location)
                continue
            row = validate(rec, fetched, run_id, source.name)
            if isinstance(row, str):
                quarantine.add(row, rec, location)
            else:
                writer.add(row)
        result.pages += 1
        if progress is not None:
            progress(len(records))

    raw_writer: RawWriter | None = None
    try:
        if source.lands_raw:
            day = (window.until - timedelta(microseconds=1)).date() if window else datetime.now(UTC).date()
            final_raw = raw_path(settings, source.name, run_id, day)
            partial = final_raw.with_name(final_raw.name + ".partial")
            if partial.exists() and ctx.cursor:
                recovered = _recover_partial(partial)
                result.resumed_pages = len(recovered)
                log.info("%s: resuming %s from %d landed pages", source.name, run_id, len(recovered))
                for page in recovered:
                    consume(page)
            else:
                partial.unlink(missing_ok=True)
                state.data["runs"].pop(run_id, None)
            raw_writer = RawWriter(final_raw)
        stream = pages if pages is not None else source.fetch(ctx)
        for page in stream:
            page.setdefault("_source", source.name)
            page.setdefault("_run_id", run_id)
            page.setdefault("_fetched_at", datetime.now(UTC).isoformat())
            if raw_writer is not None:
                raw_writer.write(page)
            consume(page)
        result.files = [str(p) for p in writer.commit()]
        if raw_writer is not None:
            result.files.append(str(raw_writer.commit()))
        quarantine.commit()
    except BaseException:
        writer.abort()
        if raw_writer is not None:
            raw_writer.close()
        raise
    # the run's files are in place: the cursor is no longer needed, the watermark may advance
    state.data["runs"].pop(run_id, None)
    if ctx.pending_watermark is not None:
        state.data["watermark"] = ctx.pending_watermark
    state.save()

    result.rows = writer.rows
    result.duplicates = writer.duplicates
    result.quarantined = quarantine.count
    result.quarantine_reasons = dict(quarantine.reasons)
    by_community: dict[str, dict[str, int]] = defaultdict(dict)
    for (platform, community), n in sorted(writer.counts.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        by_community[platform][community or "(none)"] = n
    result.by_community = dict(by_community)
    return result


def renormalize(source: Source, settings: Settings, raw_file: Path) -> IngestResult:
    """Re-map an already landed raw file (after a mapping fix) without fetching anything."""
    run_id = raw_file.name.removesuffix(".jsonl.zst")

    class _Replay:
        name, platform, lands_raw = source.name, source.platform, False

        def fetch(self, ctx: FetchContext) -> Iterator[dict[str, Any]]:
            return read_raw_pages(raw_file)

        def normalize(self, page: dict[str, Any]) -> Iterator[dict[str, Any] | Reject]:
            return source.normalize(page)

    return ingest(_Replay(), settings, None, run_id=run_id)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- reading
def posts_glob(settings: Settings) -> str:
    return str(settings.posts_dir / "platform=*" / "date=*" / "*.parquet")


def has_posts(settings: Settings) -> bool:
    return any(settings.posts_dir.glob("platform=*/date=*/*.parquet"))
