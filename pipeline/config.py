"""Settings: ``ripple.toml`` plus environment variables, read into one typed model.

Precedence (highest first): explicit arguments (CLI flags, DAG arguments) > environment > ripple.toml > defaults.

* ``RIPPLE_CONFIG``: path of the TOML file (default: ``./ripple.toml`` if it exists).
* ``RIPPLE_DATA_DIR``: data directory (default ``./data``).
* ``RIPPLE__<SECTION>__<KEY>=value``: override any setting, e.g. ``RIPPLE__DEMO__SCALE=20``.
  Values are parsed as TOML scalars/arrays when possible (``3``, ``true``, ``["a", "b"]``), else taken as text.

Every section is a pydantic model below; code reads attributes (``settings.membership.window_days``).
Unknown sections and keys, values of the wrong type and values out of bounds stop loading with one
:class:`ConfigError` line that names the setting and where it came from. Adding a section is one :class:`Section`
subclass plus one line in :class:`Sections`; an API platform's section subclasses :class:`PlatformSection`
(retry settings).

Secrets (API credentials, the pseudonymisation key) are never read from ripple.toml: only from the environment,
PRAW's own configuration, or an Airflow connection handed in by the DAG.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterator, MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import ConfigError


class Section(BaseModel):
    """One ``[section]`` of ripple.toml: unknown keys and values of the wrong type are errors."""

    # validate_default: a default out of its own bounds fails at once, and 30 for a float field is 30.0
    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True, validate_default=True)


# ------------------------------------------------------------------------------------------------ sections
class RunSettings(Section):
    sources: list[str] = Field(["demo"], description="sources `ripple run` ingests, in order")
    initial_lookback_days: float = Field(
        120,
        ge=0,
        description="the first run (no run log yet) covers this many days before now: the membership window (90) "
        "plus four weeks, so the first report already has weeks outside the membership warm-up",
    )
    lock_lease_seconds: float = Field(
        300,
        ge=5,
        description="data directory on an object store: the writer lock is a lease this long, renewed while "
        "held; a holder that stops renewing it loses it when it expires",
    )


class LakeSettings(Section):
    max_text_chars: int = Field(
        40_000, ge=1, description="records whose title + text are longer are quarantined (`text over limit`)"
    )
    batch_rows: int = Field(50_000, ge=1, description="rows per Parquet row group / normalization batch")
    root: str = Field(
        "",
        description="where raw/, lake/ and quarantine/ live: empty for the data directory, a local directory, or an "
        "S3-compatible `s3://bucket/prefix` (endpoint and credentials from the AWS_* variables)",
    )


class PrivacySettings(Section):
    pseudonymize: bool = Field(True, description="replace author ids by a keyed hash and drop author names")


class DemoSettings(Section):
    seed: int = Field(42, description="random seed of the simulated world")
    scale: float = Field(
        0.25,
        ge=0.001,
        description="size: 1.0 = about 50k items over 30 days, 20 = about 1M; 0.25 = about 50k over the first "
        "run's 120 days",
    )
    page_delay_seconds: float = Field(
        0.0, description="pause after each page, to watch progress or rehearse a crash mid-ingest"
    )


class MembershipSettings(Section):
    window_days: int = Field(
        90,
        ge=1,
        description="an author is a member if they posted in the community in the window_days before t",
    )
    min_items: int = Field(1, ge=1, description="... at least min_items times")
    bots: list[str] = Field(
        ["AutoModerator", "[deleted]", "BotDefense", "RemindMeBot", "sneakpeekbot"],
        description="author names that never count as members or engagers",
    )


class OverlapSettings(Section):
    min_shared: int = Field(5, ge=1, description="community pairs with fewer shared members are left out")


class SpreadSettings(Section):
    min_engagers: int = Field(
        5, ge=0, description="an item escaped only with at least this many engagers ..."
    )
    min_outsider_share: float = Field(
        0.5, ge=0, le=1, description="... of whom at least this share are outsiders to the origin community"
    )


class CascadesSettings(Section):
    max_depth: int = Field(
        10_000,
        ge=1,
        description="a reply chain deeper than this is treated as corrupt and sent to the quality table",
    )


class CommunitiesSettings(Section):
    detect_platforms: list[str] | None = Field(
        None,
        description="platforms whose communities Leiden finds weekly; unset = the platforms declared without "
        "native communities (pipeline.platforms: x, bluesky); set = this list instead ([] = none); a platform "
        'whose section says community = "detected" is added either way',
    )
    resolution: float = Field(1.0, description="Leiden resolution parameter")
    seed: int = Field(42, description="Leiden seed")
    min_size: int = Field(5, description="detected communities smaller than this are dropped")
    match_jaccard: float = Field(
        0.2,
        description="a week's community keeps last week's label when their members overlap this much",
    )
    n_iterations: int = Field(-1, description="Leiden iterations; -1 = until the partition stops improving")


class AffectSettings(Section):
    enabled: bool = Field(True, description="score sentiment and emotion during `ripple run`")
    emotions: bool = Field(
        True,
        description="NRC EmoLex emotion scores; non-commercial research only: set false otherwise",
    )
    processes: int = Field(2, ge=1, description="worker processes")
    batch_size: int = Field(5_000, description="texts per batch (bounds memory)")


class ExplainSettings(Section):
    min_n: int = Field(200, description="a regression needs at least this many roots ...")
    min_events: int = Field(20, description="... and this many escaped and this many local ones")
    warmup_days: int = Field(
        7,
        ge=0,
        description="no longer read: roots in the membership warm-up (fct_item_spread.is_warmup, less than "
        "membership.window_days of history) are left out",
    )


class PlatformSection(Section):
    """Settings every API platform has: how transient failures (5xx, 429, timeouts) are retried."""

    max_retries: int = Field(
        5, ge=0, description="retries of 5xx, 429, timeouts and dropped connections (exponential backoff)"
    )
    retry_base_seconds: float = Field(2.0, ge=0, description="first backoff delay (doubles each retry)")
    retry_max_seconds: float = Field(120.0, ge=0, description="longest backoff delay")


class RedditSettings(PlatformSection):
    subreddits: list[str] = Field([], description="subreddits to collect every night")
    searches: list[str | dict[str, Any]] = Field(
        [], description='keyword searches: plain strings or {"query": "...", "subreddit": "all"}'
    )
    site: str = Field("ripple", description="praw.ini site name")
    replace_more_limit: int = Field(
        32, description="'load more' stubs expanded per thread; negative = no limit"
    )
    revisit_days: float = Field(3, description="submissions from the last N days are fetched again")
    submission_limit: int = Field(1000, description="newest submissions listed per subreddit and run")
    comment_sort: str = Field("confidence", description="comment sort requested for threads")


class XSettings(PlatformSection):
    queries: list[str] = Field([], description="recent-search queries")
    max_results: int = Field(100, ge=1, le=100, description="page size")
    conversation_budget: int = Field(500, ge=0, description="tweets fetched per conversation")
    quote_budget: int = Field(100, ge=0, description="quote tweets fetched per root")
    retweet_budget: int = Field(100, ge=0, description="retweeters fetched per root (0 = none)")
    max_roots: int = Field(
        200, ge=0, description="roots whose conversation, quotes and retweeters are completed per run"
    )
    query_budget: int = Field(0, ge=0, description="search pages per query and run; 0 = no limit")


class BlueskySettings(PlatformSection):
    service_url: str = Field("https://bsky.social", description="where to log in (the account's PDS)")
    appview_url: str = Field("https://public.api.bsky.app", description="where anonymous reads go")
    queries: list[str] = Field([], description="app.bsky.feed.searchPosts queries")
    accounts: list[str] = Field([], description="handles or DIDs whose posts are read with getAuthorFeed")
    feeds: list[str] = Field([], description="feed generator URIs read with getFeed")
    lists: list[str] = Field([], description="list URIs read with getListFeed")
    community: Literal["detected", "feed"] = Field(
        "detected", description='"detected" (Leiden, like X) or "feed": the feed or list a root was found in'
    )
    page_size: int = Field(100, ge=1, le=100, description="items per request")
    query_budget: int = Field(
        0, ge=0, description="posts per query / account / feed / list and run; 0 = no limit"
    )
    max_roots: int = Field(
        200, ge=0, description="roots whose thread, quotes and reposts are completed per run"
    )
    thread_depth: int = Field(1000, ge=0, description="reply depth asked of getPostThread")
    quote_budget: int = Field(100, ge=0, description="quotes fetched per root (0 = none)")
    repost_budget: int = Field(100, ge=0, description="reposters fetched per root (0 = none)")
    max_rate_limit_wait_seconds: float = Field(
        960,
        ge=0,
        description="longest wait for a ratelimit-reset; beyond it the run stops and a re-run resumes",
    )
    jetstream_url: str = Field(
        "wss://jetstream2.us-east.bsky.network/subscribe",
        description="Jetstream endpoint of `ripple stream bluesky`",
    )
    jetstream_dids: list[str] = Field(
        [], description="only these accounts (wantedDids); empty = the whole network"
    )
    jetstream_keywords: list[str] = Field([], description="keep only posts whose text contains one of these")
    stream_commit_seconds: float = Field(
        300, gt=0, description="the stream commits its buffer at least this often"
    )
    stream_buffer: int = Field(10_000, ge=1, description="events held in memory at most")
    stream_max_backoff_seconds: float = Field(60, ge=0, description="longest wait between reconnects")


class MastodonSettings(PlatformSection):
    instances: list[str] = Field(
        [], description='instance URLs to read ("https://mastodon.social"); every timeline is read on each'
    )
    hashtags: list[str] = Field([], description="hashtag timelines, without #")
    public_local: bool = Field(False, description="also read each instance's local public timeline")
    public_federated: bool = Field(False, description="also read each instance's federated public timeline")
    community: Literal["instance", "detected"] = Field(
        "instance", description='"instance": the author\'s home instance; "detected": Leiden, like X'
    )
    page_size: int = Field(40, ge=1, le=40, description="statuses per timeline request")
    timeline_budget: int = Field(0, ge=0, description="statuses per instance, timeline and run; 0 = no limit")
    max_roots: int = Field(
        200, ge=0, description="roots whose thread, boosts and quotes are completed per run"
    )
    reblog_budget: int = Field(100, ge=0, description="rebloggers fetched per root (0 = none)")
    quote_budget: int = Field(100, ge=0, description="quotes fetched per root (0 = none; needs a token)")
    parent_budget: int = Field(
        200, ge=0, description="statuses fetched per run to resolve parents named by a local id (0 = never)"
    )


class WarehouseSettings(Section):
    threads: int = Field(2, description="DuckDB threads for the build")
    memory_limit: str = Field(
        "3GB", description="DuckDB memory limit for the build (the published file: defaults)"
    )
    cache_dir: str = Field(
        "",
        description="data directory on an object store: where the build writes its candidate and readers keep "
        "downloaded warehouse versions (empty = $XDG_CACHE_HOME/ripple, else ~/.cache/ripple)",
    )
    keep_versions: int = Field(
        5, ge=1, description="data directory on an object store: published warehouse versions kept there"
    )


class ReportSettings(Section):
    top_items: int = Field(20, description="escaped items listed in the weekly report")


class AlertsSettings(Section):
    min_z: float = Field(3.5, gt=0, description="alert when |robust z| (median/MAD) reaches this")
    baseline_weeks: int = Field(
        8, ge=2, description="a series is compared with its previous N weeks with data"
    )
    min_baseline_weeks: int = Field(4, ge=2, description="... and needs at least this many of them")
    min_count: int = Field(10, ge=0, description="the week's value or the baseline median must reach this")
    webhook_url: str = Field("", description="the nightly DAG POSTs the week's alerts here (empty = do not)")
    connection_id: str = Field(
        "ripple_alerts", description="Airflow connection (http or email) used when webhook_url is empty"
    )


class AirflowSettings(Section):
    nightly_schedule: str = Field(
        "0 2 * * *",
        description="cron (UTC) of the ripple_nightly DAG; each run covers the time since the last tick",
    )
    retries: int = Field(3, ge=0, description="retries of every DAG task (exponential backoff)")
    retry_delay_seconds: float = Field(
        120, ge=0, description="first retry delay; doubles on every retry, capped at an hour"
    )
    lock_wait_seconds: float = Field(
        3600,
        ge=0,
        description="how long a task waits for another writer on the data directory before it fails (and retries)",
    )
    lake_connection_id: str = Field(
        "ripple_lake",
        description="Airflow connection (type aws: login/password = access keys, extra endpoint_url, region_name) "
        "of a data directory on an object store; without it the AWS variables are used",
    )


class Sections(BaseModel):
    """The sections of ripple.toml, in the order of docs/configuration.md: one line per section."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    run: RunSettings = Field(default_factory=RunSettings)
    lake: LakeSettings = Field(default_factory=LakeSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    membership: MembershipSettings = Field(default_factory=MembershipSettings)
    overlap: OverlapSettings = Field(default_factory=OverlapSettings)
    spread: SpreadSettings = Field(default_factory=SpreadSettings)
    cascades: CascadesSettings = Field(default_factory=CascadesSettings)
    communities: CommunitiesSettings = Field(default_factory=CommunitiesSettings)
    affect: AffectSettings = Field(default_factory=AffectSettings)
    explain: ExplainSettings = Field(default_factory=ExplainSettings)
    reddit: RedditSettings = Field(default_factory=RedditSettings)
    x: XSettings = Field(default_factory=XSettings)
    bluesky: BlueskySettings = Field(default_factory=BlueskySettings)
    mastodon: MastodonSettings = Field(default_factory=MastodonSettings)
    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    airflow: AirflowSettings = Field(default_factory=AirflowSettings)


# section name -> its model class
SECTIONS: dict[str, type[Section]] = {
    name: field.annotation  # type: ignore[misc]
    for name, field in Sections.model_fields.items()
}

# every setting's default, as plain values ({section: {key: value}})
DEFAULTS: dict[str, dict[str, Any]] = Sections().model_dump()


class UnknownSettingError(KeyError):
    """Code asked for a section or key that does not exist (a typo in the code, not in the user's file)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Settings(Sections):
    """Every setting, plus where the data lives and which file the settings came from."""

    data_dir: Path
    config_path: Path | None = None
    #: the data directory on an object store (``s3://bucket/prefix``), or None for a local one; ``data_dir`` is
    #: then the local work directory (:func:`local_work_dir`)
    data_uri: str | None = None

    # ------------------------------------------------------------------------ compatibility with the dict API
    def section(self, name: str) -> SectionView:
        """A live dict-like view of one section; assignments are validated like the file's values."""
        if name not in SECTIONS:
            raise UnknownSettingError(f"unknown settings section [{name}]{_suggest(name, SECTIONS)}")
        return SectionView(name, getattr(self, name))

    @property
    def values(self) -> dict[str, dict[str, Any]]:
        """A copy of every setting as plain values: ``{section: {key: value}}``."""
        return {name: getattr(self, name).model_dump() for name in SECTIONS}

    def entries(self) -> Iterator[tuple[str, str, Any]]:
        """Every setting as ``(section, key, value)``, e.g. to expose them to SQL."""
        for name in SECTIONS:
            for key, value in getattr(self, name).model_dump().items():
                yield name, key, value

    # ------------------------------------------------- directories of the data layout (docs/data-contract.md)
    @property
    def lake_root(self) -> str:
        """Where raw/, lake/ and quarantine/ live: ``lake.root`` (a directory or ``s3://bucket/prefix``) or the data
        directory."""
        root = self.lake.root.strip()
        if not root:
            return str(self.data_dir)
        if self.lake_remote:
            return root.rstrip("/")
        return str(Path(root).expanduser().resolve())

    @property
    def lake_remote(self) -> bool:
        """Whether the lake is on an object store (its files are then read and written through
        :mod:`pipeline.storage`, and only files named in committed manifests count)."""
        return self.lake.root.strip().lower().startswith(("s3://", "s3a://"))

    @property
    def spool_dir(self) -> Path:
        """Local scratch space of a run whose lake is on an object store (files before their upload)."""
        return self.data_dir / "spool"

    @property
    def lake_base(self) -> Path:
        return self.data_dir if self.lake_remote else Path(self.lake_root)

    @property
    def raw_dir(self) -> Path:
        return self.lake_base / "raw"

    @property
    def lake_dir(self) -> Path:
        return self.lake_base / "lake"

    @property
    def posts_dir(self) -> Path:
        return self.lake_dir / "posts"

    @property
    def state_dir(self) -> Path:
        return self.data_dir / "state"

    @property
    def quarantine_dir(self) -> Path:
        return self.lake_base / "quarantine"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def sources(self) -> list[str]:
        return list(self.run.sources)


class SectionView(MutableMapping[str, Any]):
    """``settings.section("reddit")``: reads and validated writes of one section's attributes."""

    def __init__(self, name: str, model: Section):
        self._name = name
        self._model = model

    def _check(self, key: str) -> None:
        if key not in type(self._model).model_fields:
            fields = type(self._model).model_fields
            raise UnknownSettingError(f"unknown setting {self._name}.{key}{_suggest(key, fields)}")

    def __getitem__(self, key: str) -> Any:
        self._check(key)
        return getattr(self._model, key)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return self[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._check(key)
        try:
            setattr(self._model, key, value)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, self._name, {})) from None

    def __delitem__(self, key: str) -> None:
        self._check(key)
        setattr(self._model, key, type(self._model).model_fields[key].get_default(call_default_factory=True))

    def __iter__(self) -> Iterator[str]:
        return iter(type(self._model).model_fields)

    def __len__(self) -> int:
        return len(type(self._model).model_fields)


