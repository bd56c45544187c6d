"""The lake on an S3-compatible store (moto on loopback): manifests make every run's files visible at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest

from pipeline import commits, lake
from pipeline.config import Settings, load_settings
from pipeline.storage import Store
from tests.unit.test_lake import WINDOW, ListSource, post


@pytest.fixture
def settings(s3_bucket: str, tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", overrides={"lake": {"root": f"{s3_bucket}/lake1"}})


def keys(settings: Settings) -> list[str]:
    """Every object under the lake root, relative to it."""
    bucket, _, prefix = settings.lake_root.removeprefix("s3://").partition("/")
    listing = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
    return sorted(o["Key"][len(prefix) + 1 :] for o in listing.get("Contents", []))


def read_posts(settings: Settings) -> list[str]:
    """Post ids the way the build reads them: committed files only, through the registered filesystem."""
    if not lake.has_posts(settings):
        return []
    con = duckdb.connect()
    commits.attach(con, settings)
    rows = con.execute("select post_id from read_parquet($f) order by 1", {"f": lake.posts_source(settings)})
    return [r[0] for r in rows.fetchall()]


def manifests(settings: Settings) -> list[dict[str, Any]]:
    store = Store(settings.lake_root)
    return [json.loads(store.read_bytes(p)) for p in store.list(commits.COMMITS, ".json")]


def test_a_run_lands_posts_raw_and_quarantine_in_one_manifest(settings: Settings) -> None:
    result = lake.ingest(ListSource([[post("a"), post("b", score="bad")]]), settings, WINDOW)
    assert result.rows == 1 and result.quarantined == 1
    assert read_posts(settings) == ["test:a"]
    run_id = f"testsrc-{WINDOW.key()}"
    names = keys(settings)
    assert [k for k in names if k.startswith("lake/_commits/")] == [
        k for k in names if k.startswith("lake/_commits/") and run_id in k
    ]
    (doc,) = manifests(settings)
    added = [e["path"] for e in doc["added"]]
    assert sorted(added) == sorted(k for k in names if not k.startswith("lake/_commits/"))
    assert {a.split("/")[0] for a in added} == {"lake", "raw", "quarantine"}
    assert doc["removed"] == []
    assert "testing" not in json.dumps(doc)  # no credentials in a manifest
    quarantined = [f.path for f in lake.committed_files(settings, "quarantine")]
    assert len(quarantined) == 1
    record = json.loads(Store(settings.lake_root).read_bytes(quarantined[0]))
    assert record["reason"].startswith("wrong type for score")
    raw = lake.committed_files(settings, "raw")
    pages = list(lake.read_raw_pages(raw[0].path, Store(settings.lake_root)))
    assert [p["data"]["records"][0]["post_id"] for p in pages] == ["test:a"]
    # nothing of the lake on the local disk, and the spool is empty again
    assert not (settings.data_dir / "lake").exists() and not (settings.data_dir / "raw").exists()
    assert not [p for p in (settings.data_dir / "spool").rglob("*") if p.is_file()]


def test_committed_files_are_sorted_with_size_and_version(settings: Settings) -> None:
    lake.ingest(ListSource([[post("a"), post("b", created_at="2026-10-02T01:00:00Z")]]), settings, WINDOW)
    files = lake.committed_files(settings, "posts")
    assert [f.path for f in files] == sorted(f.path for f in files)
    assert [f.path.split("/")[-2] for f in files] == ["date=2026-10-01", "date=2026-10-02"]
    head = boto3.client("s3").head_object
    for f in files:
        bucket, _, key = f.path.removeprefix("s3://").partition("/")
        meta = head(Bucket=bucket, Key=key)
        assert (f.size, f.version) == (meta["ContentLength"], meta["ETag"].strip('"'))
    assert lake.committed_files(settings, "affect") == []


def test_a_crash_before_the_manifest_exposes_nothing_and_the_rerun_cleans_up(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake.ingest(ListSource([[post("a"), post("b", created_at="2026-10-02T01:00:00Z")]]), settings, WINDOW)
    before = keys(settings)

    def crash(self: commits.Commit, cleanup: Any = ()) -> None:
        raise KeyboardInterrupt("killed between the data files and the manifest")

    with monkeypatch.context() as m:
        m.setattr(commits.Commit, "publish", crash)
        with pytest.raises(KeyboardInterrupt):
            lake.ingest(ListSource([[post("z")]]), settings, WINDOW)
    left = sorted(set(keys(settings)) - set(before))
    assert left and all("lake/_commits" not in k for k in left)  # the new data files are there ...
    assert read_posts(settings) == ["test:a", "test:b"]  # ... and ignored
    assert commits.uncommitted(Store(settings.lake_root)) == [Store(settings.lake_root).join(k) for k in left]
    # the build reads committed files only
    from pipeline.warehouse import build

    build(settings)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    assert [r[0] for r in con.execute("select post_id from stg_posts order by 1").fetchall()] == [
        "test:a",
        "test:b",
    ]
    con.close()
    # the next attempt of the same run supersedes the first attempt's files and deletes the crashed one's
    lake.ingest(ListSource([[post("a"), post("c")]]), settings, WINDOW)
    assert read_posts(settings) == ["test:a", "test:c"]
    assert commits.uncommitted(Store(settings.lake_root)) == []
    assert not set(left) & set(keys(settings))
    second = manifests(settings)[-1]
    assert sorted(second["removed"]) == sorted(k for k in before if not k.startswith("lake/_commits/"))
    # superseded files stay for readers that listed the view just before (RETAIN_SECONDS), then go
    assert set(second["removed"]) <= set(keys(settings))
    assert commits.expire(Store(settings.lake_root)) == 0
    assert commits.expire(Store(settings.lake_root), retain=0) == len(second["removed"])
    assert not set(second["removed"]) & set(keys(settings))
    assert read_posts(settings) == ["test:a", "test:c"]


class NativeIdSource(ListSource):
    """Raw records carry the platform's own id (``id``), as the API sources' do; the mapper drops it."""

    def normalize(self, page: dict[str, Any]) -> Any:
        for rec in page["data"]["records"]:
            yield {k: v for k, v in rec.items() if k != "id"}


def test_purge_on_the_store_writes_new_files_and_supersedes_the_old(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.purge import purge

    pages = [[post("a", id="a"), post("b", id="b", text="gone soon")]]
    lake.ingest(NativeIdSource(pages), settings, WINDOW)
    later = [[post("b", id="b", is_deleted=True, text=None)]]
    lake.ingest(NativeIdSource(later), settings, WINDOW, run_id="testsrc-later")
    old = {f.path for f in lake.committed_files(settings, "posts") + lake.committed_files(settings, "raw")}
    report = purge(settings, rebuild=False)
    assert report["flagged_items"] == 1
    assert report["lake_rows"] == 2  # both fetches of b
    assert report["raw_objects"] == 2  # its object in both runs' raw pages
    assert read_posts(settings) == ["test:a"]
    new = {f.path for f in lake.committed_files(settings, "posts") + lake.committed_files(settings, "raw")}
    assert not old & new
    store = Store(settings.lake_root)
    raw = lake.committed_files(settings, "raw")
    text = json.dumps([page for f in raw for page in lake.read_raw_pages(f.path, store)])
    assert "gone soon" not in text and '"_purged": true' in text
    assert commits.uncommitted(store) == []
    assert all(store.exists(p) for p in old)  # until RETAIN_SECONDS have passed
    monkeypatch.setattr(commits, "RETAIN_SECONDS", 0.0)
    lake.ingest(NativeIdSource([[post("d", id="d")]]), settings, WINDOW, run_id="testsrc-next")  # any commit
    assert all(not store.exists(p) for p in old)
    assert read_posts(settings) == ["test:a", "test:d"]


def test_a_checkpoint_replaces_reading_every_manifest(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commits, "CHECKPOINT_EVERY", 3)
    store = commits.lake_store(settings)
    expected = set()
    for night in range(5):
        log = commits.Commit(store, f"demo-n{night}")
        rel = log.name(f"lake/posts/platform=x/date=2026-10-0{night + 1}", log.run_id, ".parquet")
        log.add_bytes(rel, b"night %d" % night)
        if night == 1:  # a re-run supersedes night 0's file
            log.supersede([r for r in expected if "demo-n0" in r])
            expected = {r for r in expected if "demo-n0" not in r}
        expected.add(rel)
        log.publish()
    names = [p.rsplit("/", 1)[-1] for p in store.list(commits.COMMITS, ".json")]
    (point,) = [n for n in names if n.startswith(commits.CHECKPOINT)]
    covered = json.loads(store.read_bytes(store.join(commits.COMMITS, point)))["covers"]
    assert len(covered) == 3
    assert set(commits.read_view(store)) == expected
    # a reader that starts afresh needs the checkpoint and the two later manifests only
    for name in covered:
        store.delete(store.join(commits.COMMITS, name))
    commits._manifests.clear()
    assert set(commits.read_view(store)) == expected
    # the checkpoint carries the superseded file whose deletion is not due yet
    assert [p for p in commits.superseded(store) if "demo-n0" in p] and store.list(
        "lake/posts/platform=x/date=2026-10-01"
    )
    assert commits.expire(store, retain=0) == 1
    assert store.list("lake/posts/platform=x/date=2026-10-01") == []
    assert [f.path for f in lake.committed_files(settings, "posts")] == sorted(
        store.join(r) for r in expected
    )


def test_vacuum_deletes_old_orphans_only(settings: Settings) -> None:
    store = commits.lake_store(settings)
    log = commits.Commit(store, "affect-1")
    kept = log.name("lake/affect/scorer=v1", "batch", ".parquet")
    log.add_bytes(kept, b"committed")
    log.publish()
    orphan = store.join("lake/affect/scorer=v1/dead-run.parquet")
    store.write_bytes(orphan, b"uploaded, never committed")
    assert commits.vacuum(store, "lake/affect/", ".parquet") == 0  # young: a run may be committing it now
    assert commits.vacuum(store, "lake/affect/", ".parquet", retain=0) == 1
    assert not store.exists(orphan) and store.exists(store.join(kept))
    assert [f.path for f in lake.committed_files(settings, "affect")] == [store.join(kept)]


def test_an_ingest_deletes_old_orphans_of_other_runs_too(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = commits.lake_store(settings)
    orphan = store.join("lake/posts/platform=test/date=2026-09-01/import-gone-0123456789ab.parquet")
    store.write_bytes(orphan, b"an import that died before its manifest and is never run again")
    lake.ingest(ListSource([[post("a")]]), settings, WINDOW)
    assert store.exists(orphan)  # young: it could be a run committing right now
    monkeypatch.setattr(commits, "RETAIN_SECONDS", 0.0)
    lake.ingest(ListSource([[post("b")]]), settings, WINDOW, run_id="testsrc-other")
    assert not store.exists(orphan)
    assert read_posts(settings) == ["test:a", "test:b"]


def test_affect_on_the_store_records_what_it_considered_and_reads_only_new_files(
    s3_bucket: str, tmp_path: Path
) -> None:
    from pipeline import affect

    settings = load_settings(
        data_dir=tmp_path / "data",
        overrides={"lake": {"root": f"{s3_bucket}/lake1"}, "affect": {"processes": 1}},
    )
    lake.ingest(
        ListSource([[post("a", text="I love this"), post("b", text="I hate this")]]), settings, WINDOW
    )
    first = affect.score_lake(settings)
    assert (first["whole_lake"], first["scored"], first["posts_files"]) == (True, 2, 1)
    record = json.loads((settings.state_dir / affect.CONSIDERED_RECORD).read_text())
    # lake files are named relative to the lake root, whatever the bucket
    assert list(record["posts"]) == [
        f.path.removeprefix(settings.lake_root + "/") for f in lake.committed_files(settings, "posts")
    ]
    assert all(key.startswith("lake/posts/") for key in record["posts"])
    assert [key.split("/")[1] for key in record["affect"]] == ["affect"]

    lake.ingest(ListSource([[post("c", text="what a day")]]), settings, WINDOW, run_id="testsrc-next")
    second = affect.score_lake(settings)
    assert (second["whole_lake"], second["posts_files_considered"], second["posts_files"]) == (False, 1, 2)
    assert (second["candidates"], second["scored"]) == (1, 1)
    scored = duckdb.connect()
    commits.attach(scored, settings)
    files = [f.path for f in lake.committed_files(settings, "affect")]
    rows = scored.execute("select post_id from read_parquet($f) order by 1", {"f": files}).fetchall()
    assert [r[0] for r in rows] == ["test:a", "test:b", "test:c"]
    assert affect.score_lake(settings)["posts_files_considered"] == 0
