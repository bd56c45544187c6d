"""Settings: ``ripple.toml`` plus environment variables.

Precedence (highest first): explicit arguments (CLI flags, DAG arguments) > environment > ripple.toml > defaults.

* ``RIPPLE_CONFIG``: path of the TOML file (default: ``./ripple.toml`` if it exists).
* ``RIPPLE_DATA_DIR``: data directory (default ``./data``).
* ``RIPPLE__<SECTION>__<KEY>=value``: override any setting, e.g. ``RIPPLE__DEMO__SCALE=20``.
  Values are parsed as TOML scalars/arrays when possible (``3``, ``true``, ``["a", "b"]``), else taken as text.

Secrets (API credentials, the pseudonymisation key) are never read from ripple.toml: only from the environment,
PRAW's own configuration, or an Airflow connection handed in by the DAG.
"""

from __future__ import annotations

import copy
import os
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

DEFAULTS: dict[str, dict[str, Any]] = {
    "run": {
        # sources ingested by `ripple run`, in order
        "sources": ["demo"],
        # first run without a previous one covers this many days before now: the membership window (90) plus
        # four weeks, so the first report already has settled weeks (docs/metrics.md, warm-up)
        "initial_lookback_days": 120,
    },
    "lake": {
        # records whose title + text exceed this many characters are quarantined
        "max_text_chars": 40_000,
        # rows per Parquet row group / normalization batch
        "batch_rows": 50_000,
    },
    "privacy": {
        # replace author ids by a keyed hash and drop author names
        "pseudonymize": True,
    },
    "demo": {
        "seed": 42,
        # 1.0 = about 50k items over 30 days; 20 = about 1M. 0.25: about 50k over the first run's 120 days
        "scale": 0.25,
        # pause after each page, to watch progress or rehearse a crash mid-ingest like a slow API
        "page_delay_seconds": 0.0,
    },
    "membership": {
        "window_days": 90,
        "min_items": 1,
        "bots": ["AutoModerator", "[deleted]", "BotDefense", "RemindMeBot", "sneakpeekbot"],
    },
    "overlap": {"min_shared": 5},
    "spread": {"min_engagers": 5, "min_outsider_share": 0.5},
    "cascades": {
        # a reply chain deeper than this is treated as corrupt and sent to the quality table
        "max_depth": 10_000,
    },
    "communities": {
        # Leiden on the weekly interaction graph for platforms without explicit communities
        "detect_platforms": ["x", "bluesky"],
        "resolution": 1.0,
        "seed": 42,
        "min_size": 5,
        # a week's detected community keeps last week's label when their members overlap this much (Jaccard)
        "match_jaccard": 0.2,
        # Leiden iterations; -1 = until the partition stops improving
        "n_iterations": -1,
    },
    "affect": {
        "enabled": True,
        # NRC EmoLex is licensed for non-commercial research only; set false to switch emotion scoring off
        "emotions": True,
        "processes": 2,
        "batch_size": 5_000,
    },
    "explain": {
        "min_n": 200,
        "min_events": 20,
        # roots from the first days of a platform's data are left out: nobody is a member yet, so every
        # engager looks like an outsider
        "warmup_days": 7,
    },
    "reddit": {
        "subreddits": [],
        "searches": [],
        "site": "ripple",
        "replace_more_limit": 32,
        "revisit_days": 3,
        "submission_limit": 1000,
        "comment_sort": "confidence",
        # on top of PRAW's own retries: 5xx, 429, timeouts and dropped connections, exponential backoff
        "max_retries": 5,
        "retry_base_seconds": 2.0,
        "retry_max_seconds": 120.0,
    },
    "x": {
        "queries": [],
        "max_results": 100,
        "conversation_budget": 500,
        "quote_budget": 100,
        "retweet_budget": 100,
        # roots whose conversation / quotes / retweeters are completed per run (quote and retweeter lookups
        # are limited to 75 requests per 15 minutes)
        "max_roots": 200,
        # search pages per query and run; 0 = no limit
        "query_budget": 0,
    },
    "warehouse": {
        # DuckDB resources for the build; the published file is read with DuckDB's defaults
        "threads": 2,
        "memory_limit": "3GB",
    },
    "report": {"top_items": 20},
    "airflow": {
        # cron of the ripple_nightly DAG (UTC); each run covers the time since the previous tick
        "nightly_schedule": "0 2 * * *",
        "retries": 3,
        "retry_delay_seconds": 120,
    },
}


