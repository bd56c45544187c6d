"""Atomic commits of a lake on an object store: immutable files, named in create-only manifests.

An object store has no atomic rename, so a run never writes a file under a name a reader already trusts. Every
data file goes to a final, unique name (``<run_id>-<token>.parquet``: the token is new for each attempt), and
once all of them are in place the run creates ONE small manifest, ``lake/_commits/<time>-<run_id>-<token>.json``
(create-only), listing the files it adds and the files it supersedes. Readers and builds honour only files that a
manifest adds and no manifest removes (:func:`read_view`), so a run that dies before its manifest exposes
nothing; its files are deleted by the next attempt of the same run (:meth:`Commit.publish`). Superseded files
stay for :data:`RETAIN_SECONDS` (a reader elsewhere may have just listed them), then a later commit deletes them.
Names are unique, so the view does not depend on the order of the manifests, and a manifest never changes once
written (they are cached in memory by name). A manifest holds relative paths, sizes and ETags only: no credentials, no hosts.

The local data directory keeps its rename-based layout (``<run_id>.parquet``, :mod:`pipeline.lake`): a rename is
atomic there, and listing a directory is as cheap as reading manifests.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.storage import Store, check

log = logging.getLogger(__name__)

COMMITS = "lake/_commits"
CHECKPOINT = "_view-"
#: a commit that leaves this many manifests outside the latest checkpoint writes a new one
CHECKPOINT_EVERY = 100
#: superseded files are deleted by the first commit at least this long after the one that superseded them
RETAIN_SECONDS = 3600.0
#: the tables of the lake and the prefix (relative to the lake root) of their files
TABLE_PREFIXES = {
    "posts": "lake/posts/",
    "affect": "lake/affect/",
    "raw": "raw/",
    "quarantine": "quarantine/",
}
TABLE_SUFFIXES = {"posts": ".parquet", "affect": ".parquet", "raw": ".jsonl.zst", "quarantine": ".jsonl"}


@dataclass(frozen=True, order=True)
class LakeFile:
    """One committed file: its location (local path or ``s3://`` URI), size in bytes, and version (ETag or
    ``mtime_ns-size``): a file that is replaced gets another version."""

    path: str
    size: int
    version: str


_stores: dict[str, Store] = {}
_manifests: dict[str, dict[str, Any]] = {}


def lake_store(settings: Settings) -> Store:
    """The store of the lake root (checked once per process: a missing bucket fails with one clear line)."""
    root = settings.lake_root
    store = _stores.get(root)
    if store is None:
        store = Store(root)
        check(store)
        _stores[root] = store
    return store


def attach(con: Any, settings: Settings) -> None:
    """Let a DuckDB connection read the lake's ``s3://`` files through the fsspec filesystem (no httpfs)."""
    if settings.lake_remote:
        con.register_filesystem(lake_store(settings).fs)


def _fetch_manifests(store: Store, locations: list[str]) -> None:
    """Read the manifests not cached yet, concurrently on an object store (one GET each, in parallel)."""
    missing = [loc for loc in locations if loc not in _manifests]
    if not missing:
        return
    if store.remote:
        contents = store._call(store.fs.cat, missing)
        for loc in missing:
            key = loc if loc in contents else loc.removeprefix("s3://")
            _manifests[loc] = json.loads(contents[key])
        return
    for loc in missing:
        _manifests[loc] = json.loads(store.read_bytes(loc))


def _split(locations: list[str]) -> tuple[str | None, list[str]]:
    """The latest checkpoint (if any) and the manifests."""
    checkpoints = [loc for loc in locations if loc.rsplit("/", 1)[-1].startswith(CHECKPOINT)]
    manifests = [loc for loc in locations if not loc.rsplit("/", 1)[-1].startswith(CHECKPOINT)]
    return (max(checkpoints) if checkpoints else None), manifests


def _pending(store: Store) -> tuple[dict[str, Any], list[str], list[str]]:
    """The latest checkpoint (empty when there is none), the manifests it does not cover (fetched), and every
    manifest."""
    checkpoint, manifests = _split(store.list(COMMITS, ".json"))
    doc: dict[str, Any] = {"covers": [], "files": [], "superseded": []}
    if checkpoint is not None:
        _fetch_manifests(store, [checkpoint])
        doc = _manifests[checkpoint]
    covered = set(doc["covers"])
    rest = [m for m in manifests if m.rsplit("/", 1)[-1] not in covered]
    _fetch_manifests(store, rest)
    return doc, rest, manifests