# ------------------------------------------------------------------------------------------------ messages
def _suggest(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(known)})"


_TYPE_NAMES = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "a table",
}


def _bounds(error: Any) -> str | None:
    """'between 0 and 1' / '>= 1' from a bounds error, None for any other error."""
    ctx = error.get("ctx") or {}
    if error["type"] not in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return None
    return ", ".join(
        f"{op} {ctx[k]}" for k, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")) if k in ctx
    )


def _describe(exc: ValidationError, section: str, origins: dict[str, str]) -> str:
    """One line for the first error of a section's validation: where it came from, the key, what is wrong."""
    error = exc.errors()[0]
    key = str(error["loc"][0]) if error["loc"] else ""
    where = f"{section}.{key}" + "".join(f"[{part}]" for part in error["loc"][1:] if isinstance(part, int))
    prefix = f"{origins[key]}: " if key in origins else ""
    model = SECTIONS[section]
    field = model.model_fields.get(key)
    bounds = _bounds(error)
    if bounds is not None and field is not None:
        low = next((m.ge for m in field.metadata if getattr(m, "ge", None) is not None), None)
        high = next((m.le for m in field.metadata if getattr(m, "le", None) is not None), None)
        wanted = f"between {low} and {high}" if low is not None and high is not None else bounds
    else:
        wanted = _TYPE_NAMES.get(error["type"], error["msg"].removeprefix("Input should be "))
    return f"{prefix}{where} must be {wanted}, got {error['input']!r}"


