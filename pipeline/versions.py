"""The published warehouse when the data directory is on an object store: immutable versions plus a pointer.

The warehouse is built on the build worker's local disk, as always. Publishing then

1. uploads the finished file as a new immutable object ``warehouse/versions/<version>.duckdb``; ``<version>`` is
   the UTC time of the publish plus the first 12 hex digits of the file's SHA-256
   (``20261205T020312123456Z-3f9a0c1b2d4e``), so versions sort by age and never collide;
2. moves the pointer ``warehouse/CURRENT`` (a small JSON object: version, object, size, sha256, when, run) to it
   with a compare-and-swap on the pointer's ETag (``If-Match``; create-only for the first publish). A reader
   sees the old version or the new one, never a half-uploaded file: the version object is complete before the
   pointer names it (a multipart upload becomes visible only once it completes);
3. deletes the versions older than the newest ``warehouse.keep_versions`` (never the current one), and DAG
   candidates (``warehouse/candidates/``) stashed more than two days ago by runs that never published.

Readers (``ripple sql``, ``shell``, ``status``, the report, alerts, the network export) on any machine read the
pointer and open the version it names from a local cache (``<warehouse.cache_dir>/<bucket>/<prefix>/versions/``),
downloaded once per version to a temporary name and renamed into place; the cache keeps the last 2 versions.

With a local data directory nothing changes: ``warehouse.duckdb`` is replaced with ``os.replace``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.errors import BuildError, RippleError
from pipeline.files import copy_file
from pipeline.shared import shared_root, store_of
from pipeline.storage import Store

log = logging.getLogger(__name__)

POINTER = "warehouse/CURRENT"
VERSIONS = "warehouse/versions"
CANDIDATES = "warehouse/candidates"
SUFFIX = ".duckdb"
#: cached versions a reader keeps
CACHE_KEEP = 2
#: pointer compare-and-swap attempts
POINTER_ATTEMPTS = 10
#: a stashed DAG candidate this old belongs to a run that never published (as warehouse.STALE_CANDIDATE_SECONDS)
STALE_CANDIDATE_SECONDS = 2 * 86_400


def data_store(settings: Settings) -> Store | None:
    """The store of the data directory when it is on an object store, else None."""
    root = shared_root(settings)
    return store_of(root) if root else None


def cache_dir(settings: Settings) -> Path:
    """Where this machine keeps downloaded versions of the data directory's warehouse."""
    return settings.data_dir / "versions"


# ------------------------------------------------------------------------------------------------ the pointer
def current(settings: Settings) -> dict[str, Any] | None:
    """The pointer record (None: nothing published yet, or a local data directory)."""
    store = data_store(settings)
    if store is None:
        return None
    record, _version = _pointer(store)
    return record


def _pointer(store: Store) -> tuple[dict[str, Any] | None, str | None]:
    path = store.join(POINTER)
    version = store.version(path)
    if version is None:
        return None, None
    try:
        record = json.loads(store.read_bytes(path))
    except FileNotFoundError:
        return None, None
    except ValueError:
        raise BuildError(f"{path} is not a warehouse pointer; publish again to replace it") from None
    return record, version


def current_version(settings: Settings) -> str | None:
    record = current(settings)
    return str(record["version"]) if record else None


def published(settings: Settings) -> bool:
    """Whether a warehouse is published (local file, or a pointer on the store)."""
    if data_store(settings) is None:
        return settings.warehouse_path.exists()
    return current(settings) is not None


def location(settings: Settings) -> str:
    """Where the published warehouse is, for messages."""
    store = data_store(settings)
    return store.join(POINTER) if store else str(settings.warehouse_path)


# ------------------------------------------------------------------------------------------------ publishing
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def new_version(sha256: str, now: datetime | None = None) -> str:
    """A sortable, unique version name: UTC time of the publish plus the start of the file's hash."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S%f}Z-{sha256[:12]}"


def publish_version(settings: Settings, candidate: Path, label: str | None = None) -> dict[str, Any]:
    """Upload ``candidate`` as a new version, point ``warehouse/CURRENT`` at it, prune old versions, and keep the
    file as this machine's local copy (``warehouse_path``) and cached version. Returns the pointer record."""
    store = data_store(settings)
    assert store is not None, "publish_version needs a data directory on an object store"
    sha256 = _sha256(candidate)
    version = new_version(sha256)
    obj = f"{VERSIONS}/{version}{SUFFIX}"
    store.fs.put_file(str(candidate), store.join(obj))
    record = {
        "version": version,
        "object": obj,
        "size": candidate.stat().st_size,
        "sha256": sha256,
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run": label,
    }
    _move_pointer(store, record)
    cached = _cached_path(settings, version)
    cached.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.link(candidate, cached)
    os.replace(candidate, settings.warehouse_path)
    _marker(settings).write_text(version)
    prune_versions(settings, store)
    prune_candidates(store, older_than=STALE_CANDIDATE_SECONDS)
    _prune_cache(settings, keep=cached)
    return record


def _move_pointer(store: Store, record: dict[str, Any]) -> None:
    """Compare-and-swap the pointer to ``record``; a newer version published meanwhile is never replaced by an
    older one."""
    path = store.join(POINTER)
    data = json.dumps(record, indent=1, sort_keys=True).encode()
    for attempt in range(POINTER_ATTEMPTS):
        old, etag = _pointer(store)
        if old is not None and str(old.get("version", "")) > record["version"]:
            raise RippleError(
                f"{path} already names a newer warehouse ({old['version']}) than this build's "
                f"({record['version']}); this build was not published"
            )
        if store.replace_if(path, data, etag):
            return
        time.sleep(min(0.05 * 2**attempt, 1.0))
    raise RippleError(f"{path} kept changing while this build was published; publish again")


