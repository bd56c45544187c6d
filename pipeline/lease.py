"""The writer lock of a data directory on an object store: a lease.

An object store has no file lock, and a process on another machine cannot check whether a pid is alive. So the
lock is one small object, ``state/ripple.lease.json``, naming its holder (host, pid, command, since) and when the
lease ``expires``. Taking it is a conditional write: create-only when there is none, compare-and-swap (S3
``If-Match`` on the ETag) over a lease that expired or was released. Exactly one of two writers racing for it
wins; the other sees the winner's record and says who holds the data directory. While held, a daemon thread
renews the lease every third of ``run.lock_lease_seconds`` (compare-and-swap again, so a holder that lost its lease
to a takeover notices); release marks it expired. A holder that dies stops renewing: its lease expires and the
next writer takes it over.

Clocks: expiry is compared with the reader's clock; hosts must keep their clocks in sync (NTP) to well within the
lease length (5 minutes by default).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pipeline.errors import RippleError
from pipeline.storage import Store

log = logging.getLogger(__name__)

LEASE_NAME = "ripple.lease.json"


class LeaseLost(RippleError):
    """Another writer took over this process's lease while it was writing (it stopped renewing in time)."""

    exit_code = 75


def _now() -> float:
    return time.time()


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class Lease:
    """A writer's lease on ``state/ripple.lease.json`` of a store (see the module docstring)."""

    def __init__(self, store: Store, command: str, seconds: float):
        self.store = store
        self.path = store.join(LEASE_NAME)
        self.command = command
        self.seconds = float(seconds)
        self.token = uuid.uuid4().hex
        self.version: str | None = None
        self.record: dict[str, Any] = {}
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------- reading
    def current(self) -> tuple[dict[str, Any] | None, str | None]:
        """The lease record on the store and its version (None, None: no lease object yet)."""
        version = self.store.version(self.path)
        if version is None:
            return None, None
        try:
            record = json.loads(self.store.read_bytes(self.path))
        except FileNotFoundError:
            return None, None
        except ValueError:
            record = {}  # a broken record holds nothing; it is replaced like an expired one
        return (record if isinstance(record, dict) else {}), version

    @staticmethod
    def live(record: dict[str, Any] | None) -> bool:
        """Whether ``record`` is a lease that has not expired (nor been released)."""
        if not record:
            return False
        try:
            return float(record.get("expires_at", 0)) > _now()
        except (TypeError, ValueError):
            return False

    # ------------------------------------------------------------------------------------------- taking
    def _new_record(self, since: str | None = None) -> bytes:
        now = _now()
        self.record = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "command": self.command,
            "since": since or _iso(now),
            "expires_at": now + self.seconds,
            "expires": _iso(now + self.seconds),
            "token": self.token,
        }
        return json.dumps(self.record, sort_keys=True).encode()

    def try_take(self) -> dict[str, Any] | None:
        """Take the lease if nobody holds a live one: None on success, else the live holder's record."""
        record, version = self.current()
        if self.live(record):
            return record
        data = self._new_record()
        taken = (
            self.store.create(self.path, data)
            if version is None
            else self.store.replace_if(self.path, data, version)
        )
        if not taken:  # another writer was faster: report it (or retry when it already let go)
            record, _version = self.current()
            return record if self.live(record) else {"command": "another writer", "expires_at": 0}
        self.version = self.store.version(self.path)
        self._start_renewing()
        return None

    # ------------------------------------------------------------------------------------------- holding
    def _start_renewing(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew_loop, name="ripple-lease", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.renew()
            except Exception as exc:  # a store hiccup: the next renewal tries again before expiry
                log.warning("could not renew the writer lease on %s: %s", self.store.root, exc)
            if self.lost:
                return

    def renew(self) -> bool:
        """Extend the lease (compare-and-swap on the version this process wrote); False once it was lost."""
        if self.lost:
            return False
        data = self._new_record(since=self.record.get("since"))
        if self.store.replace_if(self.path, data, self.version):
            self.version = self.store.version(self.path)
            return True
        self.lost = True
        log.error("the writer lease on %s was taken over by another writer", self.store.root)
        return False

    def release(self) -> None:
        """Stop renewing and mark the lease released (expired), unless another writer holds it by now."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        if self.lost or self.version is None:
            return
        released = dict(self.record, expires_at=0, expires=_iso(_now()), released=True)
        try:
            self.store.replace_if(self.path, json.dumps(released, sort_keys=True).encode(), self.version)
        except Exception as exc:  # it expires on its own
            log.warning("could not release the writer lease on %s: %s", self.store.root, exc)


def describe(record: dict[str, Any]) -> str:
    """Who holds a lease, for the busy message: ``pid 12 on host-a (`ripple run`) since ..., lease until ...``."""
    where = f" on {record['host']}" if record.get("host") else ""
    pid = f"pid {record['pid']}{where}" if record.get("pid") else f"a process{where}"
    return (
        f"{pid} (`{record.get('command', '?')}`) since {record.get('since', '?')}, "
        f"lease until {record.get('expires', '?')}"
    )


def acquire(store: Store, command: str, seconds: float, wait: float = 0.0, poll: float = 0.5) -> Lease:
    """Take the lease, waiting up to ``wait`` seconds; raises ``busy(holder_record)`` from the caller's side via
    :class:`LeaseBusy` when it stays held."""
    lease = Lease(store, command, seconds)
    deadline = time.monotonic() + max(0.0, float(wait))
    while True:
        holder = lease.try_take()
        if holder is None:
            return lease
        if time.monotonic() >= deadline:
            raise LeaseBusy(holder)
        time.sleep(poll)


class LeaseBusy(Exception):
    """The lease is held by someone else (``holder`` is their record)."""

    def __init__(self, holder: dict[str, Any]):
        super().__init__(describe(holder))
        self.holder = holder
