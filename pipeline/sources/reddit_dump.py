"""Pushshift / Arctic Shift dumps: RC_ (comments) and RS_ (submissions) NDJSON files, ``.zst`` or plain.

The published ``.zst`` files are single zstd frames made with ``--long=31`` (a 2 GiB window), which most
readers refuse; they are read here with ``zstandard`` and ``max_window_size=2**31``, streaming, so memory does
not grow with the file (the decoder itself needs up to min(2 GiB, decompressed size) for its window: that is
the format, and ``zstd -d`` needs the same).

Two ways in, same rows out:

* :class:`RedditDumpSource` plugs into :func:`pipeline.lake.ingest` like any source (``lands_raw = False``:
  the dump already is the raw record). Pages are blocks of lines; ``normalize`` parses each line.
* :func:`import_dump` (what ``ripple import reddit-dump`` calls) runs a vectorized fast path by default: lines
  are decoded with msgspec into typed structs, mapped and validated column-wise with pyarrow and written
  straight to the lake partitions. Any line the fast path is not certain about (unexpected types, a reason to
  reject it, crosspost originals) goes through the generic mapping and :class:`pipeline.lake.Validator`, so
  both paths give the same rows, rejects and reasons (tests/sources/test_reddit_dump.py checks it).

Bad input never stops an import: a malformed line is quarantined with ``file:line`` as its location; a
truncated file keeps every complete line read, logs a warning and quarantines one record saying where the
file ends and how many lines were read.
"""

from __future__ import annotations

import contextlib
import logging
import math
import operator
import os
import queue
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import zstandard

from pipeline import lake
from pipeline.config import Settings
from pipeline.errors import ConfigError
from pipeline.schema import UTC_TS
from pipeline.sources.base import FetchContext, Reject
from pipeline.sources.reddit import (
    AUTHOR_DELETION_CATEGORIES,
    DELETED_TEXT,
    INT64_MAX,
    REMOVED_TEXT,
    map_record,
)

log = logging.getLogger(__name__)

SOURCE_NAME = "reddit_dump"
PLATFORM = "reddit"
PAGE_LINES = 10_000
MAX_WINDOW = 2**31
READ_BYTES = 1 << 20
# compressed bytes per decompress call: dumps compress ~15x, and outputs much over 1 MiB cost page faults
ZST_READ_BYTES = 1 << 16
BLOCK_BYTES = 16 << 20


# --------------------------------------------------------------------------------------------- reading
@dataclass
class ReadReport:
    """What a read of one file saw; ``truncated`` is set when a .zst stream ends inside a frame."""

    lines: int = 0
    truncated: bool = False
    tail: bytes = b""


def _zst_chunks(path: Path, report: ReadReport) -> Iterator[bytes]:
    dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
    dobj = dctx.decompressobj()
    in_frame = False
    with open(path, "rb") as fh:
        while True:
            data = fh.read(ZST_READ_BYTES)
            if not data:
                break
            while data:
                out = dobj.decompress(data)
                in_frame = True
                if out:
                    yield out
                if dobj.eof:
                    # the next frame (files made by concatenating frames) starts in what is left
                    data = dobj.unused_data
                    dobj = dctx.decompressobj()
                    in_frame = False
                else:
                    data = b""
    if in_frame:
        report.truncated = True


