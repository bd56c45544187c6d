"""Run state that every worker sees: ``state/`` on the local disk, or on the object store of the data directory.

With a local data directory nothing changes: the files live in ``state/`` (owner-only) and are replaced by an
atomic rename. With a data directory on an object store (``data_dir = "s3://bucket/prefix"``), the same names live
under ``s3://bucket/prefix/state/``, so that any Celery worker, on any machine, can run any task:

* a whole-file write (a run's checkpoint) is one PUT: readers see the old object or the new one;
* :func:`create_state` is create-only (``If-None-Match: *``): the first writer wins (the pseudonym key and its
  fingerprint);
* :func:`update_state` is a read-modify-write under compare-and-swap (``If-Match`` on the ETag), retried when
  another writer changed the object in between (the run log, a source's watermark and cursors): no update is lost.

The writer lock on a store is a lease (:mod:`pipeline.lease`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from pipeline.config import Settings
from pipeline.errors import RippleError
from pipeline.files import atomic_write_text, private_dir, private_tree
from pipeline.storage import Store, is_remote

log = logging.getLogger(__name__)

#: compare-and-swap attempts before an update gives up (each one lost to a concurrent writer)
CAS_ATTEMPTS = 20

_stores: dict[str, Store] = {}


class StateConflict(RippleError):
    """A state object kept changing under a read-modify-write."""


def shared_root(settings: Settings) -> str | None:
    """The object-store URI of the data directory (``s3://bucket/prefix``), or None when it is local."""
    root = settings.data_uri
    return root if root and is_remote(root) else None


def store_of(root: str) -> Store:
    """One :class:`Store` per root and process (it holds the connection pool)."""
    if root not in _stores:
        _stores[root] = Store(root)
    return _stores[root]


def state_store(settings: Settings) -> Store | None:
    """The store of ``state/`` when the data directory is on an object store, else None."""
    root = shared_root(settings)
    return store_of(f"{root}/state") if root else None


def state_location(settings: Settings, name: str) -> str:
    """Where the state file ``name`` (e.g. ``runs.jsonl``, ``runs/<run_id>.json``) lives, for messages."""
    store = state_store(settings)
    return store.join(name) if store else str(settings.state_dir / name)


def _local(settings: Settings, name: str) -> Path:
    private_tree(private_dir(settings.state_dir))
    path = settings.state_dir / name
    if path.parent != settings.state_dir:
        private_dir(path.parent, settings.state_dir)
    return path


def read_state(settings: Settings, name: str) -> str | None:
    """The text of the state file ``name``, or None when there is none."""
    store = state_store(settings)
    if store is None:
        path = settings.state_dir / name
        return path.read_text(encoding="utf-8") if path.exists() else None
    try:
        return store.read_bytes(store.join(name)).decode("utf-8")
    except FileNotFoundError:
        return None


def write_state(settings: Settings, name: str, text: str) -> None:
    """Replace the state file ``name`` (atomic for readers)."""
    store = state_store(settings)
    if store is None:
        atomic_write_text(_local(settings, name), text)
    else:
        store.write_bytes(store.join(name), text.encode("utf-8"))


def create_state(settings: Settings, name: str, text: str) -> bool:
    """Write ``name`` only if it does not exist yet; False when another writer created it first."""
    store = state_store(settings)
    if store is not None:
        return store.create(store.join(name), text.encode("utf-8"))
    path = _local(settings, name)
    if path.exists():
        return False
    atomic_write_text(path, text)
    return True


def update_state(settings: Settings, name: str, change: Callable[[str | None], str]) -> str:
    """Read ``name``, write ``change(old text or None)``, without losing a concurrent update (compare-and-swap,
    retried on the store; the caller holds the writer lock on a local disk). Returns the text written."""
    store = state_store(settings)
    if store is None:
        text = change(read_state(settings, name))
        write_state(settings, name, text)
        return text
    path = store.join(name)
    for attempt in range(CAS_ATTEMPTS):
        version = store.version(path)
        old = None if version is None else _read_or_none(store, path)
        text = change(old)
        if store.replace_if(path, text.encode("utf-8"), version):
            return text
        time.sleep(min(0.05 * 2**attempt, 1.0))
    raise StateConflict(f"{path} kept changing under {CAS_ATTEMPTS} attempts to update it; try again")


def _read_or_none(store: Store, path: str) -> str | None:
    try:
        return store.read_bytes(path).decode("utf-8")
    except FileNotFoundError:
        return None


def list_state(settings: Settings, prefix: str, suffix: str = "") -> list[str]:
    """Names (relative to ``state/``) of the state files below ``prefix`` ending in ``suffix``, sorted."""
    store = state_store(settings)
    if store is None:
        directory = settings.state_dir / prefix
        if not directory.is_dir():
            return []
        return sorted(p.relative_to(settings.state_dir).as_posix() for p in directory.glob(f"*{suffix}"))
    return [store.relative(path) for path in store.list(prefix, suffix)]


def local_state_copy(settings: Settings, name: str) -> Path:
    """A local file with the state file ``name`` (DuckDB reads it): ``state/<name>`` itself on a local data
    directory; on an object store, a fresh copy in the local work directory (absent when there is none)."""
    if state_store(settings) is None:
        return settings.state_dir / name
    path = settings.data_dir / "shared-state" / name
    text = read_state(settings, name)
    if text is None:
        path.unlink(missing_ok=True)
    else:
        atomic_write_text(path, text)
    return path


def forget_stores() -> None:
    """Drop the cached stores (their clients), e.g. after the AWS variables changed."""
    _stores.clear()
