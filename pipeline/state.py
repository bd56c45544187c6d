"""Run state: ``state/<source>.json`` holds a source's cross-run watermark and the resume cursors of its runs;
the run id of a window (the same for `ripple run` and the nightly DAG).

``state/`` is owner-only (0700) and so are the files in it (0600): it also holds the pseudonym key. With the data
directory on an object store, ``state/`` is there too (:mod:`pipeline.shared`), so every worker sees it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from pipeline.config import Settings
from pipeline.errors import ConfigError
from pipeline.files import atomic_write_text, private_dir, private_tree
from pipeline.shared import StateConflict, state_store
from pipeline.storage import Store


class SourceState:
    """``state/<source>.json``: a cross-run watermark plus per-run resume cursors. Saved atomically; on an object
    store (``store``) with compare-and-swap against the version it was read at."""

    def __init__(self, path: Path | str, store: Store | None = None):
        self.path = path
        self.store = store
        self.version: str | None = None
        self.data: dict[str, Any] = {"watermark": {}, "runs": {}}
        text = self._read()
        if text is not None:
            try:
                self.data = json.loads(text)
            except json.JSONDecodeError:
                # a torn write cannot happen (atomic rename), but a hand-edited file can be broken
                raise ConfigError(f"{path}: state file is not valid JSON; fix or delete it") from None
        self.data.setdefault("watermark", {})
        self.data.setdefault("runs", {})

    def _read(self) -> str | None:
        if self.store is None:
            path = Path(self.path)
            return path.read_text(encoding="utf-8") if path.exists() else None
        self.version = self.store.version(str(self.path))
        if self.version is None:
            return None
        return self.store.read_bytes(str(self.path)).decode("utf-8")

    def save(self) -> None:
        text = json.dumps(self.data, indent=1, sort_keys=True, default=str)
        if self.store is None:
            atomic_write_text(Path(self.path), text)
            return
        if not self.store.replace_if(str(self.path), text.encode("utf-8"), self.version):
            raise StateConflict(
                f"{self.path} was changed by another writer since this run read it; run again to continue "
                "from its state"
            )
        self.version = self.store.version(str(self.path))


def state_dir(settings: Settings) -> Path:
    """``state/``, created owner-only; what others wrote in it (the run log, checkpoints) is made owner-only too."""
    private_tree(private_dir(settings.state_dir))
    return settings.state_dir


def state_for(settings: Settings, source_name: str) -> SourceState:
    store = state_store(settings)
    if store is not None:
        return SourceState(store.join(f"{source_name}.json"), store)
    return SourceState(state_dir(settings) / f"{source_name}.json")


class _Window(Protocol):
    """A run's window (:class:`pipeline.sources.base.Window`, which imports this module)."""

    def key(self) -> str: ...


def run_id_of(window: _Window) -> str:
    """The run id of a window: the same for `ripple run` and the nightly DAG."""
    return f"run-{window.key()}"
