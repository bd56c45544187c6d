"""Jetstream recordings imported: the real golden sample of bluesky-social/jetstream, plain and zstd."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
import zstandard
from bluesky_replay import realdata
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import load_settings
from pipeline.purge import flagged_post_ids
from pipeline.sources.bluesky_jetstream import import_jetstream

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return load_settings(data_dir=tmp_path / "data", environ={})


def golden() -> list[dict[str, Any]]:
    path = realdata("bluesky_sdks", "jetstream_golden", "golden_v1.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def lake_versions(settings) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(settings.posts_dir.glob("platform=bluesky/date=*/*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


def commits(events, collection, operation="create"):
    return [
        e for e in events
        if e["kind"] == "commit" and e["commit"]["collection"] == collection and e["commit"]["operation"] == operation
    ]  # fmt: skip


def test_golden_sample_imports_posts_and_reposts_and_counts_the_rest(settings):
    events = golden()
    path = realdata("bluesky_sdks", "jetstream_golden", "golden_v1.jsonl")
    runner = CliRunner()
    result = runner.invoke(
        app, ["import", "bluesky-jetstream", str(path), "--data-dir", str(settings.data_dir), "-q"]
    )
    assert result.exit_code == 0, result.output

    posts = commits(events, "app.bsky.feed.post")
    reposts = commits(events, "app.bsky.feed.repost")
    rows = {r["post_id"]: r for r in lake_versions(settings)}
    assert len(rows) == len(posts) + len(reposts) == 2
    for e in posts:
        uri = f"at://{e['did']}/app.bsky.feed.post/{e['commit']['rkey']}"
        row = rows["bluesky:" + uri]
        reply = e["commit"]["record"].get("reply")
        assert row["kind"] == ("comment" if reply else "post")
        assert row["parent_id"] == "bluesky:" + reply["parent"]["uri"]
        assert row["root_id"] == "bluesky:" + reply["root"]["uri"]
        assert (
            row["text"] == e["commit"]["record"]["text"] and row["lang"] == e["commit"]["record"]["langs"][0]
        )
    for e in reposts:
        row = rows[f"bluesky:at://{e['did']}/app.bsky.feed.repost/{e['commit']['rkey']}"]
        assert (row["kind"], row["share_type"]) == ("share", "repost")
        assert row["shared_id"] == "bluesky:" + e["commit"]["record"]["subject"]["uri"]
    # everything else is counted and skipped, and the command says so
    skipped = len(events) - len(posts) - len(reposts)
    assert skipped == 8
    output = " ".join(result.output.split())
    for word in ("1 like", "1 follow", "1 identity", "1 account", "1 block"):
        assert word in output
    assert "events: 1 post, 1 repost, 0 delete post, 0 delete repost" in output
    listed = output.split("skipped: ", 1)[1].split(" Ingested", 1)[0].split("┏", 1)[0]
    assert sum(int(part.split()[0]) for part in listed.split(", ")) == skipped


def test_deletes_mark_items_deleted_and_purge_finds_them(settings, tmp_path):
    events = golden()
    post = commits(events, "app.bsky.feed.post")[0]
    repost = commits(events, "app.bsky.feed.repost")[0]
    # the same file, later deletes of its post and repost appended (Jetstream's delete shape), and a broken line
    deletes = [
        {"did": e["did"], "time_us": e["time_us"] + 60_000_000, "kind": "commit",
         "commit": {"rev": "3mmoozzzzzzz2", "operation": "delete", "collection": e["commit"]["collection"],
                    "rkey": e["commit"]["rkey"]}}
        for e in (post, repost)
    ]  # fmt: skip
    lines = [json.dumps(e) for e in events + deletes] + ['{"did": "did:plc:broken", "kind": ']
    path = tmp_path / "jetstream.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(("\n".join(lines) + "\n").encode()))

    results, counts = import_jetstream(settings, [path])
    assert (
        counts["post"] == 1
        and counts["repost"] == 1
        and counts["delete_post"] == 1
        and counts["malformed"] == 1
    )
    assert [r.rows for r in results] == [2, 2] and results[0].quarantined == 1

    con = duckdb.connect()
    glob = str(settings.posts_dir / "platform=*" / "date=*" / "*.parquet")
    con.execute(f"create view src_posts as select * from read_parquet('{glob}', hive_partitioning = true)")
    con.execute(f"create table stg_posts as {(REPO / 'sql' / 'staging' / 'stg_posts.sql').read_text()}")
    got = dict(
        con.execute(
            "select post_id, (kind, parent_id, shared_id, is_deleted, text) from stg_posts"
        ).fetchall()
    )
    reply = post["commit"]["record"]["reply"]
    post_id = f"bluesky:at://{post['did']}/app.bsky.feed.post/{post['commit']['rkey']}"
    repost_id = f"bluesky:at://{repost['did']}/app.bsky.feed.repost/{repost['commit']['rkey']}"
    # the deleted comment keeps its place in the thread until purge removes it
    assert got[post_id] == ("comment", "bluesky:" + reply["parent"]["uri"], None, True, None)
    assert got[repost_id] == (
        "share",
        None,
        "bluesky:" + repost["commit"]["record"]["subject"]["uri"],
        True,
        None,
    )
    assert flagged_post_ids(settings) == {post_id, repost_id}


def test_registry_and_missing_files(settings, tmp_path):
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="^bluesky_jetstream: no such file: .*absent.jsonl$"):
        import_jetstream(settings, [tmp_path / "absent.jsonl"])
