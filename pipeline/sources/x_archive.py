"""Import of X API v2 archives that researchers already hold (``ripple import x-archive FILE...``).

Recognised, line by line (``.jsonl``, also ``.gz`` / ``.zst`` compressed) or as one document (``.json``):

* twarc2 output: one raw v2 response page per line (``data``, ``includes``, ``meta``, ``errors``,
  ``__twarc``);
* flattened twarc output (``twarc2 flatten``): one tweet per line with its expansions inlined (``author``,
  ``referenced_tweets[].*``, recursively);
* stream output: ``{"data": {...tweet...}, "includes": ..., "matching_rules": ...}`` per line;
* plain v2 response pages (a ``.json`` file holding one page, a list of pages, or a bare list of tweets).

Every record goes through the same mapping as the live source (:func:`pipeline.sources.x.map_response`), so
tweets found only in ``includes.tweets`` (the parents and originals that make cascades whole) are ingested too
and partial ``errors`` are quarantined. A line that is not valid JSON is quarantined with its ``file:line``.

The input file already is the raw record, so nothing is re-landed (``lands_raw = False``). ``fetched_at`` is
when the data was retrieved from X (twarc's ``__twarc.retrieved_at``, else the file's modification time), not
the import time: an old archive must never override a newer live fetch of the same tweet in staging.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline import lake
from pipeline.config import Settings
from pipeline.sources.base import FetchContext, Reject
from pipeline.sources.imports import (
    ReadReport,
    check_files,
    import_files,
    inner_suffix,
    read_chunks,
    read_lines,
)
from pipeline.sources.x import PLATFORM, is_tweet, map_response
from pipeline.validation import to_micros

MAX_QUARANTINED_LINE = 2_000
_PAGE_KEYS = frozenset({"data", "includes", "errors", "meta"})
_FLATTEN_ONLY_KEYS = ("author", "in_reply_to_user", "__twarc", "matching_rules")


# -------------------------------------------------------------------------------------------- reading
def _retrieved_at(obj: Any, default: str) -> str:
    """twarc's record of when the page was fetched from X, when present and readable."""
    meta = obj.get("__twarc") if isinstance(obj, dict) else None
    value = meta.get("retrieved_at") if isinstance(meta, dict) else None
    if isinstance(value, str):
        try:
            to_micros(value)
        except (ValueError, TypeError, OverflowError):
            return default
        return value
    return default


def _record(path: Path, line: int | str, obj: Any, fetched_at: str) -> dict[str, Any]:
    return {
        "request": {"file": str(path), "line": line},
        "data": obj,
        "_location": f"{path}:{line}",
        "_fetched_at": _retrieved_at(obj, fetched_at),
    }


def _malformed(path: Path, line: int, error: str, text: str, fetched_at: str) -> dict[str, Any]:
    return {
        "request": {"file": str(path), "line": line},
        "data": None,
        "error": error,
        "text": text[:MAX_QUARANTINED_LINE],
        "_location": f"{path}:{line}",
        "_fetched_at": fetched_at,
    }


def _parse_lines(path: Path, lines: Iterable[bytes], fetched_at: str) -> Iterator[dict[str, Any]]:
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield _malformed(
                path, number, f"invalid UTF-8 ({exc.reason})", raw.decode("utf-8", "replace"), fetched_at
            )
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            yield _malformed(
                path, number, f"malformed JSON ({exc.msg} at column {exc.colno})", text, fetched_at
            )
            continue
        yield _record(path, number, obj, fetched_at)


def _truncated(path: Path, report: ReadReport, fetched_at: str) -> dict[str, Any]:
    error = (
        f"truncated file: {path.name} ends inside a compressed frame after {report.lines} complete lines; "
        "those lines were imported"
    )
    return _malformed(path, report.lines + 1, error, report.tail.decode("utf-8", "replace"), fetched_at)


