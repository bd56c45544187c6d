"""Lake: validation and quarantine, atomic and idempotent writes, raw landing, pseudonymisation."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import lake
from pipeline.config import Settings, load_settings
from pipeline.errors import ConfigError
from pipeline.files import atomic_path, copy_file
from pipeline.pseudonyms import accept_new_key, fingerprint, key_fingerprint
from pipeline.schema import FILE_SCHEMA, POSTS_SCHEMA
from pipeline.sources.base import FetchContext, Reject, Window
from pipeline.state import state_for
from pipeline.validation import MAPPED_COLUMNS, Validator, to_micros

WINDOW = Window(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 3, tzinfo=UTC))


def post(native: str, **extra: Any) -> dict[str, Any]:
    rec = {
        "platform": "test",
        "post_id": f"test:{native}",
        "kind": "post",
        "community": "c/Main",
        "author_id": "alice",
        "author_name": "alice",
        "created_at": "2026-10-01T12:00:00Z",
        "title": "hello",
        "text": "a post",
        "score": 3,
    }
    rec.update(extra)
    return rec


class ListSource:
    """A source that lands the given pages of records; normalize passes records through."""

    name = "testsrc"
    platform = "test"
    lands_raw = True

    def __init__(self, pages: list[list[Any]], fail_after: int | None = None):
        self.pages = pages
        self.fail_after = fail_after

    def fetch(self, ctx: FetchContext) -> Iterator[dict[str, Any]]:
        start = ctx.cursor.get("next", 0)
        for i in range(start, len(self.pages)):
            if self.fail_after is not None and i >= self.fail_after:
                raise ConnectionError("connection dropped")
            yield {"request": {"page": i}, "data": {"records": self.pages[i]}}
            ctx.save_cursor(next=i + 1)

    def normalize(self, page: dict[str, Any]) -> Iterator[dict[str, Any] | Reject]:
        yield from page["data"]["records"]


def read_posts(settings: Settings) -> list[dict[str, Any]]:
    if not lake.has_posts(settings):
        return []
    glob = lake.posts_glob(settings)
    return (
        duckdb.sql(f"select * from read_parquet('{glob}', hive_partitioning = true) order by post_id")
        .to_arrow_table()
        .to_pylist()
    )


def read_quarantine(settings: Settings) -> list[dict[str, Any]]:
    path = settings.quarantine_dir / "testsrc" / f"testsrc-{WINDOW.key()}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({**post("x"), "post_id": None}, "missing post_id"),
        ({**post("x"), "post_id": "other:1"}, "does not start with 'test:'"),
        (post("x", created_at="yesterday-ish"), "unparseable created_at"),
        (post("x", created_at=None), "unparseable created_at"),
        (post("x", created_at="1970-01-02T00:00:00Z"), "created_at out of range"),
        (post("x", score="12"), "wrong type for score"),
        (post("x", score=True), "wrong type for score"),
        (post("x", text=123), "wrong type for text"),
        (post("x", is_deleted="no"), "wrong type for is_deleted"),
        (post("x", text="broken \udcff surrogate"), "invalid UTF-8 in text"),
        (post("x", text="y" * 50_001), "text over limit"),
        (post("x", kind="thread"), "invalid kind"),
        (post("x", kind="comment", parent_id=None), "comment without parent_id"),
        (post("x", kind="share", shared_id=None), "share without shared_id"),
        (post("x", kind="share", shared_id="test:y", share_type="like"), "invalid share_type"),
        (["not", "an", "object"], "record is a list"),
        (Reject("mapper said no", {"raw": 1}), "mapper said no"),
    ],
)
def test_each_bad_input_kind_is_quarantined_with_its_reason(tmp_path: Path, record: Any, reason: str) -> None:
    settings = load_settings(data_dir=tmp_path, overrides={"lake": {"max_text_chars": 50_000}})
    result = lake.ingest(ListSource([[post("good"), record]]), settings, WINDOW)
    assert result.rows == 1
    assert result.quarantined == 1
    rows = read_quarantine(settings)
    assert len(rows) == 1 and reason in rows[0]["reason"]
    assert rows[0]["source"] == "testsrc" and rows[0]["run_id"] == result.run_id
    assert [p["post_id"] for p in read_posts(settings)] == ["test:good"]


def test_a_page_the_mapper_cannot_read_is_quarantined_and_the_run_goes_on(tmp_path: Path) -> None:
    class Broken(ListSource):
        def normalize(self, page: dict[str, Any]) -> Iterator[dict[str, Any] | Reject]:
            if page["request"]["page"] == 0:
                raise KeyError("children")
            yield from super().normalize(page)

    settings = load_settings(data_dir=tmp_path)
    result = lake.ingest(Broken([[post("a")], [post("b")]]), settings, WINDOW)
    assert result.rows == 1 and result.quarantined == 1
    assert "unreadable page: KeyError" in read_quarantine(settings)[0]["reason"]


def test_partitions_are_hive_by_platform_and_created_date(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    records = [
        post("a"),
        post("b", created_at=1790899200.5),
        post("c", created_at=datetime(2026, 10, 2, 23, 59)),
    ]
    result = lake.ingest(ListSource([records]), settings, WINDOW)
    files = sorted(Path(f).relative_to(tmp_path).as_posix() for f in result.files)
    assert files == [
        f"lake/posts/platform=test/date=2026-10-01/testsrc-{WINDOW.key()}.parquet",
        f"lake/posts/platform=test/date=2026-10-02/testsrc-{WINDOW.key()}.parquet",
        f"raw/testsrc/date=2026-10-02/testsrc-{WINDOW.key()}.jsonl.zst",
    ]
    table = pq.read_table(tmp_path / files[0])
    assert table.schema.equals(FILE_SCHEMA)
    rows = read_posts(settings)
    assert {r["post_id"]: r["community"] for r in rows} == {
        "test:a": "c/main",
        "test:b": "c/main",
        "test:c": "c/main",
    }
    assert all(r["root_id"] == r["post_id"] for r in rows)  # posts are their own roots
    assert {f.name for f in POSTS_SCHEMA} <= set(rows[0])


def test_rerunning_a_window_replaces_its_files(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    lake.ingest(ListSource([[post("a"), post("b", created_at="2026-10-02T01:00:00Z")]]), settings, WINDOW)
    assert len(read_posts(settings)) == 2
    # same window again, and this time b moved to another day and c is new: still no duplicates, no stale file
    lake.ingest(ListSource([[post("a"), post("c")]]), settings, WINDOW)
    assert [r["post_id"] for r in read_posts(settings)] == ["test:a", "test:c"]
    assert not list((settings.posts_dir / "platform=test").glob("date=2026-10-02/*.parquet"))
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("*.partial"))


def test_a_failed_ingest_leaves_the_previous_files_untouched(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    lake.ingest(ListSource([[post("a")]]), settings, WINDOW)
    before = {p: p.read_bytes() for p in settings.posts_dir.rglob("*.parquet")}
    with pytest.raises(ConnectionError):
        lake.ingest(ListSource([[post("z")], [post("y")]], fail_after=1), settings, WINDOW)
    after = {p: p.read_bytes() for p in settings.posts_dir.rglob("*.parquet")}
    assert after == before
    assert not list(settings.posts_dir.rglob("*.tmp"))


def test_an_interrupted_ingest_resumes_from_landed_pages_without_duplicates(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    pages = [[post(f"p{i}_{j}") for j in range(3)] for i in range(5)]
    with pytest.raises(ConnectionError):
        lake.ingest(ListSource(pages, fail_after=3), settings, WINDOW)
    partial = next(settings.raw_dir.rglob("*.partial"))
    assert len(list(lake.read_raw_pages(partial))) == 3
    # a kill -9 while page 2 was being written: its frame is torn and the cursor still points at page 2
    data = partial.read_bytes()
    partial.write_bytes(data[:-7])
    state = state_for(settings, "testsrc")
    state.data["runs"][f"testsrc-{WINDOW.key()}"] = {"next": 2}
    state.save()
    source = ListSource(pages)
    fetched: list[int] = []
    original = source.fetch

    def spy(ctx: FetchContext) -> Iterator[dict[str, Any]]:
        for page in original(ctx):
            fetched.append(page["request"]["page"])
            yield page

    source.fetch = spy  # type: ignore[method-assign]
    result = lake.ingest(source, settings, WINDOW)
    assert result.resumed_pages == 2  # the torn page is dropped ...
    assert fetched == [2, 3, 4]  # ... and fetched again, with the rest, from the source's cursor
    ids = [r["post_id"] for r in read_posts(settings)]
    assert sorted(ids) == sorted(p["post_id"] for page in pages for p in page)
    raw = next(settings.raw_dir.rglob("*.jsonl.zst"))
    assert [p["request"]["page"] for p in lake.read_raw_pages(raw)] == [0, 1, 2, 3, 4]
    assert not list(settings.raw_dir.rglob("*.partial"))


def test_raw_pages_carry_provenance(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    result = lake.ingest(ListSource([[post("a")]]), settings, WINDOW)
    raw = next(settings.raw_dir.rglob("*.jsonl.zst"))
    (page,) = list(lake.read_raw_pages(raw))
    assert page["_source"] == "testsrc" and page["_run_id"] == result.run_id
    assert datetime.fromisoformat(page["_fetched_at"]) <= datetime.now(UTC)
    assert page["request"] == {"page": 0} and page["data"]["records"][0]["post_id"] == "test:a"
    assert stat.S_IMODE(os.stat(raw.parent).st_mode) == 0o700


def test_authors_are_pseudonymized_by_default(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    lake.ingest(
        ListSource([[post("a"), post("b", author_id="bob", author_name="Bob Real")]]), settings, WINDOW
    )
    rows = read_posts(settings)
    assert all(r["author_name"] is None for r in rows)
    assert all(r["author_id"].startswith("u_") and r["author_id"] not in ("alice", "bob") for r in rows)
    # nothing in the lake contains the raw names
    for path in settings.lake_dir.rglob("*.parquet"):
        blob = path.read_bytes()
        assert b"alice" not in blob and b"Bob Real" not in blob
    key = settings.state_dir / "pseudonym.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    # the key is stable: the same author gets the same id in a later run
    first = {r["post_id"]: r["author_id"] for r in rows}
    later = Window(WINDOW.until, WINDOW.until + timedelta(days=1))
    lake.ingest(ListSource([[post("c", created_at="2026-10-03T05:00:00Z")]]), settings, later)
    third = {r["post_id"]: r["author_id"] for r in read_posts(settings)}
    assert third["test:c"] == first["test:a"]


KEY_1 = "first-key-" + "1" * 32
KEY_2 = "second-key-" + "2" * 32


def test_pseudonym_key_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIPPLE_PSEUDONYM_KEY", KEY_1)
    settings = load_settings(data_dir=tmp_path)
    lake.ingest(ListSource([[post("a")]]), settings, WINDOW)
    first = read_posts(settings)[0]["author_id"]
    assert not (settings.state_dir / "pseudonym.key").exists()
    # the same key again: the same pseudonym
    lake.ingest(ListSource([[post("a")]]), settings, WINDOW)
    assert read_posts(settings)[0]["author_id"] == first


@pytest.mark.parametrize("key", ["k1", "x" * 31])
def test_a_short_pseudonym_key_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv("RIPPLE_PSEUDONYM_KEY", key)
    settings = load_settings(data_dir=tmp_path)
    with pytest.raises(ConfigError, match=f"is {len(key)} bytes; it must be at least 32"):
        lake.ingest(ListSource([[post("a")]]), settings, WINDOW)
    assert read_posts(settings) == []


def test_an_unreadable_key_file_stops_the_run(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    settings.state_dir.mkdir(parents=True)
    (settings.state_dir / "pseudonym.key").write_bytes(b"\xff\xfe" * 40)
    with pytest.raises(ConfigError, match="pseudonym.key is not text"):
        lake.ingest(ListSource([[post("a")]]), settings, WINDOW)
    assert read_posts(settings) == []


def test_a_changed_key_stops_the_run_and_rekey_refuses_over_old_pseudonyms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIPPLE_PSEUDONYM_KEY", KEY_1)
    settings = load_settings(data_dir=tmp_path)
    lake.ingest(ListSource([[post("a")]]), settings, WINDOW)
    before = read_posts(settings)
    recorded = json.loads((settings.state_dir / "pseudonym.json").read_text())
    assert recorded["fingerprint"] == fingerprint(KEY_1.encode()) == key_fingerprint(settings)
    assert KEY_1 not in json.dumps(recorded) and len(recorded["fingerprint"]) == 16

    monkeypatch.setenv("RIPPLE_PSEUDONYM_KEY", KEY_2)
    with pytest.raises(ConfigError, match="pseudonym key changed .*--rekey"):
        lake.ingest(ListSource([[post("a")]]), settings, WINDOW)
    with pytest.raises(ConfigError, match="--rekey refused"):
        lake.ingest(ListSource([[post("a")]]), settings, WINDOW, rekey=True)
    assert read_posts(settings) == before  # nothing in the lake changed

    # with the old pseudonyms moved aside, --rekey records the new key and runs go on with it
    settings.posts_dir.rename(tmp_path / "posts.old")
    lake.ingest(ListSource([[post("a")]]), settings, WINDOW, rekey=True)
    recorded = json.loads((settings.state_dir / "pseudonym.json").read_text())
    assert recorded["fingerprint"] == fingerprint(KEY_2.encode()) != fingerprint(KEY_1.encode())
    assert read_posts(settings)[0]["author_id"] != before[0]["author_id"]
    lake.ingest(ListSource([[post("a")]]), settings, WINDOW)  # the new key is now the lake's
    # with an empty lake, accepting a key only records it
    shutil.rmtree(settings.posts_dir)
    monkeypatch.setenv("RIPPLE_PSEUDONYM_KEY", KEY_1)
    assert accept_new_key(settings) == fingerprint(KEY_1.encode())


def test_raw_and_state_are_owner_only(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    # as an older version, or a checkpoint written before the first ingest, left them
    old_raw = settings.raw_dir / "testsrc" / "date=2026-09-01" / "old.jsonl.zst"
    checkpoint = settings.state_dir / "runs" / "run-1.json"
    for path in (old_raw, checkpoint):
        path.parent.mkdir(parents=True)
        path.write_text("{}")
        for loose in (path, path.parent, path.parent.parent):
            os.chmod(loose, 0o755 if loose.is_dir() else 0o644)
    lake.ingest(ListSource([[post("a")], [post("b")]]), settings, WINDOW)
    for top in (settings.raw_dir, settings.state_dir):
        assert stat.S_IMODE(top.stat().st_mode) == 0o700, top
        entries = list(top.rglob("*"))
        assert any(p.is_file() for p in entries), top
        for path in entries:
            expected = 0o700 if path.is_dir() else 0o600
            assert stat.S_IMODE(path.stat().st_mode) == expected, path
    assert (settings.raw_dir / "testsrc").is_dir() and (settings.state_dir / "pseudonym.key").is_file()


def test_raw_names_kept_only_when_pseudonymisation_is_off(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, overrides={"privacy": {"pseudonymize": False}})
    lake.ingest(ListSource([[post("a")]]), settings, WINDOW)
    row = read_posts(settings)[0]
    assert (row["author_id"], row["author_name"]) == ("alice", "alice")


def test_deleted_authors_have_no_id(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    lake.ingest(ListSource([[post("a", author_id="[deleted]", author_name="[deleted]")]]), settings, WINDOW)
    row = read_posts(settings)[0]
    assert row["author_id"] is None and row["author_name"] is None


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("range_copy", ["works", "refused", "missing"])
def test_copy_file_gives_the_same_bytes_however_the_kernel_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, range_copy: str
) -> None:
    source = tmp_path / "warehouse.duckdb"
    data = os.urandom(3 * 1024 * 1024 + 17)
    source.write_bytes(data)
    target = tmp_path / "copy.duckdb"
    target.write_bytes(b"x" * (len(data) + 4096))  # longer than the copy: must not leave a tail
    real = getattr(os, "copy_file_range", None)
    calls: list[int] = []

    def counted(src: int, dst: int, count: int) -> int:
        calls.append(count)
        if range_copy == "refused":
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real(src, dst, min(count, 1024 * 1024))  # the kernel may copy less than asked: go on

    if range_copy == "missing":
        monkeypatch.delattr(os, "copy_file_range", raising=False)
    elif real is None:
        pytest.skip("os.copy_file_range is not available here")
    else:
        monkeypatch.setattr(os, "copy_file_range", counted)
    copy_file(source, target)
    assert target.read_bytes() == data
    expected = {"works": 4, "refused": 1, "missing": 0}[range_copy]  # 3 MiB + 17 bytes in 1 MiB steps
    assert len(calls) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (1.5, 1_500_000),
        ("1790899200", 1_790_899_200_000_000),
        ("2026-10-02T00:00:00Z", 1_790_899_200_000_000),
        ("2026-10-02T02:00:00+02:00", 1_790_899_200_000_000),
        (datetime(2026, 10, 2), 1_790_899_200_000_000),
    ],
)
def test_timestamps_in_every_era_format(value: Any, expected: int) -> None:
    assert to_micros(value) == expected


def test_column_checks_accept_exactly_what_the_row_check_accepts(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, overrides={"privacy": {"pseudonymize": False}})
    validator = Validator(settings, "test", None)
    records = [
        post("ok"),
        post("upper", community="  C/Mixed "),
        post("gone", author_id=None, author_name="[deleted]"),
        post("name_only", author_id=None, author_name="carol"),
        post("empty_community", community="   "),
        post("non_ascii", community="c/Ärger"),
        post("comment", kind="comment", parent_id="test:ok", root_id="test:ok"),
        post("orphan", kind="comment", parent_id=None),
        post("share", kind="share", shared_id="test:ok", share_type="repost"),
        post("bad_share", kind="share", shared_id="test:ok", share_type="like"),
        post("unshared", kind="share", shared_id=""),
        {**post("x"), "post_id": "other:1"},
        post("thread", kind="thread"),
        post("old", created_at="1970-01-02T00:00:00Z"),
        post("long", text="y" * 50_001),
    ]
    rows = [{**rec, "is_deleted": False, "is_removed": False, "lang": None} for rec in records]
    columns = {name: [r.get(name) for r in rows] for name in MAPPED_COLUMNS}
    columns["created_at"] = [to_micros(r["created_at"]) for r in rows]
    arrays = {name: pa.array(values, FILE_SCHEMA.field(name).type if name != "created_at" else pa.int64())
              for name, values in columns.items()}  # fmt: skip
    checked = validator.table(arrays, pa.array([False] * len(rows)), 7, "r", "s")
    by_row = [validator(rec, 7, "r", "s") for rec in records]
    rejected = {i for i, row in enumerate(by_row) if isinstance(row, str)}
    assert rejected <= set(checked.undecided)
    assert set(checked.undecided) - rejected == {5}  # non-ASCII community: the row check lower-cases it
    accepted = checked.table.to_pylist()
    expected = [by_row[i] for i in range(len(rows)) if i not in checked.undecided]
    for got, want in zip(accepted, expected, strict=True):
        want = {k: v for k, v in want.items() if k not in ("platform", "created_at", "fetched_at")}
        assert {k: got[k] for k in want} == want
    assert [r["community"] for r in accepted[:2]] == ["c/main", "c/mixed"]