@dataclass
class Settings:
    data_dir: Path
    values: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(DEFAULTS))
    config_path: Path | None = None

    def get(self, section: str, key: str, default: Any = None) -> Any:
        return self.values.get(section, {}).get(key, default)

    def section(self, section: str) -> dict[str, Any]:
        return self.values.setdefault(section, {})

    # directories of the data layout (docs/data-contract.md)
    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def posts_dir(self) -> Path:
        return self.lake_dir / "posts"

    @property
    def state_dir(self) -> Path:
        return self.data_dir / "state"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def sources(self) -> list[str]:
        return list(self.get("run", "sources", []))


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _merge(base: dict[str, dict[str, Any]], extra: dict[str, Any], origin: str) -> None:
    for section, table in extra.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{origin}: [{section}] must be a table, got {type(table).__name__}")
        base.setdefault(section, {}).update(table)


def airflow_default_args(settings: Settings) -> dict[str, Any]:
    """``default_args`` of ripple's DAGs, from the ``[airflow]`` settings (no Airflow import needed)."""
    return {
        "owner": "ripple",
        "retries": int(settings.get("airflow", "retries", 3)),
        # 2 min, 4 min, 8 min by default: long enough for a rate-limit window or a flaky API to recover
        "retry_delay": timedelta(seconds=float(settings.get("airflow", "retry_delay_seconds", 120))),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(hours=1),
    }


def load_settings(
    config: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Build the settings from defaults, the TOML file, the environment and explicit overrides."""
    env = os.environ if environ is None else environ
    values = copy.deepcopy(DEFAULTS)

    config_path: Path | None = None
    if config is not None:
        config_path = Path(config)
        if not config_path.is_file():
            raise ConfigError(f"config file not found: {config_path}")
    elif env.get("RIPPLE_CONFIG"):
        config_path = Path(env["RIPPLE_CONFIG"])
        if not config_path.is_file():
            raise ConfigError(f"RIPPLE_CONFIG points to a missing file: {config_path}")
    elif Path("ripple.toml").is_file():
        config_path = Path("ripple.toml")

    file_data_dir = None
    if config_path is not None:
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{config_path}: invalid TOML: {exc}") from None
        file_data_dir = data.pop("data_dir", None)
        _merge(values, data, str(config_path))

    for key, raw in env.items():
        if not key.startswith("RIPPLE__"):
            continue
        parts = key[len("RIPPLE__") :].lower().split("__")
        if len(parts) != 2:
            raise ConfigError(f"{key}: expected RIPPLE__<SECTION>__<KEY>")
        values.setdefault(parts[0], {})[parts[1]] = _parse_env_value(raw)

    if overrides:
        _merge(values, overrides, "overrides")

    if data_dir is None:
        data_dir = env.get("RIPPLE_DATA_DIR") or file_data_dir or "data"
    if config_path is not None and file_data_dir and not env.get("RIPPLE_DATA_DIR"):
        # a relative data_dir in ripple.toml is relative to the file, not to the working directory
        candidate = Path(data_dir)
        if not candidate.is_absolute() and str(data_dir) == str(file_data_dir):
            data_dir = config_path.parent / candidate

    settings = Settings(data_dir=Path(data_dir).resolve(), values=values, config_path=config_path)
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    """Reject settings that would only fail later, with a message that names the setting."""

    def number(section: str, key: str, low: float, high: float | None = None) -> None:
        value = settings.get(section, key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{section}.{key} must be a number, got {value!r}")
        if value < low or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"between {low} and {high}"
            raise ConfigError(f"{section}.{key} must be {bounds}, got {value!r}")

    number("run", "initial_lookback_days", 0)
    number("lake", "max_text_chars", 1)
    number("lake", "batch_rows", 1)
    number("demo", "scale", 0.001)
    number("membership", "window_days", 1)
    number("membership", "min_items", 1)
    number("overlap", "min_shared", 1)
    number("spread", "min_engagers", 0)
    number("spread", "min_outsider_share", 0, 1)
    number("cascades", "max_depth", 1)
    number("affect", "processes", 1)
    number("explain", "warmup_days", 0)
    for key in ("conversation_budget", "quote_budget", "retweet_budget", "max_roots", "query_budget"):
        number("x", key, 0)
    number("x", "max_results", 1, 100)
    number("reddit", "max_retries", 0)
    number("reddit", "retry_base_seconds", 0)
    number("reddit", "retry_max_seconds", 0)
    number("airflow", "retries", 0)
    number("airflow", "retry_delay_seconds", 0)
    if not isinstance(settings.get("run", "sources"), list):
        raise ConfigError("run.sources must be a list of source names")
    if not isinstance(settings.get("membership", "bots"), list):
        raise ConfigError("membership.bots must be a list of author names")