def _plain_chunks(path: Path, size: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while True:
            data = fh.read(size)
            if not data:
                return
            yield data


def read_raw_blocks(
    path: Path, report: ReadReport, block_bytes: int | None = None
) -> Iterator[tuple[int, bytes, int]]:
    """(number of the first line, complete lines joined by newlines, number of lines) blocks.

    A block is about ``block_bytes`` of text. Lines are numbered from 1 and blank lines count. A last line
    without a newline is a block of its own, except at the end of a truncated .zst stream, where it is kept
    in ``report.tail`` instead.
    """
    block_bytes = block_bytes or BLOCK_BYTES
    chunks = _zst_chunks(path, report) if path.name.endswith(".zst") else _plain_chunks(path, block_bytes)
    carry = b""
    buffered: list[bytes] = []
    size = 0
    next_line = 1
    for chunk in chunks:
        buffered.append(chunk)
        size += len(chunk)
        if size < block_bytes:
            continue
        cut = chunk.rfind(b"\n")
        if cut < 0:
            continue  # no line ends in this chunk: wait for one
        buffered[-1] = chunk[:cut]
        data = b"".join([carry, *buffered])
        carry, buffered, size = chunk[cut + 1 :], [], 0
        lines = data.count(b"\n") + 1
        yield next_line, data, lines
        next_line += lines
    text = b"".join([carry, *buffered])
    cut = text.rfind(b"\n")
    if cut >= 0:
        data = text[:cut]
        lines = data.count(b"\n") + 1
        yield next_line, data, lines
        next_line += lines
    last = text[cut + 1 :]
    if last and report.truncated:
        report.tail = last
    elif last:
        yield next_line, last, 1
        next_line += 1
    report.lines = next_line - 1


def read_blocks(
    path: Path, report: ReadReport, block_bytes: int | None = None
) -> Iterator[tuple[int, list[bytes]]]:
    """(number of the first line, its lines) blocks of :func:`read_raw_blocks`."""
    for first, data, _ in read_raw_blocks(path, report, block_bytes):
        yield first, data.split(b"\n")


def _in_background(items: Iterator[Any], name: str) -> Iterator[Any]:
    """Run the iterator on a helper thread (zstd releases the GIL), a few items ahead of the consumer."""
    handoff: queue.Queue[Any] = queue.Queue(maxsize=3)
    done = object()
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def file_kind(path: Path) -> str | None:
    """t1 for comment files (RC_*, *_comments*), t3 for submission files (RS_*, *_submissions*)."""
    name = path.name
    if name.startswith("RC_") or "_comments" in name:
        return "t1"
    if name.startswith("RS_") or "_submissions" in name:
        return "t3"
    return None


def truncation_reject(path: Path, report: ReadReport) -> Reject:
    tail = report.tail.decode("utf-8", "replace")
    return Reject(
        f"truncated file: {path.name} ends inside a zstd frame after {report.lines} complete lines; "
        "those lines were imported",
        {"file": str(path), "lines_read": report.lines, "partial_tail": tail[:500]},
        f"{path.name}:{report.lines + 1}",
    )


# --------------------------------------------------------------------------------------------- filters
@dataclass(frozen=True)
class DumpFilter:
    subreddits: frozenset[str] | None = None
    since_micros: int | None = None
    until_micros: int | None = None

    @staticmethod
    def build(subreddits: Iterable[str] | None, since: Any, until: Any) -> DumpFilter:
        subs = None
        if subreddits:
            subs = frozenset(s.strip().removeprefix("r/").lower() for s in subreddits if s and s.strip())
        return DumpFilter(
            subs or None,
            lake.to_micros(since) if since is not None else None,
            lake.to_micros(until) if until is not None else None,
        )

    @property
    def active(self) -> bool:
        return self.subreddits is not None or self.since_micros is not None or self.until_micros is not None

    def keeps(self, record: dict[str, Any]) -> bool:
        if self.subreddits is not None:
            sub = record.get("subreddit")
            if not isinstance(sub, str) or sub.lower() not in self.subreddits:
                return False
        if self.since_micros is not None or self.until_micros is not None:
            try:
                micros = lake.to_micros(record.get("created_utc"))
            except (ValueError, TypeError, OverflowError):
                return True  # validation quarantines it with its reason
            if self.since_micros is not None and micros < self.since_micros:
                return False
            if self.until_micros is not None and micros >= self.until_micros:
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "subreddits": sorted(self.subreddits) if self.subreddits else None,
            "since_micros": self.since_micros,
            "until_micros": self.until_micros,
        }

    @staticmethod
    def from_dict(data: dict[str, Any] | None) -> DumpFilter:
        data = data or {}
        subs = data.get("subreddits")
        return DumpFilter(
            frozenset(subs) if subs else None, data.get("since_micros"), data.get("until_micros")
        )


def _decode_line(line: bytes) -> Any:
    return msgspec.json.decode(line)


_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, ValueError)


def map_line(line: bytes, kind: str | None, keep: DumpFilter, location: str) -> list[dict[str, Any] | Reject]:
    """The generic mapping of one dump line: Post dicts, a Reject, or nothing (blank or filtered out)."""
    if not line.strip():
        return []
    try:
        record = _decode_line(line)
    except _DECODE_ERRORS as exc:
        shown = line[:20_000].decode("utf-8", "replace")
        return [Reject(f"malformed JSON line: {str(exc)[:120]}", shown, location)]
    if not isinstance(record, dict):
        return [Reject(f"line is a JSON {type(record).__name__}, not an object", record, location)]
    if keep.active and not keep.keeps(record):
        return []
    return list(map_record(record, kind))


