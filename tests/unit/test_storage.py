"""pipeline.storage against a local directory and an S3-compatible server (moto on loopback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.storage import StorageError, Store, check, is_remote


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return Store(tmp_path / "root")
    bucket = request.getfixturevalue("s3_bucket")
    return Store(f"{bucket}/some/prefix")


def test_is_remote() -> None:
    assert is_remote("s3://bucket/prefix")
    assert is_remote("S3://bucket")
    assert not is_remote("/srv/data")
    assert not is_remote(Path("s3"))
    assert not is_remote(None)


def test_join_and_relative(store: Store) -> None:
    path = store.join("lake", "posts/platform=x", "a.parquet")
    assert path.endswith("/lake/posts/platform=x/a.parquet")
    assert path.startswith(store.root)
    assert store.relative(path) == "lake/posts/platform=x/a.parquet"
    assert (store.local_path(path) is None) == store.remote


def test_write_read_list_delete(store: Store) -> None:
    assert store.list("lake") == []
    assert not store.exists(store.join("lake", "a.bin"))
    store.write_bytes(store.join("lake", "b", "two.bin"), b"2")
    store.write_bytes(store.join("lake", "a.bin"), b"1")
    store.write_bytes(store.join("lake", "c.txt"), b"3")
    store.write_bytes(store.join("lake", "a.bin"), b"one")
    assert store.read_bytes(store.join("lake", "a.bin")) == b"one"
    assert store.size(store.join("lake", "a.bin")) == 3
    assert [store.relative(p) for p in store.list("lake", ".bin")] == ["lake/a.bin", "lake/b/two.bin"]
    store.delete(store.join("lake", "a.bin"))
    store.delete(store.join("lake", "a.bin"))  # missing: not an error
    assert [store.relative(p) for p in store.list("lake")] == ["lake/b/two.bin", "lake/c.txt"]
    with store.open(store.join("lake", "streamed.bin"), "wb") as fh:
        fh.write(b"abc")
    with store.open(store.join("lake", "streamed.bin"), "rb") as fh:
        assert fh.read() == b"abc"


def test_create_is_create_only(store: Store) -> None:
    path = store.join("_commits", "0001.json")
    assert store.create(path, b"first")
    assert not store.create(path, b"second")
    assert store.read_bytes(path) == b"first"


def test_replace_if_is_compare_and_swap(store: Store) -> None:
    path = store.join("state", "x.json")
    assert store.version(path) is None
    assert store.replace_if(path, b"v1", None)
    v1 = store.version(path)
    assert v1
    assert not store.replace_if(path, b"lost", None)  # exists already
    assert store.replace_if(path, b"v2", v1)
    assert store.read_bytes(path) == b"v2"
    v2 = store.version(path)
    assert v2 != v1
    assert not store.replace_if(path, b"stale writer", v1)
    assert store.read_bytes(path) == b"v2"


def test_local_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.write_bytes(store.join("a", "x"), b"1")
    store.create(store.join("a", "y"), b"2")
    store.create(store.join("a", "y"), b"3")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x", "y"]


def test_missing_bucket_is_one_line(s3_server: str) -> None:
    with pytest.raises(
        StorageError, match=r"^lake s3://no-such-bucket-x/p: bucket 'no-such-bucket-x' does not exist$"
    ):
        check(Store("s3://no-such-bucket-x/p"))


def test_unreachable_endpoint_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "secret-id-value")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-key-value")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(StorageError) as info:
        Store("s3://bucket-y/p").list("lake")
    assert str(info.value) == f"lake s3://bucket-y/p: cannot connect to http://127.0.0.1:{port}"
    assert "secret" not in str(info.value)


def test_stat_gives_size_and_the_version_replace_if_checks(store: Store) -> None:
    path = store.join("x.bin")
    assert store.stat(path) is None
    store.write_bytes(path, b"12345")
    size, version = store.stat(path)
    assert size == 5 and version == store.version(path)
    assert store.replace_if(path, b"6", version)
    assert store.stat(path)[0] == 1


def test_missing_credentials_are_one_line(
    s3_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(StorageError) as info:
        check(Store("s3://some-bucket/p"))
    assert str(info.value) == (
        "lake s3://some-bucket/p: no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    )


def test_list_dirs_names_the_directories_below_a_prefix(store: Store) -> None:
    assert store.list_dirs("lake") == []
    store.write_bytes(store.join("lake", "posts", "platform=x", "a.parquet"), b"1")
    store.write_bytes(store.join("lake", "demo", "t.parquet"), b"2")
    store.write_bytes(store.join("lake", "top.parquet"), b"3")
    assert [store.relative(d) for d in store.list_dirs("lake")] == ["lake/demo", "lake/posts"]


def test_delete_many_removes_what_exists_and_ignores_the_rest(store: Store) -> None:
    paths = [store.join("d", f"{i}.bin") for i in range(3)]
    for path in paths[:2]:
        store.write_bytes(path, b"x")
    store.write_bytes(store.join("d", "kept.bin"), b"k")
    store.delete_many(paths)
    store.delete_many([])
    assert [store.relative(p) for p in store.list("d")] == ["d/kept.bin"]
