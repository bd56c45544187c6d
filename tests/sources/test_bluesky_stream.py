"""``ripple stream bluesky`` against a loopback Jetstream that drops the connection once."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow.parquet as pq
import pytest
from bluesky_replay import realdata

from pipeline.config import load_settings
from pipeline.sources.bluesky_stream import JetstreamConsumer

websockets = pytest.importorskip("websockets")


def golden() -> list[dict[str, Any]]:
    path = realdata("bluesky_sdks", "jetstream_golden", "golden_v1.jsonl")
    events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted(events, key=lambda e: e["time_us"])  # a replay from a cursor is in time order


class Jetstream:
    """Serves events from ``cursor`` (inclusive, as Jetstream does); the first connection dies after ``drop_after``."""

    def __init__(self, events: list[dict[str, Any]], drop_after: int):
        self.events = events
        self.drop_after = drop_after
        self.queries: list[dict[str, list[str]]] = []

    async def handler(self, socket) -> None:
        query = parse_qs(urlsplit(socket.request.path).query)
        self.queries.append(query)
        cursor = int(query["cursor"][0]) if "cursor" in query else None
        todo = [e for e in self.events if cursor is None or e["time_us"] >= cursor]
        for number, event in enumerate(todo):
            if len(self.queries) == 1 and number == self.drop_after:
                socket.transport.abort()  # the connection drops without a close frame
                return
            await socket.send(json.dumps(event))
        await socket.wait_closed()


def consume(settings, events, drop_after, max_events):
    server = Jetstream(events, drop_after)
    sleeps: list[float] = []

    async def no_wait(seconds: float) -> None:
        sleeps.append(seconds)

    async def main():
        async with websockets.serve(server.handler, "127.0.0.1", 0) as ws:
            port = ws.sockets[0].getsockname()[1]
            consumer = JetstreamConsumer(
                settings, url=f"ws://127.0.0.1:{port}/subscribe", max_events=max_events, sleep=no_wait
            )
            return await asyncio.wait_for(consumer.run(), timeout=20)

    return asyncio.run(main()), server, sleeps


def lake_versions(settings) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(settings.posts_dir.glob("platform=bluesky/date=*/*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return load_settings(data_dir=tmp_path / "data", environ={}, overrides={"bluesky": {"stream_buffer": 1}})


def test_dropped_connection_resumes_from_the_cursor_without_loss_or_duplicates(settings):
    events = golden()
    stats, server, sleeps = consume(settings, events, drop_after=4, max_events=len(events))

    assert stats.received == len(events) and stats.reconnects == 1 and sleeps == [1.0]
    # the second connection asked for posts and reposts from the newest event received before the drop
    first, second = server.queries
    assert (
        first["wantedCollections"] == ["app.bsky.feed.post", "app.bsky.feed.repost"] and "cursor" not in first
    )
    assert second["cursor"] == [str(events[3]["time_us"])]
    # every post and repost once, the buffer bound (1 event) forcing a commit per kept event
    wanted = {
        f"bluesky:at://{e['did']}/{e['commit']['collection']}/{e['commit']['rkey']}"
        for e in events
        if e["kind"] == "commit" and e["commit"]["operation"] == "create"
        and e["commit"]["collection"] in ("app.bsky.feed.post", "app.bsky.feed.repost")
    }  # fmt: skip
    rows = lake_versions(settings)
    assert sorted(r["post_id"] for r in rows) == sorted(wanted) and len(wanted) == 2
    assert stats.commits == 2 and stats.kept == len(wanted)
    # the cursor of the last commit is the newest event
    state = json.loads((settings.state_dir / "bluesky_stream.json").read_text())
    assert state["watermark"]["cursor"] == events[-1]["time_us"]


def test_a_restart_resumes_from_the_saved_cursor(settings):
    events = golden()
    consume(settings, events, drop_after=len(events) + 1, max_events=5)
    saved = json.loads((settings.state_dir / "bluesky_stream.json").read_text())["watermark"]["cursor"]
    assert saved == events[4]["time_us"]
    stats, server, _ = consume(settings, events, drop_after=len(events) + 1, max_events=len(events) - 5)
    assert server.queries[0]["cursor"] == [str(saved)]
    assert stats.received == len(events) - 5  # the event at the cursor is sent again and dropped
    ids = [r["post_id"] for r in lake_versions(settings)]
    assert len(ids) == len(set(ids)) == 2


def test_each_commit_holds_the_writer_lock_only_while_it_writes(settings):
    from filelock import FileLock

    from pipeline.locking import LockBusy, lock_path

    consumer = JetstreamConsumer(settings, url="ws://127.0.0.1:9/subscribe", lock_wait=0.2)
    for event in golden():
        consumer.accept(json.dumps(event))
    buffered = len(consumer.buffer)
    assert buffered == 2
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    other = FileLock(str(lock_path(settings)))  # another writer (a lock of its own, as another process has)
    with other.acquire(timeout=0):
        # a periodic commit is put off: the events stay buffered, nothing is written, the cursor stays
        assert consumer.commit() is False
        assert len(consumer.buffer) == buffered and lake_versions(settings) == []
        assert not (settings.state_dir / "bluesky_stream.json").exists()
        # a commit that must happen (full buffer, exit) waits, then says who is in the way
        with pytest.raises(LockBusy, match="busy after waiting 0.2s"):
            consumer.commit(wait=0.2)
    assert consumer.commit() is True
    assert len(lake_versions(settings)) == 2 and consumer.buffer == []
    # the stream keeps no lock between commits: another writer gets it at once
    with other.acquire(timeout=0):
        pass
