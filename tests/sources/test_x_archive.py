"""Import of X API v2 archives (twarc2, flattened twarc, stream output, plain pages) from real data."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import networkx as nx
import pyarrow.parquet as pq
import pytest
import zstandard
from x_replay import realdata, spec_links, twarc_pages

from pipeline.config import load_settings
from pipeline.errors import ConfigError
from pipeline.schema import FILE_SCHEMA
from pipeline.sources.base import get_source
from pipeline.sources.x_archive import XArchiveSource, import_archive

COMPARED = [c for c in FILE_SCHEMA.names if c not in ("run_id",)]


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return load_settings(data_dir=tmp_path / "data", environ={})


def rows_of(settings, run_id: str | None = None) -> dict[str, dict[str, Any]]:
    """Lake rows by post_id (latest fetch wins, as in staging)."""
    rows: dict[str, dict[str, Any]] = {}
    pattern = f"platform=x/date=*/{run_id or '*'}.parquet"
    for path in sorted(settings.posts_dir.glob(pattern)):
        for row in pq.read_table(path).to_pylist():
            kept = rows.get(row["post_id"])
            if kept is None or row["fetched_at"] > kept["fetched_at"]:
                rows[row["post_id"]] = row
    return rows


def quarantine_of(settings, run_id: str) -> list[dict[str, Any]]:
    path = settings.quarantine_dir / "x_archive" / f"{run_id}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def as_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ------------------------------------------------------------------------------------------ twarc2 pages
def test_twarc_page_with_includes_becomes_posts(settings):
    path = realdata("twitter_twarc_csv", "brexit.jsonl")
    page = twarc_pages("brexit")[0]
    [result] = import_archive(settings, [path])

    assert result.run_id == f"x_archive-brexit.jsonl-{path.stat().st_size}"
    tweets = page["data"] + page["includes"]["tweets"]
    rows = rows_of(settings)
    assert {pid: (r["kind"], r["share_type"], r["parent_id"], r["shared_id"]) for pid, r in rows.items()} == (
        spec_links(tweets)
    )
    assert result.rows == 155 and result.quarantined == 0
    # fetched_at is when twarc retrieved the page, not the import time
    assert {r["fetched_at"] for r in rows.values()} == {as_utc(page["__twarc"]["retrieved_at"])}
    # nothing is re-landed: the archive itself is the raw record
    assert not settings.raw_dir.exists() or not any(settings.raw_dir.rglob("*"))

    again = import_archive(settings, [path])[0]
    assert again.run_id == result.run_id
    assert len(list(settings.posts_dir.glob("platform=x/date=*/*.parquet"))) == len(result.files)
    assert rows_of(settings).keys() == rows.keys()


def test_partial_errors_are_quarantined_with_their_location_and_threads_are_climbed(settings):
    path = realdata("twitter_twarc_csv", "entities_test.jsonl")
    page = twarc_pages("entities_test")[0]
    [result] = import_archive(settings, [path])
    quarantined = quarantine_of(settings, result.run_id)
    assert len(quarantined) == len(page["errors"]) == 11
    assert {q["location"] for q in quarantined} == {f"{path}:1"}
    assert sorted(json.dumps(q["record"], sort_keys=True) for q in quarantined) == sorted(
        json.dumps(e, sort_keys=True) for e in page["errors"]
    )

    # this page was collected without conversation_id: a reply's root is found by climbing its reply chain
    tweets = {t["id"]: t for t in page["data"] + page["includes"]["tweets"]}
    graph = nx.DiGraph()
    graph.add_nodes_from(tweets)
    for t in tweets.values():
        for ref in t.get("referenced_tweets", []):
            if ref["type"] == "replied_to" and ref["id"] in tweets:
                graph.add_edge(ref["id"], t["id"])
    rows = rows_of(settings)
    assert set(rows) == {"x:" + i for i in tweets}
    replies = [
        t for t in tweets.values() if any(r["type"] == "replied_to" for r in t.get("referenced_tweets", []))
    ]
    for t in replies:
        ancestors = nx.ancestors(graph, t["id"])
        top = next((a for a in ancestors if graph.in_degree(a) == 0), None)
        replies_to_something = top is not None and any(
            r["type"] == "replied_to" for r in tweets[top].get("referenced_tweets", [])
        )
        expected = None if top is None or replies_to_something else "x:" + top
        assert rows["x:" + t["id"]]["root_id"] == expected
    assert any(rows["x:" + t["id"]]["root_id"] for t in replies)
    assert any(rows["x:" + t["id"]]["root_id"] is None for t in replies)


# ------------------------------------------------------------------------------------------ flattened output
def test_flattened_and_raw_twarc_output_give_the_same_posts(settings):
    [flat] = import_archive(settings, [realdata("twitter_twarc_csv", "flat.jsonl")])
    [noflat] = import_archive(settings, [realdata("twitter_twarc_csv", "noflat.jsonl")])
    from_flat = rows_of(settings, flat.run_id)
    from_noflat = rows_of(settings, noflat.run_id)
    assert len(from_flat) == 164
    assert from_flat.keys() == from_noflat.keys()
    for post_id, row in from_flat.items():
        assert {c: row[c] for c in COMPARED} == {c: from_noflat[post_id][c] for c in COMPARED}, post_id
    # the raw page's one error (a suspended mentioned user) has no place in flattened output
    assert noflat.quarantine_reasons == {"api Forbidden": 1} and flat.quarantined == 0


# ------------------------------------------------------------------------------------------ stream output
def test_stream_output_keeps_good_lines_and_quarantines_the_malformed_one(settings):
    path = realdata("twitter_twarc_csv", "streaming_output_with_error.jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    good = []
    bad_lines = []
    for number, line in enumerate(lines, start=1):
        try:
            good.append(json.loads(line))
        except json.JSONDecodeError:
            bad_lines.append(number)
    [result] = import_archive(settings, [path])

    expected = {t["id"] for m in good for t in [m["data"], *m.get("includes", {}).get("tweets", [])]}
    assert set(rows_of(settings)) == {"x:" + i for i in expected}
    quarantined = quarantine_of(settings, result.run_id)
    assert [q["location"] for q in quarantined] == [f"{path}:{n}" for n in bad_lines] == [f"{path}:8"]
    assert quarantined[0]["reason"].startswith("malformed JSON")
    assert quarantined[0]["record"] == lines[7]
    assert result.quarantine_reasons == {"malformed JSON": 1}


# ------------------------------------------------------------------------------------------ plain pages
def hk3_pages(tmp_path: Path) -> tuple[list[Path], list[dict[str, Any]]]:
    """academictwitteR keeps each page as data_<id>.json + users_<id>.json: put them back together."""
    folder = realdata("twitter_academictwitteR", "hk3")
    paths, pages = [], []
    for data_file in sorted(folder.glob("data_*.json")):
        includes = json.loads((folder / data_file.name.replace("data_", "users_")).read_text())
        page = {"data": json.loads(data_file.read_text()), "includes": includes}
        out = tmp_path / "hk3" / f"page_{data_file.name[5:]}"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(page))
        paths.append(out)
        pages.append(page)
    return paths, pages


def test_hk3_reply_trees_have_the_depths_of_the_raw_data(settings, tmp_path):
    paths, pages = hk3_pages(tmp_path)
    results = import_archive(settings, paths)
    assert len(results) == 7 and len({r.run_id for r in results}) == 7

    # independently: the reply forest of the raw JSON (data and includes.tweets of every page)
    tweets = {t["id"]: t for p in pages for t in p["data"] + p["includes"].get("tweets", [])}
    forest = nx.DiGraph()
    forest.add_nodes_from(tweets)
    for t in tweets.values():
        refs = t.get("referenced_tweets")
        for ref in refs if isinstance(refs, list) else []:
            if ref["type"] == "replied_to" and ref["id"] in tweets:
                forest.add_edge(ref["id"], t["id"])
    assert nx.is_forest(forest)
    expected = {"x:" + n: len(nx.ancestors(forest, n)) for n in forest}

    # from the lake: follow parent_id while the parent is a landed row
    rows = rows_of(settings)
    assert rows.keys() == expected.keys()

    def depth(post_id: str) -> int:
        hops = 0
        while rows[post_id]["parent_id"] in rows:
            post_id = rows[post_id]["parent_id"]
            hops += 1
        return hops

    depths = {pid: depth(pid) for pid in rows}
    assert depths == expected
    assert max(depths.values()) >= 3 and sum(d >= 2 for d in depths.values()) > 10
    # a reply tree shares one root: the conversation of its first tweet
    for pid, row in rows.items():
        top = pid
        while rows[top]["parent_id"] in rows:
            top = rows[top]["parent_id"]
        assert row["root_id"] == rows[top]["root_id"]


def test_a_bare_list_of_tweets_is_a_page_without_includes(settings):
    folder = realdata("twitter_academictwitteR", "commtwitter")
    data_file = next(folder.glob("data_*.json"))
    [result] = import_archive(settings, [data_file])
    assert set(rows_of(settings)) == {"x:" + t["id"] for t in json.loads(data_file.read_text())}
    assert result.quarantined == 0


def test_compressed_archives_import_like_plain_ones(settings, tmp_path):
    path = realdata("twitter_twarc_csv", "brexit.jsonl")
    packed = tmp_path / "brexit.jsonl.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    [plain] = import_archive(settings, [path])
    [zipped] = import_archive(settings, [packed])
    a, b = rows_of(settings, plain.run_id), rows_of(settings, zipped.run_id)
    assert a.keys() == b.keys() and all(
        {c: a[k][c] for c in COMPARED} == {c: b[k][c] for c in COMPARED} for k in a
    )


def test_long_window_zst_archives_import_like_plain_ones_and_a_cut_one_says_where_it_ends(settings, tmp_path):
    path = realdata("twitter_twarc_csv", "brexit.jsonl")
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=31, enable_ldm=True)
    packed = tmp_path / "brexit.jsonl.zst"
    with (
        open(packed, "wb") as fh,
        zstandard.ZstdCompressor(compression_params=params).stream_writer(fh) as out,
    ):
        out.write(path.read_bytes())
    with pytest.raises(zstandard.ZstdError), open(packed, "rb") as fh:  # what a default reader makes of it
        zstandard.ZstdDecompressor().stream_reader(fh).read()
    [plain] = import_archive(settings, [path])
    [zstd] = import_archive(settings, [packed])
    a, b = rows_of(settings, plain.run_id), rows_of(settings, zstd.run_id)
    assert a.keys() == b.keys() and all(
        {c: a[k][c] for c in COMPARED} == {c: b[k][c] for c in COMPARED} for k in a
    )
    cut = tmp_path / "cut.jsonl.zst"
    cut.write_bytes(packed.read_bytes()[: packed.stat().st_size // 2])
    [result] = import_archive(settings, [cut])
    reasons = [q["reason"] for q in quarantine_of(settings, result.run_id)]
    assert reasons[-1].startswith("truncated file: cut.jsonl.zst ends inside a compressed frame after")


def test_an_empty_file_says_so(settings, tmp_path):
    empty = tmp_path / "empty.jsonl.gz"
    empty.write_bytes(gzip.compress(b""))
    with pytest.raises(ConfigError, match="empty.jsonl.gz is empty: nothing to import"):
        import_archive(settings, [empty])


def test_a_missing_file_stops_before_anything_is_imported(settings, tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        import_archive(settings, [realdata("twitter_twarc_csv", "brexit.jsonl"), tmp_path / "nope.jsonl"])
    assert not list(settings.posts_dir.glob("**/*.parquet"))


def test_registry_builds_the_archive_source(settings):
    source = get_source("x_archive", settings)
    assert isinstance(source, XArchiveSource) and source.platform == "x" and source.lands_raw is False
