"""Pushshift / Arctic Shift dumps: RC_ (comments) and RS_ (submissions) NDJSON files, ``.zst`` or plain.

The published ``.zst`` files are single zstd frames made with ``--long=31`` (a 2 GiB window), which most
readers refuse; they are read by the importers' shared reader (:mod:`pipeline.sources.imports`) with
``max_window_size=2**31``, streaming, so memory does not grow with the file (the decoder itself needs up to
min(2 GiB, decompressed size) for its window: that is the format, and ``zstd -d`` needs the same).

Two ways in, same rows out:

* :class:`RedditDumpSource` plugs into :func:`pipeline.lake.ingest` like any source (``lands_raw = False``:
  the dump already is the raw record). Pages are blocks of lines; ``normalize`` parses each line.
* :func:`import_dump` (what ``ripple import reddit-dump`` calls) runs a vectorized fast path by default: lines
  are decoded with msgspec into typed structs, mapped to Post columns with pyarrow (:func:`_map_columns`),
  checked by the lake's :meth:`pipeline.validation.Validator.table` and written by its
  :class:`pipeline.lake.PartitionWriter`. Any line the fast path is not certain about (unexpected types, a reason
  to reject it, crosspost originals) goes through the generic mapping and the row
  :class:`pipeline.validation.Validator`, so both paths give the same rows, rejects and reasons
  (tests/sources/test_reddit_dump.py checks it).

With a subreddit or author filter, both paths first look for the wanted names on the bytes of the lines
(:class:`BytePrefilter`, conservative: every line that could be wanted passes) and decode only those; a
malformed line that names no wanted subreddit or author is then skipped without being reported.

Bad input never stops an import: a malformed line is quarantined with ``file:line`` as its location; a
truncated file keeps every complete line read, logs a warning and quarantines one record saying where the
file ends and how many lines were read.
"""

from __future__ import annotations

import functools
import logging
import math
import operator
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import lake
from pipeline.config import Settings
from pipeline.schema import FILE_SCHEMA
from pipeline.sources.base import FetchContext, Reject
from pipeline.sources.imports import ReadReport, check_files, file_label, import_files, read_chunks
from pipeline.sources.reddit import (
    AUTHOR_DELETION_CATEGORIES,
    DELETED_TEXT,
    INT64_MAX,
    REMOVED_TEXT,
    map_record,
)
from pipeline.validation import to_micros

log = logging.getLogger(__name__)

SOURCE_NAME = "reddit_dump"
PLATFORM = "reddit"
PAGE_LINES = 10_000
BLOCK_BYTES = 16 << 20