# ------------------------------------------------------------------------------------------------ loading
def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


class _Layers:
    """The values given by the file, the environment and the arguments, with where each one came from."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {}
        self.origins: dict[tuple[str, str], str] = {}

    def set(self, origin: str, section: str, key: str, value: Any) -> None:
        model = SECTIONS.get(section)
        if model is None:
            raise ConfigError(f"{origin}: [{section}]: unknown section{_suggest(section, SECTIONS)}")
        if key not in model.model_fields:
            raise ConfigError(
                f"{origin}: {section}.{key}: unknown setting{_suggest(key, model.model_fields)}"
            )
        self.values.setdefault(section, {})[key] = value
        self.origins[(section, key)] = origin

    def merge(self, origin: str, tables: dict[str, Any]) -> None:
        for section, table in tables.items():
            if not isinstance(table, dict):
                if section in SECTIONS:
                    raise ConfigError(f"{origin}: [{section}] must be a table, got {type(table).__name__}")
                raise ConfigError(
                    f"{origin}: {section}: unknown setting{_suggest(section, [*SECTIONS, 'data_dir'])}"
                )
            for key, value in table.items():
                self.set(origin, section, key, value)

    def merge_environment(self, env: MutableMapping[str, str] | dict[str, str]) -> None:
        for name, raw in env.items():
            if not name.startswith("RIPPLE__"):
                continue
            parts = name[len("RIPPLE__") :].lower().split("__")
            if len(parts) != 2:
                raise ConfigError(f"{name}: expected RIPPLE__<SECTION>__<KEY>")
            section, key = parts
            value = _parse_env_value(raw)
            model = SECTIONS.get(section)
            field = model.model_fields.get(key) if model is not None else None
            if field is not None and field.annotation is str and not isinstance(value, str):
                value = raw  # a text setting keeps the text as typed (RIPPLE__REDDIT__SITE=2024 is "2024")
            self.set(name, section, key, value)

    def sections(self) -> dict[str, Section]:
        built = {}
        for section, table in self.values.items():
            try:
                built[section] = SECTIONS[section].model_validate(table)
            except ValidationError as exc:
                origins = {key: origin for (name, key), origin in self.origins.items() if name == section}
                raise ConfigError(_describe(exc, section, origins)) from None
        return built


def _find_config(config: str | os.PathLike[str] | None, env: Any) -> Path | None:
    if config is not None:
        path = Path(config)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path
    if env.get("RIPPLE_CONFIG"):
        path = Path(env["RIPPLE_CONFIG"])
        if not path.is_file():
            raise ConfigError(f"RIPPLE_CONFIG points to a missing file: {path}")
        return path
    return Path("ripple.toml") if Path("ripple.toml").is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {str(exc).splitlines()[0]}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _remote(location: Any) -> bool:
    return str(location).lower().startswith(("s3://", "s3a://"))


def _data_location(given: Any, env: Any, config_path: Path | None, file_data_dir: Any) -> Path | str:
    """The data directory as given: a local path (resolved) or an object-store URI (``s3://bucket/prefix``)."""
    for value in (given, env.get("RIPPLE_DATA_DIR") or None, file_data_dir):
        if value is not None and _remote(value):
            return "s3://" + str(value).split("://", 1)[1].strip("/")
    return _data_dir(given, env, config_path, file_data_dir)


def local_work_dir(cache_dir: str, data_uri: str) -> Path:
    """The local directory of a data directory on an object store: the build's candidate, DuckDB's temporary
    files and the cached warehouse versions (``<cache_dir>/<bucket>/<prefix>``)."""
    base = Path(cache_dir).expanduser() if cache_dir else None
    if base is None:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "ripple"
    return (base / data_uri.split("://", 1)[1].replace(":", "_")).resolve()


def _data_dir(given: Any, env: Any, config_path: Path | None, file_data_dir: Any) -> Path:
    if given is not None:
        return Path(given).resolve()
    if env.get("RIPPLE_DATA_DIR"):
        return Path(env["RIPPLE_DATA_DIR"]).resolve()
    if file_data_dir is not None and config_path is not None:
        if not isinstance(file_data_dir, str):
            raise ConfigError(f"{config_path}: data_dir must be text, got {file_data_dir!r}")
        # a relative data_dir in ripple.toml is relative to the file, not to the working directory
        return (config_path.parent / file_data_dir).resolve()
    return Path("data").resolve()


def load_settings(
    config: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Build the settings from defaults, the TOML file, the environment and explicit overrides.

    Bad input of any kind raises :class:`ConfigError` (one line naming the setting), nothing else."""
    env = os.environ if environ is None else environ
    config_path = _find_config(config, env)
    layers = _Layers()
    file_data_dir = None
    if config_path is not None:
        data = _read_toml(config_path)
        file_data_dir = data.pop("data_dir", None)
        layers.merge(str(config_path), data)
    layers.merge_environment(env)
    if overrides:
        layers.merge("arguments", overrides)
    location = _data_location(data_dir, env, config_path, file_data_dir)
    sections = layers.sections()
    if isinstance(location, str):  # on an object store: the local work directory stands in as data_dir
        settings = Settings(data_dir=Path("."), config_path=config_path, data_uri=location, **sections)
        settings.data_dir = local_work_dir(settings.warehouse.cache_dir, location)
        if not settings.lake.root.strip():  # raw/, lake/ and quarantine/ go there too
            settings.lake.root = location
        return settings
    return Settings(data_dir=location, config_path=config_path, **sections)


def airflow_default_args(settings: Settings) -> dict[str, Any]:
    """``default_args`` of ripple's DAGs, from the ``[airflow]`` settings (no Airflow import needed)."""
    return {
        "owner": "ripple",
        "retries": settings.airflow.retries,
        # 2 min, 4 min, 8 min by default: long enough for a rate-limit window or a flaky API to recover
        "retry_delay": timedelta(seconds=settings.airflow.retry_delay_seconds),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(hours=1),
    }