def prune_versions(settings: Settings, store: Store) -> list[str]:
    """Delete versions older than the newest ``warehouse.keep_versions``; never the current one."""
    names = store.list(VERSIONS, SUFFIX)
    record, _etag = _pointer(store)
    keep = set(sorted(names)[-settings.warehouse.keep_versions :])
    if record:
        keep.add(store.join(record["object"]))
    removed = [name for name in names if name not in keep]
    for name in removed:
        store.delete(name)
    return removed


# ------------------------------------------------------------------------------------------------ readers
def _cached_path(settings: Settings, version: str) -> Path:
    return cache_dir(settings) / f"{version}{SUFFIX}"


def published_path(settings: Settings) -> Path:
    """The file a reader opens: ``warehouse.duckdb`` on a local data directory; on an object store, the cached
    copy of the current version (downloaded once; raises :class:`BuildError` when nothing is published)."""
    store = data_store(settings)
    if store is None:
        return settings.warehouse_path
    record = current(settings)
    if record is None:
        raise BuildError(f"no warehouse at {store.join(POINTER)}: run `ripple run` or `ripple build` first")
    path = _cached_path(settings, str(record["version"]))
    if not path.exists():
        _download(store, record, path)
        _prune_cache(settings, keep=path)
    return path


def _download(store: Store, record: dict[str, Any], path: Path) -> None:
    """Download a version to a temporary name next to ``path``, check its size, rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        try:
            store.fs.get_file(store.join(record["object"]), tmp)
        except FileNotFoundError:
            raise BuildError(
                f"warehouse version {record['version']} is gone from {store.root} (pruned by a newer publish); "
                "run the command again"
            ) from None
        size = os.path.getsize(tmp)
        if size != int(record.get("size", size)):
            raise BuildError(
                f"warehouse version {record['version']}: downloaded {size} bytes, expected {record['size']}"
            )
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    log.info("downloaded %s (%d bytes)", store.join(record["object"]), record.get("size", 0))


def _prune_cache(settings: Settings, keep: Path) -> None:
    """Keep the newest :data:`CACHE_KEEP` cached versions (and ``keep``); remove the older ones."""
    cached = sorted(cache_dir(settings).glob(f"*{SUFFIX}"))
    for path in cached[:-CACHE_KEEP]:
        if path != keep:
            path.unlink(missing_ok=True)


def _marker(settings: Settings) -> Path:
    return settings.warehouse_path.with_name(settings.warehouse_path.name + ".version")


def sync_local_copy(settings: Settings) -> None:
    """Make this machine's ``warehouse_path`` the current version (a build reads the previous warehouse; the last
    build may have run on another worker). A no-op on a local data directory or before the first publish."""
    record = current(settings)
    if record is None:
        return
    marker = _marker(settings)
    if settings.warehouse_path.exists() and marker.exists() and marker.read_text() == record["version"]:
        return
    source = published_path(settings)
    fd, tmp = tempfile.mkstemp(prefix=".warehouse.", suffix=".tmp", dir=settings.warehouse_path.parent)
    os.close(fd)
    try:
        copy_file(source, tmp)
        os.replace(tmp, settings.warehouse_path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    marker.write_text(str(record["version"]))


# ------------------------------------------------------------------------------------------------ DAG candidates
def _candidate_object(label: str) -> str:
    return f"{CANDIDATES}/{label}{SUFFIX}"


def _sidecar(candidate: Path) -> Path:
    return candidate.with_name(candidate.name + ".etag")


def stash_candidate(settings: Settings, candidate: Path, label: str) -> bool:
    """Upload a DAG run's candidate (``warehouse/candidates/<label>.duckdb``), so that its explain and publish
    tasks find it whichever worker runs them. False on a local data directory (nothing to do)."""
    store = data_store(settings)
    if store is None:
        return False
    target = store.join(_candidate_object(label))
    store.fs.put_file(str(candidate), target)
    _sidecar(candidate).write_text(store.version(target) or "")
    return True


def sync_candidate(settings: Settings, candidate: Path, label: str) -> bool:
    """Whether the run's candidate is at ``candidate``. On an object store the stashed candidate is the one that
    counts (explain may have changed it on another worker): it is downloaded unless this worker holds that very
    upload already. False when there is none."""
    store = data_store(settings)
    if store is None:
        return candidate.exists()
    source = store.join(_candidate_object(label))
    version = store.version(source)
    if version is None:
        return False
    sidecar = _sidecar(candidate)
    if candidate.exists() and sidecar.exists() and sidecar.read_text() == version:
        return True
    _download(
        store, {"object": _candidate_object(label), "version": label, "size": store.size(source)}, candidate
    )
    sidecar.write_text(version)
    return True


def drop_candidate(settings: Settings, candidate: Path, label: str) -> None:
    """Forget a published candidate: the stashed object and this worker's note of it."""
    _sidecar(candidate).unlink(missing_ok=True)
    store = data_store(settings)
    if store is not None:
        store.delete(store.join(_candidate_object(label)))


def prune_candidates(store: Store, older_than: float) -> list[str]:
    """Delete stashed candidates older than ``older_than`` seconds (DAG runs that failed before publishing; a
    run that is still going re-uploads its candidate in each of its tasks)."""
    removed = []
    for path in store.list(CANDIDATES, SUFFIX):
        try:
            modified = store.fs.info(path).get("LastModified")
        except FileNotFoundError:
            continue
        if modified is not None and time.time() - modified.timestamp() > older_than:
            store.delete(path)
            removed.append(path)
    return removed


def published_run(settings: Settings) -> str | None:
    """The run (DAG label) whose candidate the pointer names, on an object store."""
    record = current(settings)
    return str(record["run"]) if record and record.get("run") else None