def read_view(store: Store) -> dict[str, dict[str, Any]]:
    """Every committed file, by path relative to the root: ``{"path", "size", "version"}``, sorted by path.

    The latest checkpoint (``_view-<time>.json``: the view as of the manifests it names) plus the manifests it does
    not cover; names are unique, so the order in which manifests are applied does not matter."""
    point, rest, _all = _pending(store)
    added = {e["path"]: e for e in point["files"]}
    removed: set[str] = set()
    for location in rest:
        doc = _manifests[location]
        for entry in doc["added"]:
            added[entry["path"]] = entry
        removed.update(doc["removed"])
    return {p: added[p] for p in sorted(added) if p not in removed}


def checkpoint(store: Store, every: int | None = None) -> str | None:
    """Write a checkpoint of the view when ``every`` (default :data:`CHECKPOINT_EVERY`) or more manifests are not
    covered by the latest one, so that a reader fetches one object instead of a year of manifests."""
    point, rest, manifests = _pending(store)
    if len(rest) < (CHECKPOINT_EVERY if every is None else every):
        return None
    view = read_view(store)
    now = datetime.now(UTC).timestamp()
    waiting = [{"path": p, "at": at} for p, at in superseded(store).items() if now - at < RETAIN_SECONDS]
    doc = {
        "covers": sorted(m.rsplit("/", 1)[-1] for m in manifests),
        "files": list(view.values()),
        "superseded": waiting,
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    location = store.join(COMMITS, f"{CHECKPOINT}{stamp}.json")
    return location if store.create(location, json.dumps(doc).encode()) else None


def superseded(store: Store) -> dict[str, float]:
    """Files that manifests superseded and whose deletion may still be due: path -> when (epoch seconds)."""
    point, rest, _all = _pending(store)
    out = {e["path"]: float(e["at"]) for e in point.get("superseded", [])}
    for location in rest:
        doc = _manifests[location]
        at = datetime.fromisoformat(doc["committed_at"]).timestamp()
        for rel in doc["removed"]:
            out[rel] = min(out.get(rel, at), at)
    return out


def expire(store: Store, retain: float | None = None) -> int:
    """Delete the files superseded at least ``retain`` seconds ago (default :data:`RETAIN_SECONDS`); returns how
    many were due. A reader that read the view just before a commit can still read them meanwhile."""
    limit = RETAIN_SECONDS if retain is None else retain
    now = datetime.now(UTC).timestamp()
    due = sorted(p for p, at in superseded(store).items() if now - at >= limit)
    store.delete_many([store.join(p) for p in due])
    return len(due)


def vacuum(
    store: Store, prefix: str, suffix: str, retain: float | None = None, run_id: str | None = None
) -> int:
    """Delete files below ``prefix`` that no manifest names (neither committed nor superseded) and that are older
    than ``retain`` seconds (default :data:`RETAIN_SECONDS`): uploads of a run that died before its manifest. With
    ``run_id``, that run's such files go at any age (called by the attempt of that run that just committed)."""
    limit = RETAIN_SECONDS if retain is None else retain
    pattern = run_file_pattern(run_id, suffix) if run_id else None
    known = set(read_view(store)) | set(superseded(store))
    now = datetime.now(UTC).timestamp()
    due = [
        loc
        for loc, modified in store.list_modified(prefix, suffix).items()
        if store.relative(loc) not in known
        and (now - modified >= limit or (pattern and pattern.fullmatch(loc.rsplit("/", 1)[-1])))
    ]
    store.delete_many(due)
    return len(due)


def view_files(store: Store, view: dict[str, dict[str, Any]], table: str) -> list[LakeFile]:
    prefix, suffix = TABLE_PREFIXES[table], TABLE_SUFFIXES[table]
    return [
        LakeFile(store.join(rel), int(e["size"]), str(e["version"]))
        for rel, e in view.items()
        if rel.startswith(prefix) and rel.endswith(suffix)
    ]


def run_file_pattern(run_id: str, suffix: str) -> re.Pattern[str]:
    """File names a run writes: ``<run_id>-<token><suffix>`` (and ``<run_id><suffix>`` on the local disk)."""
    return re.compile(rf"{re.escape(run_id)}(-[0-9a-f]{{12}})?{re.escape(suffix)}")


class Commit:
    """The files one run adds and supersedes; :meth:`publish` makes all of them visible at once."""

    def __init__(self, store: Store, run_id: str):
        self.store = store
        self.run_id = run_id
        self.token = uuid.uuid4().hex[:12]
        self.added: dict[str, dict[str, Any]] = {}
        self.removed: set[str] = set()
        self._view: dict[str, dict[str, Any]] | None = None

    @property
    def view(self) -> dict[str, dict[str, Any]]:
        """The committed files when the run started publishing (read once)."""
        if self._view is None:
            self._view = read_view(self.store)
        return self._view

    def name(self, directory: str, stem: str, suffix: str) -> str:
        """A unique relative path for a new file: ``<directory>/<stem>-<token><suffix>``."""
        return f"{directory.strip('/')}/{stem}-{self.token}{suffix}"

    def add_file(self, local: Path, rel: str) -> str:
        """Upload a finished local file to ``rel`` (not visible to readers until :meth:`publish`)."""
        location = self.store.join(rel)
        self.store._call(self.store.fs.put_file, str(local), location)
        return self._added(rel, location)

    def add_bytes(self, rel: str, data: bytes) -> str:
        location = self.store.join(rel)
        self.store.write_bytes(location, data)
        return self._added(rel, location)

    def _added(self, rel: str, location: str) -> str:
        found = self.store.stat(location)
        if found is None:
            raise FileNotFoundError(f"{location}: missing right after its upload")
        self.added[rel] = {"path": rel, "size": found[0], "version": found[1]}
        return location

    def supersede(self, rels: list[str] | set[str]) -> None:
        """Committed files this run replaces or removes (relative paths)."""
        self.removed.update(r for r in rels if r not in self.added)

    def supersede_run(self, prefix: str, suffix: str) -> None:
        """Supersede every committed file of this run id below ``prefix`` (an earlier attempt's files)."""
        pattern = run_file_pattern(self.run_id, suffix)
        self.supersede(
            [r for r in self.view if r.startswith(prefix) and pattern.fullmatch(r.rsplit("/", 1)[-1])]
        )

    def publish(self, cleanup: tuple[tuple[str, str], ...] = ()) -> str | None:
        """Create the manifest (the commit point). Then delete, for each ``(prefix, suffix)`` of ``cleanup``, files
        there that no manifest names: this run id's (a crashed attempt's) and any an hour old (:func:`vacuum`); and
        files superseded more than :data:`RETAIN_SECONDS` ago (this commit's are deleted by a later one: a reader
        on another machine may be reading them right now)."""
        if not self.added and not self.removed:
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        location = self.store.join(COMMITS, f"{stamp}-{self.run_id}-{self.token}.json")
        doc = {
            "run_id": self.run_id,
            "committed_at": datetime.now(UTC).isoformat(),
            "added": sorted(self.added.values(), key=lambda e: e["path"]),
            "removed": sorted(self.removed),
        }
        if not self.store.create(location, json.dumps(doc, indent=1).encode()):
            raise RuntimeError(f"lake commit {location} exists already")
        _manifests[location] = doc
        size = sum(e["size"] for e in self.added.values())
        log.info(
            "lake %s: committed %d new files (%.1f MiB), %d superseded, in %s",
            self.store.root, len(self.added), size / 2**20, len(self.removed), location.rsplit("/", 1)[-1],
        )  # fmt: skip
        for prefix, suffix in cleanup:
            vacuum(self.store, prefix, suffix, run_id=self.run_id)
        expire(self.store)
        checkpoint(self.store)
        return location


def uncommitted(store: Store) -> list[str]:
    """Data files below ``lake/``, ``raw/`` and ``quarantine/`` that no manifest names, neither as committed nor as
    superseded (left by crashed runs)."""
    known = set(read_view(store)) | set(superseded(store))
    out = []
    for table, prefix in TABLE_PREFIXES.items():
        for location in store.list(prefix, TABLE_SUFFIXES[table]):
            if store.relative(location) not in known:
                out.append(location)
    return sorted(out)


# ------------------------------------------------------------------------------------------------ what is committed


_LOCAL_GLOBS = {
    "posts": "lake/posts/platform=*/date=*/*.parquet",
    "affect": "lake/affect/scorer=*/*.parquet",
    "raw": "raw/*/date=*/*.jsonl.zst",
    "quarantine": "quarantine/*/*.jsonl",
}


def committed_files(settings: Settings, table: str) -> list[LakeFile]:
    """Every committed file of ``table`` (``posts``, ``affect``, ``raw``, ``quarantine``): location, size and
    version (the ETag on an object store, ``mtime_ns-size`` on the local disk), sorted by location.

    On an object store this reads the manifests (one listing plus the manifests not seen before in this
    process), not one request per file; on the local disk it lists the directory (files there are renamed into
    place, so every file present is committed)."""
    if table not in _LOCAL_GLOBS:
        raise ValueError(f"unknown lake table {table!r}: expected one of {', '.join(_LOCAL_GLOBS)}")
    if settings.lake_remote:
        store = lake_store(settings)
        return view_files(store, read_view(store), table)
    root = Path(settings.lake_root)
    out = []
    for path in root.glob(_LOCAL_GLOBS[table]):
        st = path.stat()
        out.append(LakeFile(str(path), st.st_size, f"{st.st_mtime_ns}-{st.st_size}"))
    return sorted(out)


def has_posts(settings: Settings) -> bool:
    if settings.lake_remote:
        return bool(committed_files(settings, "posts"))
    return any(settings.posts_dir.glob("platform=*/date=*/*.parquet"))