def iter_archive(path: Path) -> Iterator[dict[str, Any]]:
    """The records of one archive file as pages for :meth:`XArchiveSource.normalize` (with ``_location``)."""
    fetched_at = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()
    report = ReadReport()
    if inner_suffix(path) != ".json":
        yield from _parse_lines(path, read_lines(path, report), fetched_at)
        if report.truncated:
            yield _truncated(path, report, fetched_at)
        return
    content = b"".join(read_chunks(path, report))
    if report.truncated:
        yield _truncated(path, report, fetched_at)
    # a .json file is one document (a page, a list of pages, a list of tweets); JSONL named .json also works
    try:
        document = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        yield from _parse_lines(path, content.splitlines(), fetched_at)
        return
    if isinstance(document, list) and document and not all(is_tweet(item) for item in document):
        for number, item in enumerate(document, start=1):
            yield _record(path, f"[{number}]", item, fetched_at)
    else:
        yield _record(path, 1, document, fetched_at)


# -------------------------------------------------------------------------------------------- mapping
def unflatten(tweet: dict[str, Any]) -> dict[str, Any]:
    """A flattened twarc tweet back as the v2 response page it came from: the tweet in ``data``, its inlined
    author in ``includes.users`` and its inlined referenced tweets (recursively) in ``includes.tweets``."""
    users: dict[str, dict[str, Any]] = {}
    tweets: dict[str, dict[str, Any]] = {}

    def visit(obj: dict[str, Any]) -> dict[str, Any]:
        clean = {k: v for k, v in obj.items() if k not in _FLATTEN_ONLY_KEYS}
        author = obj.get("author")
        if isinstance(author, dict) and author.get("id") is not None:
            users.setdefault(str(author["id"]), author)
        refs = obj.get("referenced_tweets")
        if isinstance(refs, list):
            plain = []
            for ref in refs:
                if not isinstance(ref, dict):
                    continue
                plain.append({"type": ref.get("type"), "id": ref.get("id")})
                inlined = {k: v for k, v in ref.items() if k != "type"}
                if is_tweet(inlined):
                    tweets.setdefault(str(inlined["id"]), visit(inlined))
            clean["referenced_tweets"] = plain
        return clean

    data = visit(tweet)
    return {"data": [data], "includes": {"users": list(users.values()), "tweets": list(tweets.values())}}


def map_archive_record(obj: Any, location: str | None = None) -> Iterator[dict[str, Any] | Reject]:
    """Posts of one archive record, whatever its format (see the module docstring)."""
    if isinstance(obj, dict) and _PAGE_KEYS & obj.keys():
        yield from map_response(obj, location)
    elif is_tweet(obj):
        yield from map_response(unflatten(obj), location)
    elif isinstance(obj, list) and all(is_tweet(item) for item in obj):
        yield from map_response({"data": obj}, location)
    elif isinstance(obj, list):
        for item in obj:
            yield from map_archive_record(item, location)
    else:
        keys = ", ".join(sorted(obj)[:8]) if isinstance(obj, dict) else type(obj).__name__
        yield Reject(f"not an X API v2 page or tweet ({keys})", obj, location)


# -------------------------------------------------------------------------------------------- source
class XArchiveSource:
    """Bulk import of X API v2 archive files listed in ``ctx.options["paths"]``."""

    name = "x_archive"
    platform = PLATFORM
    lands_raw = False

    def __init__(self, settings: Settings):
        self.settings = settings

    def fetch(self, ctx: FetchContext) -> Iterator[dict[str, Any]]:
        paths = ctx.options.get("paths") or []
        for path in check_files(self.name, [paths] if isinstance(paths, str | Path) else paths):
            yield from iter_archive(path)

    def normalize(self, page: dict[str, Any]) -> Iterator[dict[str, Any] | Reject]:
        location = page.get("_location")
        if page.get("data") is None and "error" in page:
            yield Reject(str(page["error"]), page.get("text"), location)
            return
        yield from map_archive_record(page.get("data"), location)


def archive_label(path: Path) -> str:
    """Run label of an archive file: its name and size, so re-importing the same file replaces its output."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", path.name).strip("._") or "archive"
    return f"{safe}-{path.stat().st_size}"


def import_archive(
    settings: Settings,
    paths: Iterable[str | Path],
    progress: Callable[[int], None] | None = None,
) -> list[lake.IngestResult]:
    """Import X archive files into the lake, one ingest (and one run id) per file."""

    def import_one(path: Path, run_id: str) -> lake.IngestResult:
        options = {"paths": [str(path)]}
        source = XArchiveSource(settings)
        return lake.ingest(source, settings, None, run_id=run_id, options=options, progress=progress)

    return import_files(XArchiveSource.name, paths, archive_label, import_one)