# --------------------------------------------------------------------------------------------- the source
class RedditDumpSource:
    name = SOURCE_NAME
    platform = PLATFORM
    lands_raw = False

    def __init__(self, settings: Settings, page_lines: int = PAGE_LINES):
        self.settings = settings
        self.page_lines = page_lines

    def fetch(self, ctx: FetchContext) -> Iterator[dict[str, Any]]:
        paths = [Path(p) for p in ctx.options.get("paths") or []]
        if not paths:
            raise ConfigError("reddit_dump: no input files (options['paths'])")
        keep = DumpFilter.build(
            ctx.options.get("subreddits"), ctx.options.get("since"), ctx.options.get("until")
        )
        for path in paths:
            if not path.is_file():
                raise ConfigError(f"reddit_dump: no such file: {path}")
            report = ReadReport()
            kind = file_kind(path)
            for first, lines in _in_background(read_blocks(path, report), f"read {path.name}"):
                for offset in range(0, len(lines), self.page_lines):
                    yield {
                        "request": {"file": str(path), "first_line": first + offset, "kind": kind},
                        "filter": keep.to_dict(),
                        "data": lines[offset : offset + self.page_lines],
                        "_location": f"{path.name}:{first + offset}",
                    }
            if report.truncated:
                log.warning(
                    "%s is truncated: imported the %d complete lines before the cut", path, report.lines
                )
                reject = truncation_reject(path, report)
                yield {
                    "request": {"file": str(path), "first_line": report.lines + 1, "kind": kind},
                    "data": [],
                    "truncated": {
                        "reason": reject.reason,
                        "record": reject.record,
                        "location": reject.location,
                    },
                }

    def normalize(self, page: dict[str, Any]) -> Iterator[dict[str, Any] | Reject]:
        truncated = page.get("truncated")
        if truncated:
            yield Reject(truncated["reason"], truncated["record"], truncated["location"])
            return
        request = page.get("request") or {}
        name = Path(str(request.get("file", "?"))).name
        first = int(request.get("first_line", 1))
        kind = request.get("kind")
        keep = DumpFilter.from_dict(page.get("filter"))
        for index, line in enumerate(page.get("data") or []):
            yield from map_line(line, kind, keep, f"{name}:{first + index}")


# --------------------------------------------------------------------------------------------- fast path
class _Meta(msgspec.Struct, gc=False):
    removal_type: str | None = None
    was_deleted_later: bool | None = None


class _Common(msgspec.Struct, gc=False):
    """The fields the mapping reads, typed as the fast path handles them; other lines take the slow path."""

    id: str | None = None
    name: str | None = None
    author: str | None = None
    subreddit: str | None = None
    created_utc: int | float | str | None = None
    score: int | None = None
    removed_by_category: str | None = None
    removal_type: str | None = None
    was_deleted_later: bool | None = None
    meta: _Meta | None = msgspec.field(name="_meta", default=None)


class _Comment(_Common, gc=False):
    body: str | None = None
    parent_id: str | None = None
    link_id: str | None = None


class _Submission(_Common, gc=False):
    selftext: str | None = None
    title: str | None = None
    url: str | None = None
    is_self: bool | None = None
    num_comments: int | None = None
    num_crossposts: int | None = None
    crosspost_parent: str | None = None
    crosspost_parent_list: list[Any] | None = None


_DECODERS = {"t1": msgspec.json.Decoder(_Comment), "t3": msgspec.json.Decoder(_Submission)}
_INT_FIELDS = frozenset({"score", "num_comments", "num_crossposts"})
_BOOL_FIELDS = frozenset({"is_self", "was_deleted_later"})


def _strings(values: list[Any]) -> pa.Array:
    return pa.array(values, pa.string())


