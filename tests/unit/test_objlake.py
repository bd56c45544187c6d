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
    assert not set(second["removed"]) & set(keys(settings))  # superseded files are deleted after the commit


class NativeIdSource(ListSource):
    """Raw records carry the platform's own id (``id``), as the API sources' do; the mapper drops it."""

    def normalize(self, page: dict[str, Any]) -> Any:
        for rec in page["data"]["records"]:
            yield {k: v for k, v in rec.items() if k != "id"}


def test_purge_on_the_store_writes_new_files_and_supersedes_the_old(settings: Settings) -> None:
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
    assert all(not store.exists(p) for p in old)
    assert commits.uncommitted(store) == []
