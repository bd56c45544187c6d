"""One writer at a time per data directory.

Every command that changes the data directory (``ripple run``, ``ingest``, ``import ...``, ``affect``, ``build``,
``purge``, and the Airflow tasks that do the same work) holds an exclusive lock on ``state/ripple.lock`` while it
works. Next to it, ``state/ripple.lock.json`` names the holder (pid, command, since when) so that a second writer
can say who is in the way. Readers (``ripple sql``, ``shell``, ``status``, ``report``) never take the lock: they
read the published warehouse, which is replaced atomically.

The lock is an OS file lock (``filelock``): it is released on any exit, including ``kill -9``, so there is no
stale lock to clean up after a crash; a holder record left by a dead process is ignored.

With the data directory on an object store the lock is a lease on ``state/ripple.lease.json`` there
(:mod:`pipeline.lease`: holder host, pid, command, since, expiry; renewed while held; an expired lease is taken
over), since a pid on another machine cannot be checked. Busy still means exit 75, naming the holder.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from pipeline.config import Settings
from pipeline.errors import RippleError
from pipeline.lease import LeaseBusy, LeaseLost, acquire, describe
from pipeline.shared import state_store
from pipeline.storage import Store

#: the exit code of a writer that found the data directory busy (EX_TEMPFAIL: try again later)
BUSY_EXIT_CODE = 75
#: how long a writer that found the lock taken looks for the holder's record before it says "another process"
HOLDER_GRACE = 2.0

_held: dict[Path | str, int] = {}


class LockBusy(RippleError):
    """Another process is writing to the same data directory."""

    exit_code = BUSY_EXIT_CODE


def lock_path(settings: Settings) -> Path:
    return settings.state_dir / "ripple.lock"


def holder_path(settings: Settings) -> Path:
    return settings.state_dir / "ripple.lock.json"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_holder(settings: Settings) -> dict[str, Any] | None:
    """The holder record of a live process, or None (no record, unreadable, or its process is gone)."""
    try:
        record = json.loads(holder_path(settings).read_text(encoding="utf-8"))
        pid = int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if pid_alive(pid) else None


def _busy_message(settings: Settings, waited: float) -> str:
    holder = read_holder(settings)
    deadline = time.monotonic() + HOLDER_GRACE
    while holder is None and time.monotonic() < deadline:
        # the holder writes its record right after it takes the lock: a writer that lost the race by a
        # hair may look before the record exists
        time.sleep(0.05)
        holder = read_holder(settings)
    who = (
        f"pid {holder['pid']} (`{holder.get('command', '?')}`) since {holder.get('since', '?')}"
        if holder
        else "another process"
    )
    after = f" after waiting {waited:g}s" if waited else ""
    return (
        f"{settings.data_dir} is busy{after}: {who} is writing to it; try again later or pass --wait SECONDS"
    )


@contextlib.contextmanager
def writer_lock(settings: Settings, command: str, wait: float = 0.0) -> Iterator[None]:
    """Hold the data directory's writer lock for the ``with`` block.

    Waits up to ``wait`` seconds for another writer to finish, then raises :class:`LockBusy` (exit code 75)
    naming the holder. Re-entrant within one process (a command that calls another stage keeps the lock).
    """
    store = state_store(settings)
    if store is not None:
        with _lease(settings, store, command, wait):
            yield
        return
    path = lock_path(settings)
    if _held.get(path):
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=max(0.0, float(wait)))
    try:
        lock.acquire(poll_interval=0.2)
    except Timeout:
        raise LockBusy(_busy_message(settings, float(wait))) from None
    _held[path] = 1
    record = {"pid": os.getpid(), "command": command, "since": _now()}
    try:
        _write_holder(settings, record)
        yield
    finally:
        _held.pop(path, None)
        with contextlib.suppress(OSError):
            holder_path(settings).unlink()
        lock.release()


def _write_holder(settings: Settings, record: dict[str, Any]) -> None:
    """Write the holder record whole (a reader never sees it half written)."""
    path = holder_path(settings)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, path)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@contextlib.contextmanager
def _lease(settings: Settings, store: Store, command: str, wait: float) -> Iterator[None]:
    """The writer lock of a data directory on an object store: a lease (re-entrant within one process)."""
    key = store.root
    if _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    try:
        lease = acquire(store, command, settings.run.lock_lease_seconds, wait=wait)
    except LeaseBusy as busy:
        after = f" after waiting {float(wait):g}s" if wait else ""
        raise LockBusy(
            f"{settings.data_uri} is busy{after}: {describe(busy.holder)} is writing to it; "
            "try again later or pass --wait SECONDS"
        ) from None
    _held[key] = 1
    failed = True
    try:
        yield
        failed = False
    finally:
        _held.pop(key, None)
        lease.release()
        if lease.lost and not failed:
            raise LeaseLost(
                f"{settings.data_uri}: the writer lease of `{command}` expired and another writer took it over "
                "while this one was writing; check the run and run it again"
            )