def _null_where(arr: pa.Array, mask: pa.Array) -> pa.Array:
    """``arr`` with nulls where ``mask`` is true, sharing its string data (no copy, unlike ``if_else``)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    keep = pc.and_(pc.is_valid(arr), pc.invert(pc.fill_null(mask, False)))
    if arr.offset or keep.offset or not pa.types.is_string(arr.type):
        return pc.if_else(keep, arr, pa.scalar(None, arr.type))
    validity = keep.buffers()[1]
    buffers = arr.buffers()
    return pa.StringArray.from_buffers(len(arr), buffers[1], buffers[2], validity)


def _nonempty(arr: pa.Array) -> pa.Array:
    """Null where the value is null or empty (the ``_str`` of the generic mapping)."""
    return _null_where(arr, pc.equal(pc.utf8_length(arr), 0))


def _eq(arr: pa.Array, value: str) -> pa.Array:
    return pc.fill_null(pc.equal(arr, value), False)


def _prefixed(prefix: str, arr: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(pa.scalar(prefix), arr, "")


def _created_float(value: Any) -> float | None:
    if type(value) is str:
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    if value is None or type(value) is bool:
        return None
    return float(value) if type(value) is float or abs(value) < 2**53 else None


def _record_columns(records: list[Any]) -> dict[str, pa.Array]:
    """Typed Arrow columns from msgspec structs, named as :meth:`_FastImport._map_columns` expects."""
    out: dict[str, pa.Array] = {}
    big: list[bool] | None = None
    for name in type(records[0]).__struct_fields__:
        values = list(map(operator.attrgetter(name), records))
        if name == "created_utc":
            try:
                out[name] = pa.array(values, pa.float64())
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
                # text timestamps (some eras) or numbers a float cannot hold exactly
                out[name] = pa.array([_created_float(v) for v in values], pa.float64())
        elif name == "meta":
            out["meta_removal_type"] = _strings([m.removal_type if m is not None else None for m in values])
            out["meta_was_deleted_later"] = pa.array(
                [m.was_deleted_later if m is not None else None for m in values], pa.bool_()
            )
        elif name == "crosspost_parent_list":
            out["has_originals"] = pa.array([bool(x) for x in values], pa.bool_())
        elif name in _BOOL_FIELDS:
            out[name] = pa.array(values, pa.bool_())
        elif name in _INT_FIELDS:
            try:
                out[name] = pa.array(values, pa.int64())
            except (pa.ArrowInvalid, OverflowError):
                flags = [v is not None and not -INT64_MAX <= v <= INT64_MAX for v in values]
                big = flags if big is None else [a or b for a, b in zip(big, flags, strict=True)]
                out[name] = pa.array(
                    [None if f else v for v, f in zip(values, flags, strict=True)], pa.int64()
                )
        else:
            out[name] = _strings(values)
    if big is not None:
        # a count beyond int64 is not a count (the generic mapping drops it): a null time routes it to Python
        out["created_utc"] = pc.if_else(pa.array(big), pa.scalar(None, pa.float64()), out["created_utc"])
    return out


# columns with few distinct values per row group; ids and texts are unique, so a dictionary only costs time
_DICTIONARY_COLUMNS = ["kind", "share_type", "community", "author_id", "author_name", "root_id", "lang",
                       "run_id", "source"]  # fmt: skip


class _PartitionWriter:
    """Arrow tables into ``lake/posts/platform=reddit/date=<d>/<run_id>.parquet``, renamed in on commit.

    Parquet encoding runs on a helper thread (it releases the GIL) while the next lines are parsed; at most
    two batches wait for it, so memory stays bounded.
    """

    def __init__(self, settings: Settings, run_id: str):
        self.settings = settings
        self.run_id = run_id
        self.batch_rows = int(settings.get("lake", "batch_rows"))
        self._buffers: dict[int, list[pa.Table]] = defaultdict(list)
        self._buffered = 0
        self._writers: dict[str, tuple[pq.ParquetWriter, Path, Path]] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet")
        self._pending: list[Future[None]] = []

    def add(self, table: pa.Table, days: pa.Array) -> None:
        unique_days = pc.unique(days).to_pylist()
        if len(unique_days) == 1:
            self._buffers[unique_days[0]].append(table)
        else:
            for day in unique_days:
                self._buffers[day].append(table.filter(pc.equal(days, day)))
        self._buffered += table.num_rows
        if self._buffered >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        if self._buffered:
            self._pending.append(self._pool.submit(self._write, self._buffers))
            self._buffers = defaultdict(list)
            self._buffered = 0
        while len(self._pending) > 2:
            self._pending.pop(0).result()

    def _write(self, buffers: dict[int, list[pa.Table]]) -> None:
        for day_number, tables in buffers.items():
            day = lake._day_of(day_number * 86_400_000_000)
            entry = self._writers.get(day)
            if entry is None:
                final = lake.posts_file(self.settings, PLATFORM, day, self.run_id)
                final.parent.mkdir(parents=True, exist_ok=True)
                tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
                writer = pq.ParquetWriter(
                    tmp, lake.FILE_SCHEMA, compression="zstd", use_dictionary=_DICTIONARY_COLUMNS
                )
                entry = self._writers[day] = (writer, tmp, final)
            entry[0].write_table(pa.concat_tables(tables), row_group_size=self.batch_rows)

    def _drain(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def commit(self) -> list[Path]:
        self.flush()
        self._drain()
        self._pool.shutdown()
        written = lake.commit_partition_files(self.settings, self.run_id, list(self._writers.values()))
        self._writers = {}
        return written

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._drain()
        self._pool.shutdown()
        lake.abort_partition_files(list(self._writers.values()))
        self._writers = {}


@dataclass
class _Mapped:
    """What one block became: rows for the lake, lines for the quarantine, duplicates dropped."""

    table: pa.Table | None
    rejects: list[tuple[str, Any, str]]
    duplicates: int = 0


class _BlockMapper:
    """Lines -> lake rows and quarantine records; the caller lands them (:meth:`_FastImport._land`)."""

    def __init__(
        self, settings: Settings, name: str, kind: str | None, keep: DumpFilter, run_id: str, fetched: int,
        key: bytes | None,
    ):  # fmt: skip
        self.name = name
        self.kind = kind
        self.keep = keep
        self.run_id = run_id
        self.fetched = fetched
        self.pseudo = lake.Pseudonymizer(key) if key is not None else None
        self.validator = lake.Validator(settings, PLATFORM, self.pseudo)
        self.max_text = int(settings.get("lake", "max_text_chars"))

    def map_block(self, first: int, data: bytes, count: int) -> _Mapped:
        """The ``count`` lines ``first``.. of ``data`` (complete lines joined by newlines)."""
        lines: list[bytes] | None = None  # split only when a line has to be looked at on its own
        rejects: list[tuple[str, Any, str]] = []
        tables: list[pa.Table] = []
        if self.kind is not None:
            records, positions, slow_lines, lines = self._decode_lines(data, count)
            if records:
                table, python_rows = self._map_columns(_record_columns(records))
                if table is not None and table.num_rows:
                    tables.append(table)
                slow_lines.extend(positions[i] for i in python_rows)
        else:
            slow_lines = list(range(count))
        if slow_lines:
            if lines is None:
                lines = data.split(b"\n")
            rows = self._python_rows(first, lines, sorted(slow_lines), rejects)
            if rows:
                tables.append(pa.Table.from_pylist(rows, schema=lake.FILE_SCHEMA))
        if not tables:
            return _Mapped(None, rejects)
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        table, duplicates = self._dedupe(table)
        return _Mapped(table, rejects, duplicates)

    def _decode_lines(
        self, data: bytes, count: int
    ) -> tuple[list[Any], list[int], list[int], list[bytes] | None]:
        """msgspec structs of the lines it can type, their positions in the block, the other positions, and
        the split lines when they had to be decoded one by one (else None)."""
        decoder = _DECODERS[self.kind or "t1"]
        try:
            records = decoder.decode_lines(data)
            if len(records) == count:  # blank lines are skipped by decode_lines: positions would shift
                return records, list(range(count)), [], None
        except _DECODE_ERRORS:
            pass
        lines = data.split(b"\n")
        decode = decoder.decode
        records, positions, slow = [], [], []
        for index, line in enumerate(lines):
            try:
                records.append(decode(line))
                positions.append(index)
            except _DECODE_ERRORS:
                slow.append(index)
        return records, positions, slow, lines

    def _python_rows(
        self, first: int, lines: list[bytes], indexes: list[int], rejects: list[tuple[str, Any, str]]
    ) -> list[dict[str, Any]]:
        """The generic mapping and the lake's validator, for the lines the vectorized path left."""
        rows: list[dict[str, Any]] = []
        for index in indexes:
            location = f"{self.name}:{first + index}"
            for rec in map_line(lines[index], self.kind, self.keep, location):
                if isinstance(rec, Reject):
                    rejects.append((rec.reason, rec.record, rec.location))
                    continue
                row = self.validator(rec, self.fetched, self.run_id, SOURCE_NAME)
                if isinstance(row, str):
                    rejects.append((row, rec, location))
                else:
                    rows.append(row)
        return rows

    def _dedupe(self, table: pa.Table) -> tuple[pa.Table, int]:
        ids = table["post_id"]
        if pc.count_distinct(ids).as_py() == table.num_rows:
            return table, 0
        seen: set[str] = set()
        mask = []
        for post_id in ids.to_pylist():
            mask.append(post_id not in seen)
            seen.add(post_id)
        return table.filter(pa.array(mask)), mask.count(False)

    def _map_columns(self, col: dict[str, pa.Array]) -> tuple[pa.Table | None, list[int]]:
        """Map and validate typed columns; return the table and the rows (by position) left to Python."""
        comment = self.kind == "t1"
        created_arr = col["created_utc"]
        n = len(created_arr)
        text_raw = col["body"] if comment else col["selftext"]
        # Python's `top or meta`: an empty or missing top-level value defers to _meta
        removal = pc.coalesce(_nonempty(col["removal_type"]), col["meta_removal_type"])
        deleted_later = pc.or_(
            pc.fill_null(col["was_deleted_later"], False), pc.fill_null(col["meta_was_deleted_later"], False)
        )
        python = pc.invert(pc.is_finite(pc.fill_null(created_arr, 0.0)))
        if self.keep.subreddits is not None:
            subs = pc.utf8_lower(col["subreddit"])
            wanted = pc.fill_null(pc.is_in(subs, pa.array(sorted(self.keep.subreddits))), False)
        else:
            wanted = None
        finite = pc.if_else(pc.is_finite(pc.fill_null(created_arr, 0.0)), pc.fill_null(created_arr, 0.0), 0.0)
        micros = pc.cast(
            pc.round(pc.multiply(finite, 1_000_000.0), round_mode="half_to_even"),
            pa.int64(),
            safe=False,
        )
        if self.keep.since_micros is not None or self.keep.until_micros is not None:
            in_range = pa.array([True] * n)
            if self.keep.since_micros is not None:
                in_range = pc.and_(in_range, pc.greater_equal(micros, self.keep.since_micros))
            if self.keep.until_micros is not None:
                in_range = pc.and_(in_range, pc.less(micros, self.keep.until_micros))
            # unparseable times are kept for validation to judge, as in the generic filter
            in_range = pc.or_(in_range, pc.or_(pc.is_null(created_arr), python))
            wanted = in_range if wanted is None else pc.and_(wanted, in_range)

        prefix = "t1" if comment else "t3"
        names = col["name"]
        ids = _nonempty(col["id"])
        fullname = pc.if_else(
            pc.fill_null(pc.starts_with(names, prefix + "_"), False), names, _prefixed(prefix + "_", ids)
        )
        subreddit = _nonempty(col["subreddit"])
        community = pc.utf8_trim_whitespace(_prefixed("r/", pc.utf8_lower(subreddit)))
        community = _nonempty(community)
        author = col["author"]
        text = _null_where(
            text_raw,
            pc.or_(
                pc.equal(pc.utf8_length(text_raw), 0),
                pc.or_(_eq(text_raw, DELETED_TEXT), _eq(text_raw, REMOVED_TEXT)),
            ),
        )
        category = col["removed_by_category"]
        author_deletion = pc.fill_null(
            pc.is_in(category, pa.array(sorted(AUTHOR_DELETION_CATEGORIES))), False
        )
        is_deleted = pc.or_(
            pc.or_(_eq(text_raw, DELETED_TEXT), _eq(author, DELETED_TEXT)),
            pc.or_(pc.or_(author_deletion, _eq(removal, "deleted")), deleted_later),
        )
        category_removal = pc.and_(
            pc.fill_null(pc.greater(pc.utf8_length(category), 0), False), pc.invert(author_deletion)
        )
        type_removal = pc.and_(
            pc.fill_null(pc.greater(pc.utf8_length(removal), 0), False), pc.invert(_eq(removal, "deleted"))
        )
        is_removed = pc.or_(pc.or_(_eq(text_raw, REMOVED_TEXT), category_removal), type_removal)
        post_id = _prefixed("reddit:", fullname)
        null_str = pa.nulls(n, pa.string())
        if comment:
            parent = _nonempty(col["parent_id"])
            link = _nonempty(col["link_id"])
            kind = pa.array(["comment"] * n, pa.string())
            share_type, shared_id = null_str, null_str
            parent_id, root_id = _prefixed("reddit:", parent), _prefixed("reddit:", link)
            title, url = null_str, null_str
            reply_count, share_count = pa.nulls(n, pa.int64()), pa.nulls(n, pa.int64())
            python = pc.or_(python, pc.is_null(parent_id))
        else:
            cross = _nonempty(col["crosspost_parent"])
            is_share = pc.is_valid(cross)
            kind = pc.if_else(is_share, pa.scalar("share"), pa.scalar("post"))
            share_type = pc.if_else(is_share, pa.scalar("crosspost"), pa.scalar(None, pa.string()))
            shared_id = _prefixed("reddit:", cross)
            parent_id, root_id = null_str, post_id
            title = _nonempty(col["title"])
            is_self = pc.fill_null(col["is_self"], False)
            url = pc.if_else(is_self, pa.scalar(None, pa.string()), _nonempty(col["url"]))
            reply_count, share_count = col["num_comments"], col["num_crossposts"]
            python = pc.or_(python, col["has_originals"])
        text_len = pc.add(pc.fill_null(pc.utf8_length(text), 0), pc.fill_null(pc.utf8_length(title), 0))
        python = pc.or_(
            python,
            pc.or_(
                pc.or_(pc.is_null(post_id), pc.is_null(created_arr)),
                pc.or_(
                    pc.or_(
                        pc.less(micros, self.validator.min_micros),
                        pc.greater(micros, self.validator.max_micros),
                    ),
                    pc.greater(text_len, self.max_text),
                ),
            ),
        )
        # non-ASCII subreddit names: Python's and Arrow's lower-casing may differ, so Python decides
        non_ascii = pc.invert(pc.fill_null(pc.string_is_ascii(subreddit), True))
        if wanted is not None:
            python = pc.or_(pc.and_(python, wanted), non_ascii)
            selected = pc.and_(wanted, pc.invert(python))
        else:
            python = pc.or_(python, non_ascii)
            selected = pc.invert(python)
        python_rows = pc.indices_nonzero(python).to_pylist() if pc.any(python).as_py() else []
        if not pc.any(selected).as_py():
            return None, python_rows
        author_id = pc.if_else(
            pc.is_in(author, pa.array(sorted(lake.DELETED_AUTHORS))), pa.scalar(None, pa.string()), author
        )
        if self.pseudo is not None:
            author_id = self._pseudonymize(pc.filter(author_id, selected))
            author_name = pa.nulls(len(author_id), pa.string())
        else:
            author_id = pc.filter(author_id, selected)
            author_name = author_id
        kept = len(author_id)
        columns = {
            "post_id": post_id,
            "kind": kind,
            "share_type": share_type,
            "community": community,
            "parent_id": parent_id,
            "root_id": root_id,
            "shared_id": shared_id,
            "created_at": micros,
            "title": title,
            "text": text,
            "url": url,
            "score": col["score"],
            "reply_count": reply_count,
            "share_count": share_count,
            "is_deleted": is_deleted,
            "is_removed": is_removed,
        }
        arrays = {name: pc.filter(value, selected) for name, value in columns.items()}
        arrays["created_at"] = arrays["created_at"].cast(UTC_TS)
        arrays["author_id"] = author_id
        arrays["author_name"] = author_name
        arrays["lang"] = pa.nulls(kept, pa.string())
        arrays["fetched_at"] = pa.array([self.fetched] * kept, pa.int64()).cast(UTC_TS)
        arrays["run_id"] = pa.array([self.run_id] * kept, pa.string())
        arrays["source"] = pa.array([SOURCE_NAME] * kept, pa.string())
        table = pa.table([arrays[f.name] for f in lake.FILE_SCHEMA], schema=lake.FILE_SCHEMA)
        return table, python_rows

    def _pseudonymize(self, authors: pa.Array) -> pa.Array:
        assert self.pseudo is not None
        uniques = pc.unique(authors).drop_null()
        hashed = [self.pseudo(PLATFORM, a) for a in uniques.to_pylist()]
        if len(self.pseudo._cache) > 2_000_000:  # bounded memory on huge files
            self.pseudo._cache.clear()
        return pc.take(pa.array(hashed, pa.string()), pc.index_in(authors, uniques))


