"""Run state: ``state/<source>.json`` holds a source's cross-run watermark and the resume cursors of its runs;
the run id of a window (the same for `ripple run` and the nightly DAG).

``state/`` is owner-only (0700) and so are the files in it (0600): it also holds the pseudonym key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from pipeline.config import Settings
from pipeline.errors import ConfigError
from pipeline.files import atomic_write_text, private_dir, private_tree


class SourceState:
    """``state/<source>.json``: a cross-run watermark plus per-run resume cursors. Saved atomically."""

    def __init__(self, path: Path):
        self.path = path
        self.data: dict[str, Any] = {"watermark": {}, "runs": {}}
        if path.exists():
            try:
                self.data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                # a torn write cannot happen (atomic rename), but a hand-edited file can be broken
                raise ConfigError(f"{path}: state file is not valid JSON; fix or delete it") from None
        self.data.setdefault("watermark", {})
        self.data.setdefault("runs", {})

    def save(self) -> None:
        atomic_write_text(self.path, json.dumps(self.data, indent=1, sort_keys=True, default=str))


def state_dir(settings: Settings) -> Path:
    """``state/``, created owner-only; what others wrote in it (the run log, checkpoints) is made owner-only too."""
    private_tree(private_dir(settings.state_dir))
    return settings.state_dir


def state_for(settings: Settings, source_name: str) -> SourceState:
    return SourceState(state_dir(settings) / f"{source_name}.json")


class _Window(Protocol):
    """A run's window (:class:`pipeline.sources.base.Window`, which imports this module)."""

    def key(self) -> str: ...


def run_id_of(window: _Window) -> str:
    """The run id of a window: the same for `ripple run` and the nightly DAG."""
    return f"run-{window.key()}"
