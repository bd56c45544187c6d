"""The source protocol and the registry of sources (run state and checkpoints: :mod:`pipeline.state`).

A source does two things (raw first, map late):

* ``fetch(ctx)`` yields *pages*: JSON-serialisable dicts ``{"request": {...}, "data": <what the API returned>}``.
  The lake lands each page untouched in ``raw/`` with provenance before asking for the next one, so a
  source may checkpoint its cursor right after a ``yield``: when the generator resumes, the page is on disk.
* ``normalize(page)`` maps one landed page (the dict above plus ``_source``, ``_fetched_at``, ``_run_id``)
  to Post dicts (columns of :data:`pipeline.schema.POSTS_SCHEMA`) or :class:`Reject` records. It is pure,
  so normalizing can be re-run from the raw files at any time.

Adding a platform = a module here, an entry in :data:`REGISTRY`, a staging model
``sql/staging/stg_<platform>_posts.sql`` and a page ``docs/sources/<name>.md`` (a test checks all four).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pipeline.config import Settings
from pipeline.errors import ConfigError
from pipeline.state import SourceState


@dataclass(frozen=True)
class Window:
    """A half-open time window [since, until) in UTC."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware (UTC)")
        if self.until <= self.since:
            raise ValueError(f"empty window: {self.since.isoformat()} .. {self.until.isoformat()}")

    def key(self) -> str:
        return f"{self.since:%Y%m%dT%H%M%SZ}-{self.until:%Y%m%dT%H%M%SZ}"


@dataclass
class Reject:
    """A record that failed mapping or validation; it goes to quarantine with its reason."""

    reason: str
    record: Any
    location: str | None = None


@dataclass
class FetchContext:
    settings: Settings
    run_id: str
    window: Window | None
    state: SourceState
    # credentials handed in by the caller (an Airflow connection); sources fall back to their own config
    credentials: dict[str, Any] = field(default_factory=dict)
    # extra arguments of `ripple ingest SOURCE ...` / `ripple import ...` (thread ids, file paths, ...)
    options: dict[str, Any] = field(default_factory=dict)
    pending_watermark: dict[str, Any] | None = None

    @property
    def cursor(self) -> dict[str, Any]:
        """Resume cursor of this run (empty on a fresh run)."""
        return self.state.data["runs"].setdefault(self.run_id, {})

    def save_cursor(self, **values: Any) -> None:
        self.cursor.update(values)
        self.state.save()

    @property
    def watermark(self) -> dict[str, Any]:
        return dict(self.state.data["watermark"])

    def set_watermark(self, **values: Any) -> None:
        """Stage a new watermark; it is saved only when the run's lake files are committed."""
        self.pending_watermark = {**(self.pending_watermark or self.watermark), **values}


@runtime_checkable
class Source(Protocol):
    name: str
    platform: str
    #: False for bulk imports whose input file already is the raw record (dumps, archives)
    lands_raw: bool

    def fetch(self, ctx: FetchContext) -> Iterator[dict[str, Any]]: ...

    def normalize(self, page: dict[str, Any]) -> Iterator[dict[str, Any] | Reject]: ...


#: source name -> (module:class, platform). Imports are lazy so that `ripple --help` stays fast.
#: What the system needs to know about each platform (pool, connection, staging model, communities, retries)
#: is declared in pipeline/platforms.py; a platform not declared there gets the defaults.
REGISTRY: dict[str, tuple[str, str]] = {
    "bluesky": ("pipeline.sources.bluesky:BlueskySource", "bluesky"),
    "bluesky_jetstream": ("pipeline.sources.bluesky_jetstream:BlueskyJetstreamSource", "bluesky"),
    "demo": ("pipeline.sources.demo:DemoSource", "demo"),
    "mastodon": ("pipeline.sources.mastodon:MastodonSource", "mastodon"),
    "reddit": ("pipeline.sources.reddit:RedditSource", "reddit"),
    "reddit_dump": ("pipeline.sources.reddit_dump:RedditDumpSource", "reddit"),
    "x": ("pipeline.sources.x:XSource", "x"),
    "x_archive": ("pipeline.sources.x_archive:XArchiveSource", "x"),
}


def source_names() -> list[str]:
    return sorted(REGISTRY)


def get_source(name: str, settings: Settings) -> Source:
    try:
        target, _platform = REGISTRY[name]
    except KeyError:
        known = ", ".join(source_names())
        raise ConfigError(f"unknown source {name!r} (known: {known})") from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(settings)