@dataclass
class _FastImport:
    settings: Settings
    path: Path
    run_id: str
    keep: DumpFilter
    progress: Callable[[int], None] | None = None
    block_bytes: int | None = None
    result: lake.IngestResult = field(init=False)

    def __post_init__(self) -> None:
        self.result = lake.IngestResult(source=SOURCE_NAME, run_id=self.run_id)
        key = lake.pseudonym_key(self.settings) if self.settings.get("privacy", "pseudonymize") else None
        self.mapper = _BlockMapper(
            self.settings, self.path.name, file_kind(self.path), self.keep, self.run_id,
            lake.to_micros(datetime.now(UTC)), key,
        )  # fmt: skip
        self.quarantine = lake.Quarantine(self.settings, SOURCE_NAME, self.run_id)
        self.writer = _PartitionWriter(self.settings, self.run_id)
        self.communities: Counter[str | None] = Counter()

    def run(self) -> lake.IngestResult:
        lake.remove_stale_temp_files(self.settings.posts_dir)
        report = ReadReport()
        try:
            blocks = _in_background(
                read_raw_blocks(self.path, report, self.block_bytes), f"read {self.path.name}"
            )
            for first, data, lines in blocks:
                block = self.mapper.map_block(first, data, lines)
                self._land(block)
                self.result.pages += 1
                if self.progress is not None:
                    self.progress(lines)
            if report.truncated:
                log.warning(
                    "%s is truncated: imported the %d complete lines before the cut", self.path, report.lines
                )
                reject = truncation_reject(self.path, report)
                self.quarantine.add(reject.reason, reject.record, reject.location)
            self.result.files = [str(p) for p in self.writer.commit()]
            self.quarantine.commit()
        except BaseException:
            self.writer.abort()
            raise
        self.result.quarantined = self.quarantine.count
        self.result.quarantine_reasons = dict(self.quarantine.reasons)
        counts = sorted(self.communities.items(), key=lambda kv: str(kv[0]))
        self.result.by_community = {PLATFORM: {c or "(none)": n for c, n in counts}} if counts else {}
        return self.result

    def _land(self, block: _Mapped) -> None:
        for reason, record, location in block.rejects:
            self.quarantine.add(reason, record, location)
        self.result.duplicates += block.duplicates
        table = block.table
        if table is None or not table.num_rows:
            return
        micros = pc.cast(table["created_at"], pa.int64())
        days = pc.divide(micros, pa.scalar(86_400_000_000, pa.int64())).combine_chunks()
        self.writer.add(table, days)
        self.result.rows += table.num_rows
        for entry in pc.value_counts(table["community"]).to_pylist():
            self.communities[entry["values"]] += entry["counts"]


