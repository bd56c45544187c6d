"""Import of Bluesky Jetstream recordings (``ripple import bluesky-jetstream FILE...``).

Jetstream re-encodes the AT Protocol firehose as one JSON event per line; archivers record those lines as JSONL,
plain or zstd-compressed (``.zst``). The mapping is the live source's (:func:`pipeline.sources.bluesky.record_to_post`):

* a post create (``app.bsky.feed.post``) is a post, or a comment when its record has ``reply.parent``; a quote
  is a share (``share_type='quote'``) of the quoted post;
* a repost create (``app.bsky.feed.repost``) is a share (``share_type='repost'``) of its subject, with the real
  record id ``bluesky:at://<did>/app.bsky.feed.repost/<rkey>``;
* a delete of a post or a repost marks the item deleted (``is_deleted``); ``ripple purge`` then removes it;
* everything else is counted and skipped: likes, follows, blocks, profile updates, other collections, updates,
  and ``identity`` and ``account`` events.

Each file is imported as two runs: the creates, then the deletes. Inside one run the first version of an item
wins, so a delete must come from a later run to supersede the create it deletes (its ``fetched_at``, the
delete event's time, is later too). A delete carries no record, so the delete run re-reads the file and keeps
the creates it has seen (at most :data:`KNOWN_LIMIT`) to copy their links onto the deleted row; a delete of a
post not seen in the file becomes a bare deleted post dated by its record key, and a delete of an unseen repost
is counted and skipped (there is nothing to mark without its subject).

The input file already is the raw record, so nothing is re-landed (``lands_raw = False``).
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline import lake
from pipeline.config import Settings
from pipeline.schema import new_post
from pipeline.sources.base import FetchContext, Reject
from pipeline.sources.bluesky import (
    PLATFORM,
    POST_COLLECTION,
    REPOST_COLLECTION,
    record_to_post,
    repost_share,
    tid_time,
)
from pipeline.sources.imports import ReadReport, check_files, read_lines

log = logging.getLogger(__name__)

KNOWN_LIMIT = 500_000
MAX_QUARANTINED_LINE = 2_000
_LINKS = ("kind", "share_type", "parent_id", "root_id", "shared_id", "created_at", "author_id")
MAPPED_COLLECTIONS = (POST_COLLECTION, REPOST_COLLECTION)


# -------------------------------------------------------------------------------------------- reading
def event_time(event: dict[str, Any], default: str) -> str:
    """When Jetstream emitted the event (``time_us``), ISO 8601; ``default`` when absent."""
    micros = event.get("time_us")
    if isinstance(micros, int) and not isinstance(micros, bool) and micros > 0:
        return datetime.fromtimestamp(micros / 1_000_000, UTC).isoformat()
    return default


def iter_events(path: Path) -> Iterator[dict[str, Any]]:
    """Pages of one Jetstream file, one event per page (``data`` is the event, or None with ``error``)."""
    fetched_at = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()
    report = ReadReport()
    for number, raw in enumerate(read_lines(path, report), start=1):
        if not raw.strip():
            continue
        location = f"{path}:{number}"
        request = {"file": str(path), "line": number}
        try:
            event = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            text = raw.decode("utf-8", "replace")[:MAX_QUARANTINED_LINE]
            error = f"malformed JSON line ({type(exc).__name__})"
            yield {"request": request, "data": None, "error": error, "text": text,
                   "_location": location, "_fetched_at": fetched_at}  # fmt: skip
            continue
        at = event_time(event, fetched_at) if isinstance(event, dict) else fetched_at
        yield {"request": request, "data": event, "_location": location, "_fetched_at": at}
    if report.truncated:
        number = report.lines + 1
        error = (
            f"truncated file: {path.name} ends inside a compressed frame after {report.lines} complete lines"
        )
        yield {"request": {"file": str(path), "line": number}, "data": None, "error": error,
               "text": report.tail.decode("utf-8", "replace")[:MAX_QUARANTINED_LINE],
               "_location": f"{path}:{number}", "_fetched_at": fetched_at}  # fmt: skip


# -------------------------------------------------------------------------------------------- mapping
def classify(event: Any) -> str:
    """What an event is: ``post``, ``repost``, ``delete_post``, ``delete_repost`` (mapped) or the name it is
    counted under when skipped (``like``, ``follow``, ``identity``, ``update profile``, ...)."""
    if not isinstance(event, dict):
        return "not an object"
    kind = event.get("kind")
    commit = event.get("commit")
    if kind != "commit" or not isinstance(commit, dict):
        return str(kind or "unknown")
    collection, operation = str(commit.get("collection") or "?"), str(commit.get("operation") or "?")
    short = collection.rsplit(".", 1)[-1] if collection.startswith("app.bsky.") else collection
    if collection in MAPPED_COLLECTIONS and operation in ("create", "delete"):
        return f"delete_{short}" if operation == "delete" else short
    return short if operation == "create" else f"{operation} {short}"


def event_uri(event: dict[str, Any]) -> str:
    commit = event["commit"]
    return f"at://{event.get('did')}/{commit.get('collection')}/{commit.get('rkey')}"


def map_create(event: dict[str, Any]) -> dict[str, Any] | Reject:
    commit = event["commit"]
    record = commit.get("record")
    did = event.get("did")
    if not isinstance(record, dict) or not isinstance(did, str) or not commit.get("rkey"):
        return Reject("create event without did, rkey or record", event)
    uri = event_uri(event)
    if commit.get("collection") == POST_COLLECTION:
        return record_to_post(uri, did, record)
    subject = record.get("subject")
    subject_uri = subject.get("uri") if isinstance(subject, dict) else None
    if not isinstance(subject_uri, str) or not subject_uri.startswith("at://"):
        return Reject("repost without a subject uri", event)
    created = record.get("createdAt") or tid_time(commit.get("rkey"))
    return repost_share(subject_uri, did, created, post_id=f"bluesky:{uri}")


def map_delete(event: dict[str, Any], known: dict[str, Any] | None) -> dict[str, Any] | None:
    """The deleted row of a delete event: the links of the create when known, else a bare post."""
    commit = event["commit"]
    uri = event_uri(event)
    if known is None and commit.get("collection") != POST_COLLECTION:
        return None
    row = new_post(
        platform=PLATFORM,
        post_id=f"bluesky:{uri}",
        kind="post",
        author_id=event.get("did"),
        created_at=tid_time(commit.get("rkey")) or event_time(event, ""),
    )
    row.update(known or {})
    row.update(is_deleted=True, is_removed=False, text=None, url=None)
    return row


# -------------------------------------------------------------------------------------------- source
class BlueskyJetstreamSource:
    """Bulk import of the Jetstream files listed in ``ctx.options["paths"]``.

    ``ctx.options["pass"]`` is ``"creates"`` or ``"deletes"`` (see the module docstring). :attr:`counts`
    holds, after a fetch, how many events of each kind the files had.
    """

    name = "bluesky_jetstream"
    platform = PLATFORM
    lands_raw = False

    def __init__(self, settings: Settings):
        self.settings = settings
        self.counts: Counter[str] = Counter()

    def fetch(self, ctx: FetchContext) -> Iterator[dict[str, Any]]:
        paths = ctx.options.get("paths") or []
        deletes = ctx.options.get("pass") == "deletes"
        known: dict[str, dict[str, Any]] = {}
        for path in check_files(self.name, [paths] if isinstance(paths, str | Path) else paths):
            for page in iter_events(path):
                what = classify(page.get("data")) if page.get("data") is not None else "malformed"
                self.counts[what] += 1
                if what in ("post", "repost"):
                    if deletes:
                        self.remember(known, page["data"])
                        continue
                elif what.startswith("delete_") and deletes:
                    page["known"] = known.get(event_uri(page["data"]))
                elif what != "malformed" or deletes:
                    continue
                yield page

    @staticmethod
    def remember(known: dict[str, dict[str, Any]], event: dict[str, Any]) -> None:
        row = map_create(event)
        if isinstance(row, Reject):
            return
        if len(known) >= KNOWN_LIMIT:
            known.pop(next(iter(known)))
        known[event_uri(event)] = {k: row.get(k) for k in _LINKS}

    def normalize(self, page: dict[str, Any]) -> Iterator[dict[str, Any] | Reject]:
        location = page.get("_location")
        event = page.get("data")
        if event is None:
            yield Reject(str(page.get("error") or "empty line"), page.get("text"), location)
            return
        what = classify(event)
        if what in ("post", "repost"):
            yield map_create(event)
        elif what.startswith("delete_"):
            row = map_delete(event, page.get("known"))
            if row is not None:
                yield row


def import_label(path: Path, what: str) -> str:
    """Run label of a file and pass: re-importing the same file replaces its output."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", path.name).strip("._") or "jetstream"
    return f"{safe}-{path.stat().st_size}-{what}"