# --------------------------------------------------------------------------------------------- reading
class _NewlineCounter:
    """``data.count(b"\\n")`` with numpy into a reused buffer: a third of the time, and without the GIL."""

    def __init__(self) -> None:
        self.flags = np.empty(0, np.bool_)

    def __call__(self, data: bytes) -> int:
        arr = np.frombuffer(data, np.uint8)
        if len(self.flags) < len(arr):
            self.flags = np.empty(len(arr) + len(arr) // 4, np.bool_)
        return int(np.count_nonzero(np.equal(arr, 10, out=self.flags[: len(arr)])))


def read_raw_blocks(
    path: Path, report: ReadReport, block_bytes: int | None = None
) -> Iterator[tuple[int, bytes, int]]:
    """(number of the first line, complete lines joined by newlines, number of lines) blocks.

    A block is about ``block_bytes`` of text. Lines are numbered from 1 and blank lines count. A last line
    without a newline is a block of its own, except at the end of a truncated .zst stream, where it is kept
    in ``report.tail`` instead.
    """
    block_bytes = block_bytes or BLOCK_BYTES
    chunks = read_chunks(path, report, block_bytes)
    count = _NewlineCounter()
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
        lines = count(data) + 1
        yield next_line, data, lines
        next_line += lines
    text = b"".join([carry, *buffered])
    cut = text.rfind(b"\n")
    if cut >= 0:
        data = text[:cut]
        lines = count(data) + 1
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


def read_chunk_groups(
    path: Path, report: ReadReport, block_bytes: int | None = None
) -> Iterator[list[bytes]]:
    """The decompressed chunks of ``path`` in groups of about ``block_bytes``, not joined (for
    :func:`filtered_lines`, which looks at each chunk on its own)."""
    block_bytes = block_bytes or BLOCK_BYTES
    group: list[bytes] = []
    size = 0
    for chunk in read_chunks(path, report, block_bytes):
        group.append(chunk)
        size += len(chunk)
        if size >= block_bytes:
            yield group
            group, size = [], 0
    if group:
        yield group


def filtered_lines(
    groups: Iterable[list[bytes]], prefilter: BytePrefilter, report: ReadReport
) -> Iterator[tuple[list[int], list[bytes], int]]:
    """Per group of chunks: the line numbers and the lines the pre-filter lets through, and how many lines were
    read. Lines are numbered as :func:`read_raw_blocks` numbers them (and the same tail rules apply), but
    chunks (about 1 MiB, which stays in the CPU cache) are searched one by one and never joined into blocks."""
    carry = b""
    next_line = 1
    flags = np.empty(0, np.bool_)
    for group in groups:
        numbers: list[int] = []
        kept: list[bytes] = []
        read = 0
        for chunk in group:
            text = carry + chunk if carry else chunk
            cut = text.rfind(b"\n")
            if cut < 0:
                carry = text
                continue
            if len(flags) < cut:
                flags = np.empty(cut + cut // 4, np.bool_)
            newlines = np.flatnonzero(np.equal(np.frombuffer(text, np.uint8, count=cut), 10, out=flags[:cut]))
            starts, lines = prefilter.select(text, cut)
            if starts:
                numbers.extend((next_line + np.searchsorted(newlines, starts)).tolist())
                kept.extend(lines)
            next_line += len(newlines) + 1
            read += len(newlines) + 1
            carry = text[cut + 1 :]
        yield numbers, kept, read
    if carry and report.truncated:
        report.tail = carry
    elif carry:
        starts, lines = prefilter.select(carry, len(carry))
        yield [next_line] * len(lines), lines, 1
        next_line += 1
    report.lines = next_line - 1


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
def _lower_names(names: Iterable[str] | None, prefix: str) -> frozenset[str] | None:
    if not names:
        return None
    out = frozenset(n.strip().removeprefix(prefix).lower() for n in names if n and n.strip())
    return out or None


@dataclass(frozen=True)
class DumpFilter:
    subreddits: frozenset[str] | None = None
    since_micros: int | None = None
    until_micros: int | None = None
    authors: frozenset[str] | None = None

    @staticmethod
    def build(
        subreddits: Iterable[str] | None, since: Any, until: Any, authors: Iterable[str] | None = None
    ) -> DumpFilter:
        return DumpFilter(
            _lower_names(subreddits, "r/"),
            to_micros(since) if since is not None else None,
            to_micros(until) if until is not None else None,
            _lower_names(authors, "u/"),
        )

    @property
    def active(self) -> bool:
        return (
            self.subreddits is not None
            or self.authors is not None
            or self.since_micros is not None
            or self.until_micros is not None
        )

    @functools.cached_property
    def prefilter(self) -> BytePrefilter | None:
        """The byte-level pre-filter of the name filters (None when there is none, or a name is not ASCII)."""
        scans = [_NameScan(names) for names in (self.subreddits, self.authors)
                 if names is not None and all(n.isascii() for n in names)]  # fmt: skip
        return BytePrefilter(scans) if scans else None

    def keeps(self, record: dict[str, Any]) -> bool:
        for key, names in (("subreddit", self.subreddits), ("author", self.authors)):
            if names is not None:
                value = record.get(key)
                if not isinstance(value, str) or value.lower() not in names:
                    return False
        if self.since_micros is not None or self.until_micros is not None:
            try:
                micros = to_micros(record.get("created_utc"))
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
            "authors": sorted(self.authors) if self.authors else None,
            "since_micros": self.since_micros,
            "until_micros": self.until_micros,
        }

    @staticmethod
    def from_dict(data: dict[str, Any] | None) -> DumpFilter:
        data = data or {}
        subs, authors = data.get("subreddits"), data.get("authors")
        return DumpFilter(
            frozenset(subs) if subs else None,
            data.get("since_micros"),
            data.get("until_micros"),
            frozenset(authors) if authors else None,
        )


# --------------------------------------------------------------------------------------------- byte pre-filter
# Lines are looked at as "folded" bytes: every byte OR 0x20, one numpy pass over a chunk. That maps A-Z to a-z
# (and a few other bytes onto each other, which only lets more lines through), the backslash to "|", and keeps
# the quote. A JSON string whose value lower-cases to a wanted ASCII name is, folded, a quote, then each
# character either as itself, as a \uXXXX escape of its upper or lower case (any hex case), as a short escape
# (\/ ...), or, for "k", as the Kelvin sign (U+212A, whose lower case is "k"), then a quote.
_KELVIN = "\u212a"
_SHORT_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t"}


def _fold(data: bytes) -> bytes:
    return np.bitwise_or(np.frombuffer(data, np.uint8), 0x20).tobytes()


def _char_forms(char: str) -> tuple[set[bytes], set[bytes]]:
    """The folded forms of one character of a wanted name: (escape forms, other forms)."""
    variants = {char, char.upper(), *([_KELVIN] if char == "k" else [])}
    escapes, others = set(), set()
    for variant in variants:
        escapes.add(_fold(f"\\u{ord(variant):04x}".encode()))
        if variant in _SHORT_ESCAPES:
            escapes.add(_fold(("\\" + _SHORT_ESCAPES[variant]).encode()))
        others.add(_fold(variant.encode()))
    return escapes, others


class _NameScan:
    """Where in folded bytes a JSON string equal to one of ``names`` (ASCII, lower case) may be."""

    def __init__(self, names: Iterable[str]):
        self.needles = [b'"' + _fold(name.encode()) + b'"' for name in sorted(names)]
        patterns, escapes = [], set()
        for name in sorted(names):
            parts = []
            for char in name:
                char_escapes, others = _char_forms(char)
                escapes |= char_escapes
                parts.append(b"(?:" + b"|".join(re.escape(f) for f in sorted(char_escapes | others)) + b")")
            patterns.append(b"".join(parts))
        self.exact = re.compile(b'"(?:' + b"|".join(patterns) + b')"')
        # escapes, folded: "|u" and four hex digits (as one big-endian uint32), or "|" and one character
        self.unicode_escapes = np.array(
            sorted(int.from_bytes(e[2:], "big") for e in escapes if len(e) == 6), np.uint32
        )
        self.short_escapes = np.array(sorted(e[1] for e in escapes if len(e) == 2), np.uint8)
        self.kelvin = any("k" in name for name in names)
        self.anchors: list[int] | None = None  # per needle, where its rarest byte is
        self._flags = np.empty(0, np.bool_)

    def positions(self, folded: bytearray, size: int) -> list[int]:
        """Positions in ``folded[:size]`` that may start or sit inside such a string: every folded
        ``"name"``, every escape that could stand for one of the names' characters, every Kelvin sign (for
        names with a "k")."""
        arr = np.frombuffer(folded, np.uint8, count=size)
        found = [self._escapes(arr)]
        if self.anchors is None:  # the bytes of each needle that are rarest in the first block
            counts = np.bincount(arr, minlength=256)
            self.anchors = [min(range(len(n)), key=lambda j, n=n: counts[n[j]]) for n in self.needles]
        for needle, anchor in zip(self.needles, self.anchors, strict=True):
            found.append(self._find_all(arr, needle, anchor))
        if self.kelvin:
            found.append(self._find_all(arr, b"\xe2\xa4\xaa", 1))
        return np.concatenate(found).tolist()

    def _find_all(self, arr: np.ndarray, needle: bytes, anchor: int) -> np.ndarray:
        """Every start of ``needle`` in ``arr``: where its byte at ``anchor`` is, then the other bytes checked
        at those places only (numpy, without the GIL; ``bytes.find`` holds it)."""
        if len(self._flags) < len(arr):
            self._flags = np.empty(len(arr) + len(arr) // 4, np.bool_)
        flags = self._flags[: len(arr)]
        np.equal(arr, needle[anchor], out=flags)
        starts = np.flatnonzero(flags) - anchor
        starts = starts[(starts >= 0) & (starts <= len(arr) - len(needle))]
        for offset, byte in enumerate(needle):
            if offset != anchor and len(starts):
                starts = starts[arr[starts + offset] == byte]
        return starts

    def _escapes(self, arr: np.ndarray) -> np.ndarray:
        """Positions of the escapes that could stand for a character of the names (numpy, no GIL)."""
        slashes = np.flatnonzero(arr[:-1] == ord("|"))  # a backslash, folded (or a "|": more lines only)
        found = slashes[np.isin(arr[slashes + 1], self.short_escapes)]
        slashes = slashes[(slashes < len(arr) - 5)]
        slashes = slashes[arr[slashes + 1] == ord("u")]
        if len(slashes):
            digits = arr[slashes[:, None] + np.arange(2, 6)].astype(np.uint32)
            codes = (digits[:, 0] << 24) | (digits[:, 1] << 16) | (digits[:, 2] << 8) | digits[:, 3]
            found = np.concatenate([found, slashes[np.isin(codes, self.unicode_escapes)]])
        return found

    def in_line(self, folded_line: bytes) -> bool:
        return self.exact.search(folded_line) is not None


class BytePrefilter:
    """The lines of a chunk that may be wanted by the subreddit and author filters, found on bytes.

    Conservative: a line whose decoded ``subreddit`` (``author``) lower-cases to a wanted name always passes;
    other lines may pass too (the name as another field's value, in an embedded crosspost original), and are
    dropped by the exact filter after decoding. Skipped lines are not decoded at all."""

    def __init__(self, scans: list[_NameScan]):
        self.scans = scans
        self._folded = bytearray()  # reused from chunk to chunk: fresh buffers cost page faults

    def may_keep(self, line: bytes) -> bool:
        folded = _fold(line)
        return all(scan.in_line(folded) for scan in self.scans)

    def select(self, data: bytes, size: int) -> tuple[list[int], list[bytes]]:
        """The byte offsets where the candidate lines of ``data[:size]`` start, and those lines."""
        if len(self._folded) < size:
            self._folded = bytearray(size + size // 4)
        folded = self._folded
        np.bitwise_or(
            np.frombuffer(data, np.uint8, count=size), 0x20, out=np.frombuffer(folded, np.uint8, count=size)
        )
        starts, lines = [], []
        last_end = -1
        for at in sorted(self.scans[0].positions(folded, size)):
            if at < last_end:
                continue  # in the line just looked at
            # newlines are looked for in the original bytes: folded, a newline is a "*"
            start = data.rfind(b"\n", 0, at) + 1
            end = data.find(b"\n", at, size)
            end = size if end < 0 else end
            last_end = end
            line = folded[start:end]
            if all(scan.in_line(line) for scan in self.scans):
                starts.append(start)
                lines.append(data[start:end])
        return starts, lines


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
        options = ctx.options
        keep = DumpFilter.build(
            options.get("subreddits"), options.get("since"), options.get("until"), options.get("authors")
        )
        for path in check_files(SOURCE_NAME, ctx.options.get("paths") or []):
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
        prefilter = keep.prefilter
        for index, line in enumerate(page.get("data") or []):
            if prefilter is None or prefilter.may_keep(line):
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


def _int_column(values: list[Any]) -> tuple[pa.Array, list[bool] | None]:
    """An int64 column, and which values were beyond int64 (None when none was)."""
    try:
        return pa.array(values, pa.int64()), None
    except (pa.ArrowInvalid, OverflowError):
        flags = [v is not None and not -INT64_MAX <= v <= INT64_MAX for v in values]
        return pa.array([None if f else v for v, f in zip(values, flags, strict=True)], pa.int64()), flags


def _record_columns(records: list[Any]) -> dict[str, pa.Array]:
    """Typed Arrow columns from msgspec structs, named as :func:`_map_columns` expects."""
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
            out[name], flags = _int_column(values)
            if flags is not None:
                big = flags if big is None else [a or b for a, b in zip(big, flags, strict=True)]
        else:
            out[name] = _strings(values)
    if big is not None:
        # a count beyond int64 is not a count (the generic mapping drops it): a null time routes it to Python
        out["created_utc"] = pc.if_else(pa.array(big), pa.scalar(None, pa.float64()), out["created_utc"])
    return out


# --------------------------------------------------------------------------------------------- column mapping
def _created_micros(created: pa.Array) -> pa.Array:
    """Epoch seconds -> int64 microseconds as :func:`pipeline.validation.to_micros` rounds them; null when not
    a finite number."""
    finite = pc.if_else(pc.fill_null(pc.is_finite(created), False), created, pa.scalar(None, pa.float64()))
    return pc.cast(
        pc.round(pc.multiply(finite, 1_000_000.0), round_mode="half_to_even"), pa.int64(), safe=False
    )


def _wanted(col: dict[str, pa.Array], keep: DumpFilter, micros: pa.Array) -> pa.Array | None:
    """The rows the filter keeps (None without a filter), as :meth:`DumpFilter.keeps` decides them. Rows it
    cannot judge column-wise (non-ASCII names, unreadable times) are kept for the row path to judge."""
    wanted = None
    for key, names in (("subreddit", keep.subreddits), ("author", keep.authors)):
        if names is not None:
            named = pc.fill_null(pc.is_in(pc.utf8_lower(col[key]), pa.array(sorted(names))), False)
            # Python's and Arrow's lower-casing may differ outside ASCII
            named = pc.or_(named, pc.invert(pc.fill_null(pc.string_is_ascii(col[key]), True)))
            wanted = named if wanted is None else pc.and_(wanted, named)
    if keep.since_micros is not None or keep.until_micros is not None:
        in_range = pa.array([True] * len(micros))
        if keep.since_micros is not None:
            in_range = pc.and_(in_range, pc.greater_equal(micros, keep.since_micros))
        if keep.until_micros is not None:
            in_range = pc.and_(in_range, pc.less(micros, keep.until_micros))
        in_range = pc.fill_null(in_range, True)  # unparseable times: validation quarantines them
        wanted = in_range if wanted is None else pc.and_(wanted, in_range)
    return wanted


def _deletion_flags(col: dict[str, pa.Array], text_raw: pa.Array) -> tuple[pa.Array, pa.Array]:
    """:func:`pipeline.sources.reddit.deletion_flags`, column-wise."""
    # Python's `top or meta`: an empty or missing top-level value defers to _meta
    removal = pc.coalesce(_nonempty(col["removal_type"]), col["meta_removal_type"])
    deleted_later = pc.or_(
        pc.fill_null(col["was_deleted_later"], False), pc.fill_null(col["meta_was_deleted_later"], False)
    )
    category = col["removed_by_category"]
    author_deletion = pc.fill_null(pc.is_in(category, pa.array(sorted(AUTHOR_DELETION_CATEGORIES))), False)
    is_deleted = pc.or_(
        pc.or_(_eq(text_raw, DELETED_TEXT), _eq(col["author"], DELETED_TEXT)),
        pc.or_(pc.or_(author_deletion, _eq(removal, "deleted")), deleted_later),
    )
    category_removal = pc.and_(
        pc.fill_null(pc.greater(pc.utf8_length(category), 0), False), pc.invert(author_deletion)
    )
    type_removal = pc.and_(
        pc.fill_null(pc.greater(pc.utf8_length(removal), 0), False), pc.invert(_eq(removal, "deleted"))
    )
    is_removed = pc.or_(pc.or_(_eq(text_raw, REMOVED_TEXT), category_removal), type_removal)
    return is_deleted, is_removed


def _kind_columns(col: dict[str, pa.Array], comment: bool, post_id: pa.Array) -> dict[str, pa.Array]:
    """The columns in which comments and submissions differ (:func:`map_comment` / :func:`map_submission`)."""
    n = len(post_id)
    null_str, null_int = pa.nulls(n, pa.string()), pa.nulls(n, pa.int64())
    if comment:
        return {
            "kind": pa.array(["comment"] * n, pa.string()), "share_type": null_str, "shared_id": null_str,
            "parent_id": _prefixed("reddit:", _nonempty(col["parent_id"])),
            "root_id": _prefixed("reddit:", _nonempty(col["link_id"])),
            "title": null_str, "url": null_str, "reply_count": null_int, "share_count": null_int,
        }  # fmt: skip
    cross = _nonempty(col["crosspost_parent"])
    is_share = pc.is_valid(cross)
    is_self = pc.fill_null(col["is_self"], False)
    return {
        "kind": pc.if_else(is_share, pa.scalar("share"), pa.scalar("post")),
        "share_type": pc.if_else(is_share, pa.scalar("crosspost"), pa.scalar(None, pa.string())),
        "shared_id": _prefixed("reddit:", cross), "parent_id": null_str, "root_id": post_id,
        "title": _nonempty(col["title"]),
        "url": pc.if_else(is_self, pa.scalar(None, pa.string()), _nonempty(col["url"])),
        "reply_count": col["num_comments"], "share_count": col["num_crossposts"],
    }  # fmt: skip


def _map_columns(
    col: dict[str, pa.Array], kind: str, keep: DumpFilter
) -> tuple[dict[str, pa.Array], pa.Array, pa.Array | None]:
    """The generic mapping (:func:`map_record`) over typed columns: Post columns for
    :meth:`pipeline.validation.Validator.table`, the rows the row path must map (unreadable times, crosspost
    originals), and the rows the filter keeps."""
    comment = kind == "t1"
    micros = _created_micros(col["created_utc"])
    undecided = pc.is_null(micros)
    if not comment:
        undecided = pc.or_(undecided, col["has_originals"])
    names, ids = col["name"], _nonempty(col["id"])
    fullname = pc.if_else(
        pc.fill_null(pc.starts_with(names, kind + "_"), False), names, _prefixed(kind + "_", ids)
    )
    post_id = _prefixed("reddit:", fullname)
    text_raw = col["body"] if comment else col["selftext"]
    text = _null_where(
        text_raw,
        pc.or_(
            pc.equal(pc.utf8_length(text_raw), 0),
            pc.or_(_eq(text_raw, DELETED_TEXT), _eq(text_raw, REMOVED_TEXT)),
        ),
    )
    is_deleted, is_removed = _deletion_flags(col, text_raw)
    author = _nonempty(col["author"])
    cols = {
        "post_id": post_id, "community": _prefixed("r/", pc.utf8_lower(_nonempty(col["subreddit"]))),
        "author_id": author, "author_name": author, "created_at": micros, "text": text,
        "lang": pa.nulls(len(micros), pa.string()), "score": col["score"],
        "is_deleted": is_deleted, "is_removed": is_removed, **_kind_columns(col, comment, post_id),
    }  # fmt: skip
    return cols, undecided, _wanted(col, keep, micros)


# --------------------------------------------------------------------------------------------- fast path
class _BlockMapper:
    """Lines -> lake rows and quarantine records, landed in the run (:class:`pipeline.lake.LakeRun`)."""

    def __init__(self, run: lake.LakeRun, name: str, kind: str | None, keep: DumpFilter, fetched: int):
        self.run = run
        self.name = name
        self.kind = kind
        self.keep = keep
        self.fetched = fetched

    def map_block(self, first: int, data: bytes, count: int) -> None:
        """The ``count`` lines ``first``.. of ``data`` (complete lines joined by newlines)."""
        self._map(data, count, first.__add__)

    def map_lines(self, numbers: list[int], lines: list[bytes]) -> None:
        """Some lines of the file, with their line numbers (those the byte pre-filter let through)."""
        self._map(b"\n".join(lines), len(lines), numbers.__getitem__)

    def _map(self, data: bytes, count: int, number: Callable[[int], int]) -> None:
        """``count`` lines joined by newlines; ``number(i)`` is the line number of the i-th in the file."""
        lines: list[bytes] | None = None  # split only when a line has to be looked at on its own
        tables: list[pa.Table] = []
        if self.kind is not None:
            records, positions, slow_lines, lines = self._decode_lines(data, count)
            if records:
                cols, undecided, wanted = _map_columns(_record_columns(records), self.kind, self.keep)
                run = self.run
                checked = run.validate.table(cols, undecided, self.fetched, run.run_id, SOURCE_NAME, wanted)
                if checked.table is not None and checked.table.num_rows:
                    tables.append(checked.table)
                slow_lines.extend(positions[i] for i in checked.undecided)
        else:
            slow_lines = list(range(count))
        if slow_lines:
            if lines is None:
                lines = data.split(b"\n")
            rows = self._python_rows(number, lines, sorted(slow_lines))
            if rows:
                tables.append(pa.Table.from_pylist(rows, schema=FILE_SCHEMA))
        if tables:
            self.run.writer.add_table(pa.concat_tables(tables) if len(tables) > 1 else tables[0], PLATFORM)

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
        self, number: Callable[[int], int], lines: list[bytes], indexes: list[int]
    ) -> list[dict[str, Any]]:
        """The generic mapping and the row validator, for the lines the column path left (``number`` gives the
        line number in the file of each); rejects are quarantined."""
        rows: list[dict[str, Any]] = []
        for index in indexes:
            location = f"{self.name}:{number(index)}"
            for rec in map_line(lines[index], self.kind, self.keep, location):
                row = self.run.check(rec, self.fetched, location)
                if row is not None:
                    rows.append(row)
        return rows


def _fast_import(
    settings: Settings, path: Path, run_id: str, keep: DumpFilter,
    progress: Callable[[int], None] | None = None, block_bytes: int | None = None,
) -> lake.IngestResult:  # fmt: skip
    """Import one dump file column-wise, through the lake's validator and partition writer."""
    run = lake.LakeRun(settings, SOURCE_NAME, PLATFORM, run_id)
    mapper = _BlockMapper(run, path.name, file_kind(path), keep, to_micros(datetime.now(UTC)))
    report = ReadReport()
    try:
        prefilter = keep.prefilter
        if prefilter is None:
            blocks = _in_background(read_raw_blocks(path, report, block_bytes), f"read {path.name}")
            for first, data, lines in blocks:
                mapper.map_block(first, data, lines)
                run.result.pages += 1
                if progress is not None:
                    progress(lines)
        else:
            groups = _in_background(read_chunk_groups(path, report, block_bytes), f"read {path.name}")
            for numbers, kept, lines in filtered_lines(groups, prefilter, report):
                if kept:
                    mapper.map_lines(numbers, kept)
                run.result.pages += 1
                if progress is not None:
                    progress(lines)
        if report.truncated:
            log.warning("%s is truncated: imported the %d complete lines before the cut", path, report.lines)
            reject = truncation_reject(path, report)
            run.quarantine.add(reject.reason, reject.record, reject.location)
        return run.commit()
    except BaseException:
        run.abort()
        raise


# --------------------------------------------------------------------------------------------- entry point
def import_label(path: Path) -> str:
    """Stable run label of an input file: its name without extensions plus its size in bytes."""
    return file_label(path, strip=(".zst", ".ndjson", ".jsonl", ".json"))


def import_dump(
    settings: Settings,
    paths: Iterable[str | Path],
    subreddits: Iterable[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    authors: Iterable[str] | None = None,
    fast: bool = True,
) -> list[lake.IngestResult]:
    """Import dump files into the lake, one ingest (and one run id) per file.

    Re-importing a file replaces what its earlier import wrote (same name and size, same run id), whatever the
    filters. ``fast=False`` runs the generic :func:`pipeline.lake.ingest` path instead of the vectorized one.
    """
    keep = DumpFilter.build(subreddits, since, until, authors)

    def import_one(path: Path, run_id: str) -> lake.IngestResult:
        if fast:
            return _fast_import(settings, path, run_id, keep, progress)
        options = {
            "paths": [str(path)],
            "subreddits": sorted(keep.subreddits) if keep.subreddits else None,
            "authors": sorted(keep.authors) if keep.authors else None,
            "since": since,
            "until": until,
        }
        source = RedditDumpSource(settings)
        return lake.ingest(source, settings, None, run_id=run_id, options=options, progress=progress)

    return import_files(SOURCE_NAME, paths, import_label, import_one)
