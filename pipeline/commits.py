"""Atomic commits of a lake on an object store: immutable files, named in create-only manifests.

An object store has no atomic rename, so a run never writes a file under a name a reader already trusts. Every
data file goes to a final, unique name (``<run_id>-<token>.parquet``: the token is new for each attempt), and
once all of them are in place the run creates ONE small manifest, ``lake/_commits/<time>-<run_id>-<token>.json``
(create-only), listing the files it adds and the files it supersedes. Readers and builds honour only files that a
manifest adds and no manifest removes (:func:`read_view`), so a run that dies before its manifest exposes
nothing; its files are deleted by the next attempt of the same run (:meth:`Commit.publish`). Names are unique,
so the view does not depend on the order of the manifests, and a manifest never changes once written (they are
cached in memory by name). A manifest holds relative paths, sizes and ETags only: no credentials, no hosts.

The local data directory keeps its rename-based layout (``<run_id>.parquet``, :mod:`pipeline.lake`): a rename is
atomic there, and listing a directory is as cheap as reading manifests.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.storage import Store, check

COMMITS = "lake/_commits"
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


def _manifest(store: Store, location: str) -> dict[str, Any]:
    doc = _manifests.get(location)
    if doc is None:
        doc = _manifests[location] = json.loads(store.read_bytes(location))
    return doc


def read_view(store: Store) -> dict[str, dict[str, Any]]:
    """Every committed file, by path relative to the root: ``{"path", "size", "version"}``, sorted by path."""
    added: dict[str, dict[str, Any]] = {}
    removed: set[str] = set()
    for location in store.list(COMMITS, ".json"):
        doc = _manifest(store, location)
        for entry in doc["added"]:
            added[entry["path"]] = entry
        removed.update(doc["removed"])
    return {p: added[p] for p in sorted(added) if p not in removed}


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
        size = self.store.size(location)
        self.added[rel] = {"path": rel, "size": size, "version": self.store.version(location) or ""}
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
        """Create the manifest (the commit point), then delete what it superseded and, for each ``(prefix,
        suffix)`` of ``cleanup``, files of this run id there that no manifest names (a crashed attempt's)."""
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
        for rel in sorted(self.removed):
            self.store.delete(self.store.join(rel))
        for prefix, suffix in cleanup:
            self._delete_uncommitted(prefix, suffix)
        return location

    def _delete_uncommitted(self, prefix: str, suffix: str) -> None:
        pattern = run_file_pattern(self.run_id, suffix)
        live = set(self.view) | set(self.added)
        for location in self.store.list(prefix, suffix):
            rel = self.store.relative(location)
            if rel not in live and pattern.fullmatch(rel.rsplit("/", 1)[-1]):
                self.store.delete(location)


def uncommitted(store: Store) -> list[str]:
    """Data files below ``lake/``, ``raw/`` and ``quarantine/`` that no committed manifest names (left by
    crashed runs), except the stable-name reference tables ``lake/<name>/<table>.parquet``."""
    view = read_view(store)
    out = []
    for table, prefix in TABLE_PREFIXES.items():
        for location in store.list(prefix, TABLE_SUFFIXES[table]):
            if store.relative(location) not in view:
                out.append(location)
    return sorted(out)