def import_jetstream(
    settings: Settings,
    paths: Iterable[str | Path],
    progress: Callable[[int], None] | None = None,
) -> tuple[list[lake.IngestResult], Counter[str]]:
    """Import Jetstream files: per file a run of its creates, then a run of its deletes.

    Returns the runs' results and how many events of each kind the files held (the skipped kinds included).
    """
    files = check_files(BlueskyJetstreamSource.name, paths)
    results, counts = [], Counter[str]()
    for path in files:
        for what in ("creates", "deletes"):
            source = BlueskyJetstreamSource(settings)
            run_id = lake.run_id_for(source.name, None, label=import_label(path, what))
            options = {"paths": [str(path)], "pass": what}
            results.append(
                lake.ingest(source, settings, None, run_id=run_id, options=options, progress=progress)
            )
            if what == "creates":
                counts.update(source.counts)
        log.info("bluesky_jetstream: %s: %s", path.name, summary(source.counts))
    return results, counts


def summary(counts: Counter[str]) -> str:
    mapped = ("post", "repost", "delete_post", "delete_repost")
    kept = ", ".join(f"{counts[k]} {k.replace('_', ' ')}" for k in mapped)
    skipped = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()) if k not in mapped)
    return f"{kept}; skipped: {skipped or 'none'}"
