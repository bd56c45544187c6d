"""``ripple stream bluesky``: a long-running Jetstream consumer that commits lake partitions as it goes.

It subscribes to ``[bluesky] jetstream_url`` for posts and reposts (``wantedCollections``), optionally only some
accounts (``jetstream_dids``, ``wantedDids``) and only posts containing a keyword (``jetstream_keywords``,
filtered here: Jetstream has no text filter). Events are mapped exactly as ``ripple import bluesky-jetstream``
maps them (:mod:`pipeline.sources.bluesky_jetstream`).

* **Commits**: the buffer becomes lake files every ``stream_commit_seconds``, whenever it holds
  ``stream_buffer`` events (so memory stays bounded whatever the firehose rate), and on exit. Each commit is two
  runs ``bluesky_stream-<first event>-<last event>-creates`` / ``-deletes``, as for an import.
* **Writer lock**: each commit holds the data directory's writer lock (:mod:`pipeline.locking`) only while it
  writes, so `ripple run`, the nightly DAG and the stream take turns. A periodic commit that finds the lock held
  is put off to the next tick (the events stay buffered); a commit of a full buffer, or the last one on the way
  out, waits up to ``lock_wait`` seconds and then stops the stream with the holder's name (exit code 75). Nothing
  is lost: the saved cursor only moves after a commit, and a restarted stream replays from it.
* **Cursor**: after each commit the newest ``time_us`` committed is saved in ``state/bluesky_stream.json``; a
  restarted process resumes from it (Jetstream replays from a cursor, the event at the cursor included). The
  last events received are remembered, so what a replay sends again is dropped, never duplicated.
* **Reconnects**: a dropped connection is retried with exponential backoff (1 s doubling up to
  ``stream_max_backoff_seconds``) from the newest event received, so nothing buffered is fetched twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from pipeline import lake
from pipeline.config import Settings
from pipeline.locking import LockBusy, writer_lock
from pipeline.sources.bluesky import POST_COLLECTION, REPOST_COLLECTION
from pipeline.sources.bluesky_jetstream import BlueskyJetstreamSource, classify, event_time, event_uri
from pipeline.state import state_for

log = logging.getLogger(__name__)

STATE_NAME = "bluesky_stream"
#: events remembered to drop the ones a replay from the cursor sends again
RECENT_LIMIT = 10_000


@dataclass
class StreamStats:
    received: int = 0
    kept: int = 0
    commits: int = 0
    reconnects: int = 0
    rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def subscribe_url(base: str, cursor: int | None, dids: list[str]) -> str:
    params: list[tuple[str, str]] = [
        ("wantedCollections", POST_COLLECTION),
        ("wantedCollections", REPOST_COLLECTION),
    ]
    params += [("wantedDids", did) for did in dids]
    if cursor is not None:
        params.append(("cursor", str(cursor)))
    return f"{base}{'&' if '?' in base else '?'}{urlencode(params)}"


class JetstreamConsumer:
    """Consumes Jetstream into the lake; see the module docstring. ``max_events`` stops after that many events
    (tests and smoke runs); otherwise it runs until cancelled or interrupted."""

    def __init__(
        self,
        settings: Settings,
        *,
        url: str | None = None,
        max_events: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        lock_wait: float = 3600.0,
    ):
        section = settings.bluesky
        self.settings = settings
        self.url = url or section.jetstream_url
        self.dids = [str(d) for d in section.jetstream_dids or []]
        self.keywords = [str(k).lower() for k in section.jetstream_keywords or []]
        self.commit_seconds = section.stream_commit_seconds
        self.buffer_limit = section.stream_buffer
        self.max_backoff = section.stream_max_backoff_seconds
        self.max_events = max_events
        self.lock_wait = lock_wait
        self.sleep = sleep
        self.clock = clock
        self.state = state_for(settings, STATE_NAME)
        self.buffer: list[dict[str, Any]] = []
        self.known: dict[str, dict[str, Any]] = {}
        self.last_seen: int | None = self.state.data["watermark"].get("cursor")
        self.recent: dict[tuple[Any, ...], None] = {}
        self.stats = StreamStats()

    # ------------------------------------------------------------------------------------------ events
    def wanted(self, event: dict[str, Any]) -> bool:
        """Posts matching a keyword (when keywords are set), their reposts and all deletes of both."""
        what = classify(event)
        if what not in ("post", "repost", "delete_post", "delete_repost"):
            return False
        if what == "post" and self.keywords:
            text = str((event["commit"].get("record") or {}).get("text") or "").lower()
            return any(k in text for k in self.keywords)
        return True

    def accept(self, raw: str | bytes) -> None:
        """One message from the socket: dropped when already seen, else counted and buffered if wanted."""
        try:
            event = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            log.warning("bluesky stream: a message that is not JSON was skipped")
            return
        micros = event.get("time_us") if isinstance(event, dict) else None
        if not isinstance(micros, int):
            return
        commit = event.get("commit") if isinstance(event.get("commit"), dict) else {}
        key = (event.get("did"), micros, event.get("kind"), commit.get("rkey"), commit.get("operation"))
        if key in self.recent:
            return
        self.recent[key] = None
        if len(self.recent) > RECENT_LIMIT:
            self.recent.pop(next(iter(self.recent)))
        self.last_seen = max(micros, self.last_seen or 0)
        self.stats.received += 1
        what = classify(event)
        self.stats.counts[what] = self.stats.counts.get(what, 0) + 1
        if self.wanted(event):
            self.buffer.append(event)
            self.stats.kept += 1

    # ------------------------------------------------------------------------------------------ commits
    def commit(self, wait: float | None = None) -> bool:
        """Write the buffer as lake files (creates, then deletes) and move the saved cursor past it, holding the
        writer lock meanwhile. ``wait=None`` (a periodic commit): when another writer holds the lock, the commit
        is put off (False). Else the lock is waited for up to ``wait`` seconds (:class:`LockBusy` after that)."""
        try:
            with writer_lock(self.settings, "ripple stream bluesky", wait=wait or 0.0):
                self._commit()
        except LockBusy:
            if wait is not None:
                raise
            log.info(
                "bluesky stream: the data directory is busy; %d events wait for the next commit",
                len(self.buffer),
            )
            return False
        return True

    def _commit(self) -> None:
        if not self.buffer:
            self._save_cursor()
            return
        events, self.buffer = self.buffer, []
        label = f"{events[0]['time_us']}-{events[-1]['time_us']}"
        creates, deletes = [], []
        for number, event in enumerate(events):
            page = {
                "request": {"stream": self.url, "index": number},
                "data": event,
                "_fetched_at": event_time(event, ""),
            }
            if classify(event).startswith("delete_"):
                page["known"] = self.known.get(event_uri(event))
                deletes.append(page)
            else:
                creates.append(page)
                BlueskyJetstreamSource.remember(self.known, event)
        for what, pages in (("creates", creates), ("deletes", deletes)):
            if pages:
                source = BlueskyJetstreamSource(self.settings)
                run_id = lake.run_id_for("bluesky_stream", None, label=f"{label}-{what}")
                self.stats.rows += lake.ingest(source, self.settings, None, run_id=run_id, pages=pages).rows
        self.stats.commits += 1
        self._save_cursor()
        log.info("bluesky stream: committed %d events (%s)", len(events), label)

    def _save_cursor(self) -> None:
        if self.last_seen is not None and not self.buffer:
            self.state.data["watermark"]["cursor"] = self.last_seen
            self.state.save()

    # ------------------------------------------------------------------------------------------ the loop
    async def run(self) -> StreamStats:
        """Consume until ``max_events`` (or forever); always commits what is buffered on the way out."""
        try:
            await self._consume()
        finally:
            self.commit(wait=self.lock_wait)
        return self.stats

    async def _consume(self) -> None:
        import websockets

        backoff = 1.0
        last_commit = self.clock()
        while not self._done():
            url = subscribe_url(self.url, self.last_seen, self.dids)
            try:
                async with websockets.connect(url, max_size=2**22, open_timeout=30) as socket:
                    backoff = 1.0
                    while not self._done():
                        timeout = max(self.commit_seconds - (self.clock() - last_commit), 0.01)
                        try:
                            message = await asyncio.wait_for(socket.recv(), timeout=timeout)
                        except TimeoutError:
                            message = None
                        if message is not None:
                            self.accept(message)
                        if len(self.buffer) >= self.buffer_limit:
                            self.commit(wait=self.lock_wait)  # memory stays bounded: wait for the lock
                            last_commit = self.clock()
                        elif self.clock() - last_commit >= self.commit_seconds:
                            self.commit()  # put off while another writer works
                            last_commit = self.clock()
            except (OSError, websockets.exceptions.WebSocketException) as exc:
                if self._done():
                    break
                self.stats.reconnects += 1
                log.warning("bluesky stream: connection lost (%s); reconnecting in %.0f s", exc, backoff)
                await self.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    def _done(self) -> bool:
        return self.max_events is not None and self.stats.received >= self.max_events


def stream(settings: Settings, max_events: int | None = None, lock_wait: float = 3600.0) -> StreamStats:
    """Run the consumer (``ripple stream bluesky``) until interrupted or ``max_events``."""
    consumer = JetstreamConsumer(settings, max_events=max_events, lock_wait=lock_wait)
    try:
        return asyncio.run(consumer.run())
    except KeyboardInterrupt:
        log.info("bluesky stream: interrupted; buffered events were committed")
        return consumer.stats