# --------------------------------------------------------------------------------------------- entry point
def import_label(path: Path) -> str:
    """Stable run label of an input file: its name without extensions plus its size in bytes."""
    stem = path.name
    for suffix in (".zst", ".ndjson", ".jsonl", ".json"):
        stem = stem.removesuffix(suffix)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)
    return f"{stem}-{path.stat().st_size}"


def import_dump(
    settings: Settings,
    paths: Iterable[str | Path],
    subreddits: Iterable[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    fast: bool = True,
) -> list[lake.IngestResult]:
    """Import dump files into the lake, one ingest (and one run id) per file.

    Re-importing a file replaces what its earlier import wrote (same name and size, same run id), whatever the
    filters. ``fast=False`` runs the generic :func:`pipeline.lake.ingest` path instead of the vectorized one.
    """
    files = [Path(p) for p in paths]
    for path in files:
        if not path.is_file():
            raise ConfigError(f"reddit_dump: no such file: {path}")
    keep = DumpFilter.build(subreddits, since, until)
    results = []
    for path in files:
        run_id = lake.run_id_for(SOURCE_NAME, None, label=import_label(path))
        log.info("importing %s as %s", path, run_id)
        if fast:
            results.append(_FastImport(settings, path, run_id, keep, progress).run())
        else:
            options = {
                "paths": [str(path)],
                "subreddits": sorted(keep.subreddits) if keep.subreddits else None,
                "since": since,
                "until": until,
            }
            source = RedditDumpSource(settings)
            results.append(
                lake.ingest(source, settings, None, run_id=run_id, options=options, progress=progress)
            )
    return results
