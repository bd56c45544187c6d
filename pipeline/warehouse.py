"""Build the DuckDB warehouse from the lake and publish it atomically.

The runner knows models, hooks and their dependencies, nothing about platforms. Order: register the raw inputs
(``src_*``, ``cfg_*`` and the reference tables sources leave in the lake) → every model and hook in dependency
order → every ``sql/tests/*.sql`` assertion → ``COMMENT ON`` from the model headers → publish.

Models: each ``sql/<layer>/<name>.sql`` holds one SELECT and is materialized as a table named after the file. A
model depends on every model (or hook output) it names in its body, and on those listed in a
``-- depends_on: a, b`` header line. Hooks are Python steps (``Hook``: community detection, the spread
explanation) passed in by the caller (``default_hooks()`` for production); a hook depends on the models it reads
(``depends_on``) and a model that reads a table a hook writes depends on the hook. Among the steps that are ready,
the runner takes layers in order (staging, the ``after_staging`` hooks, intermediate, marts, the ``after_marts``
hooks), then names alphabetically, so the order is reproducible.

Selection (``select=[...]``, dbt-like): ``name`` builds that model or hook only, ``+name`` the model and all its
ancestors, ``name+`` the model and all its descendants (their other inputs must already exist), ``+name+``
both. A build of a selection runs the assertions whose models were all built. The published file contains tables
only: the ``src_*`` views over the lake are dropped, so the warehouse is self-contained and can be copied elsewhere.

Publishing writes a new file next to ``warehouse.duckdb`` and renames it over the old one. A reader that has the
old file open keeps reading the old inode; a crash at any point leaves the previous warehouse as it was.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipeline import incremental, shared, versions
from pipeline.commits import attach
from pipeline.config import Settings
from pipeline.errors import AssertionFailed, BuildError
from pipeline.lake import committed_files, has_posts, lake_reference_tables, posts_source
from pipeline.locking import pid_alive
from pipeline.platforms import detected_platforms, platform_names
from pipeline.pseudonyms import Pseudonymizer, pseudonym_key
from pipeline.schema import POSTS_SCHEMA
from pipeline.sqlfiles import comment_on, sql_dir, sql_string

log = logging.getLogger(__name__)

LAYERS = ("staging", "intermediate", "marts")
#: when each kind of step runs among the ready ones: layers in order, hooks of a stage right after their layer
_RANK = {"staging": 0, "after_staging": 1, "intermediate": 2, "marts": 3, "after_marts": 4}

STALE_CANDIDATE_SECONDS = 2 * 86_400
# an assertion's "-- incremental: <model> by <columns>" header: its check stays exact when <model> holds only the
# rows whose <columns> are among those an incremental build inserted (see run_assertions)
_INCREMENTAL_HEADER = re.compile(r"^--\s*incremental:\s*([A-Za-z_][A-Za-z0-9_]*)\s+by\s+(.+)$", re.MULTILINE)
_HEADER = re.compile(r"^--\s*(grain|description|depends_on|column\s+([A-Za-z_][A-Za-z0-9_]*))\s*:\s*(.*)$")


_default_sql_dir = sql_dir  # the parameters named sql_dir below shadow the function


@dataclass
class Model:
    name: str
    layer: str
    path: Path
    sql: str
    grain: str | None = None
    description: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    depends_on: set[str] = field(default_factory=set)  # stated in the header
    deps: set[str] = field(default_factory=set)  # all of them: stated and found in the body

    @property
    def rank(self) -> int:
        return _RANK[self.layer]


@dataclass(frozen=True)
class Hook:
    """A Python step of the build, called as ``fn(con, settings) -> dict | None`` (``target`` = "module:function").

    ``stage`` places it among the layers (``after_staging`` or ``after_marts``); ``depends_on`` names the models it
    reads (a hook whose inputs are not models of the sql directory is skipped); ``writes`` names the tables it
    creates, so the models that read them are built after it. ``preload`` names modules the build imports in the
    background while DuckDB runs the models before the hook (libraries that take a second to import).
    """

    name: str
    target: str
    stage: str
    depends_on: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    preload: tuple[str, ...] = ()

    @property
    def rank(self) -> int:
        return _RANK[self.stage]


def default_hooks() -> list[Hook]:
    """The Python steps of a production build: community detection, the spread explanation, table comments."""
    return [
        Hook(
            name="detect_communities",
            target="pipeline.communities:detect_communities",
            stage="after_staging",
            depends_on=("int_interaction_edges",),
            writes=("int_detected_communities", "int_detected_partitions"),
            preload=("igraph", "leidenalg"),
        ),
        Hook(
            name="explain",
            target="pipeline.explain:explain",
            stage="after_marts",
            depends_on=("int_spread_features",),
            writes=("fct_spread_drivers", "fct_item_drivers"),
            preload=("statsmodels.api",),  # about 0.9 s
        ),
        Hook(
            # comments of the tables that Python writes (configuration, planted truth, detected communities)
            name="comment_tables",
            target="pipeline.table_comments:comment_tables",
            stage="after_marts",
            depends_on=("fct_item_spread",),
        ),
    ]


@dataclass
class BuildResult:
    path: Path | None = None
    tables: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    assertions: int = 0
    hooks: dict[str, Any] = field(default_factory=dict)
    mode: str = "full"  # or "incremental" (pipeline.incremental)
    reason: str = ""  # why this mode

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path) if self.path else None,
            "mode": self.mode,
            "reason": self.reason,
            "tables": self.tables,
            "assertions": self.assertions,
            "hooks": self.hooks,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


# ------------------------------------------------------------------------------------------------ models


def parse_model(path: Path, layer: str) -> Model:
    text = path.read_text(encoding="utf-8")
    model = Model(name=path.stem, layer=layer, path=path, sql=text.strip().rstrip(";").strip())
    last: str | None = None
    for line in text.splitlines():
        if not line.startswith("--"):
            if line.strip():
                break
            continue
        match = _HEADER.match(line)
        if match:
            last = _header_entry(model, *match.groups())
        elif last and line.startswith("--   "):
            _continue_entry(model, last, line[2:].strip())  # an indented line extends the previous entry
    return model


def _header_entry(model: Model, kind: str, column: str | None, value: str) -> str:
    value = value.strip()
    if column:
        model.columns[column] = value
        return f"column:{column}"
    if kind == "depends_on":
        model.depends_on |= {name.strip() for name in value.split(",") if name.strip()}
        return "depends_on"
    setattr(model, kind, value)
    return kind


def _continue_entry(model: Model, last: str, extra: str) -> None:
    if last.startswith("column:"):
        col = last.split(":", 1)[1]
        model.columns[col] += " " + extra
    elif last == "depends_on":
        model.depends_on |= {name.strip() for name in extra.split(",") if name.strip()}
    else:
        setattr(model, last, f"{getattr(model, last)} {extra}")


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def _find_dependencies(models: dict[str, Model], hooks: list[Hook]) -> None:
    """Fill ``Model.deps``: the models and hook outputs a model names, plus its ``depends_on`` header."""
    writers = {table: hook.name for hook in hooks for table in hook.writes}
    known = set(models) | set(writers) | {hook.name for hook in hooks}
    for model in models.values():
        unknown = model.depends_on - known
        if unknown:
            raise BuildError(
                f"model {model.layer}/{model.name} depends on unknown model(s): {sorted(unknown)}"
            )
        body = _strip_comments(model.sql)
        found = {n for n in set(models) | set(writers) if n != model.name and re.search(rf"\b{n}\b", body)}
        model.deps = {writers.get(n, n) for n in found | model.depends_on}


def _hook_deps(hooks: list[Hook], models: dict[str, Model]) -> dict[str, set[str]]:
    return {hook.name: {d for d in hook.depends_on if d in models} for hook in hooks}


def _order(nodes: dict[str, Model | Hook], deps: dict[str, set[str]]) -> list[str]:
    """Topological order; among ready steps the lowest rank (layer), then the name, goes first."""
    waiting = {name: set(deps[name]) for name in nodes}
    children: dict[str, set[str]] = {name: set() for name in nodes}
    for name, parents in waiting.items():
        for parent in parents:
            children[parent].add(name)
    ready = [(nodes[n].rank, n) for n, parents in waiting.items() if not parents]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for child in sorted(children[name]):
            waiting[child].discard(name)
            if not waiting[child]:
                heapq.heappush(ready, (nodes[child].rank, child))
    if len(order) < len(nodes):
        raise BuildError(f"dependency cycle: {' -> '.join(_find_cycle(deps, set(nodes) - set(order)))}")
    return order


def _find_cycle(deps: dict[str, set[str]], left: set[str]) -> list[str]:
    """One cycle among the steps that could not be ordered, starting at the first name."""
    chain = [min(left)]
    while True:
        step = min(d for d in deps[chain[-1]] if d in left)
        if step in chain:
            return [*chain[chain.index(step) :], step]
        chain.append(step)


def _read_models(root: Path) -> dict[str, Model]:
    models: dict[str, Model] = {}
    for layer in LAYERS:
        for path in sorted((root / layer).glob("*.sql")):
            if path.stem in models:
                raise BuildError(f"two models are named {path.stem}: {models[path.stem].path} and {path}")
            models[path.stem] = parse_model(path, layer)
    return models


@dataclass
class Plan:
    """What a build runs, in order: models and hooks."""

    steps: list[Model | Hook]
    all_models: set[str] = field(default_factory=set)  # every model of the sql directory, selected or not

    @property
    def models(self) -> list[Model]:
        return [s for s in self.steps if isinstance(s, Model)]


def plan_build(
    root: Path | None = None, hooks: Iterable[Hook] = (), select: Iterable[str] | None = None
) -> Plan:
    """The models and hooks of ``root`` (default ``sql_dir()``) in build order, restricted to ``select``."""
    hooks = list(hooks)
    models = _read_models(root or _default_sql_dir())
    _find_dependencies(models, hooks)
    deps = {name: model.deps for name, model in models.items()}
    deps.update(_hook_deps(hooks, models))
    nodes: dict[str, Model | Hook] = {**models, **{hook.name: hook for hook in hooks}}
    order = _order(nodes, deps)
    if select is not None:
        chosen = _select(deps, list(select))
        order = [name for name in order if name in chosen]
    return Plan(steps=[nodes[name] for name in order], all_models=set(models))


def _select(deps: dict[str, set[str]], selectors: list[str]) -> set[str]:
    children: dict[str, set[str]] = {name: set() for name in deps}
    for name, parents in deps.items():
        for parent in parents:
            children[parent].add(name)
    chosen: set[str] = set()
    for selector in selectors:
        name = selector.strip("+")
        if name not in deps:
            raise BuildError(f"unknown model or hook in selection: {name}")
        chosen.add(name)
        if selector.startswith("+"):
            chosen |= _reach(name, deps)
        if selector.endswith("+"):
            chosen |= _reach(name, children)
    return chosen


def _reach(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in edges[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def load_models(sql_dir: Path | None = None, hooks: Iterable[Hook] | None = None) -> list[Model]:
    """All models in build order (dependencies first; among ready ones layer order, then name)."""
    return plan_build(sql_dir, default_hooks() if hooks is None else hooks).models


# ------------------------------------------------------------------------------------------------ inputs


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        return f"{value!r}::double"
    if isinstance(value, list):
        return "[" + ", ".join(_sql_literal(v) for v in value) + "]"
    return sql_string(str(value))


def set_variables(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Expose every scalar/list setting to SQL as getvariable('<section>_<key>')."""
    for section, table in settings.values.items():
        for key, value in table.items():
            if isinstance(value, bool | int | float | str) or (
                isinstance(value, list) and all(isinstance(v, bool | int | float | str) for v in value)
            ):
                if isinstance(value, list) and not value:
                    value_sql = "[]::varchar[]"
                else:
                    value_sql = _sql_literal(value)
                con.execute(f"set variable {section}_{key} = {value_sql}")


def _empty_posts_table() -> pa.Table:
    schema = POSTS_SCHEMA.append(pa.field("date", pa.date32()))
    return schema.empty_table()


def register_sources(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """The raw inputs of the SQL models: src_posts, src_affect, src_quarantine, src_runs, cfg_bots,
    cfg_detect_platforms and the reference tables sources write next to the lake (``lake/<name>/<table>.parquet``
    -> ``<name>_<table>``).
    On an object store (``lake.root = "s3://..."``) only committed files are read, through the fsspec
    filesystem registered with the connection.
    """
    attach(con, settings)
    _register_posts(con, settings)
    _register_affect(con, settings)
    _register_operations(con, settings)
    _register_bots(con, settings)
    _register_detect_platforms(con, settings)
    return _register_reference_tables(con, settings)


def _sql_files(files: str | list[str]) -> str:
    """A glob or a list of files as a SQL literal for read_parquet / read_json."""
    if isinstance(files, str):
        return sql_string(files)
    return "[" + ", ".join(sql_string(f) for f in files) + "]"


def _parquet_view(
    con: duckdb.DuckDBPyConnection, name: str, files: str | list[str], hive_types: str = ""
) -> None:
    con.execute(
        f"create or replace view {name} as select * from read_parquet({_sql_files(files)}, "
        f"hive_partitioning = true, union_by_name = true{hive_types})"
    )


def register_new_files(con: duckdb.DuckDBPyConnection, added: dict[str, list[str]]) -> None:
    """``src_posts_new`` and ``src_affect_new``: the lake files added since the last build (incremental builds)."""
    from pipeline.affect import AFFECT_ARROW_SCHEMA

    empty = {"posts": _empty_posts_table(), "affect": AFFECT_ARROW_SCHEMA.empty_table()}
    for kind, files in added.items():
        name = f"src_{kind}_new"
        if files:
            types = ", hive_types = {'platform': varchar, 'date': date}" if kind == "posts" else ""
            _parquet_view(con, name, files, types)
        else:
            empty_table = empty[kind]  # noqa: F841  (referenced by name below)
            con.execute(f"create or replace table {name} as select * from empty_table")


def _register_posts(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    if has_posts(settings):
        types = ", hive_types = {'platform': varchar, 'date': date}"
        _parquet_view(con, "src_posts", posts_source(settings), types)
    else:
        empty = _empty_posts_table()  # noqa: F841  (referenced by name below)
        con.execute("create or replace table src_posts as select * from empty")


def _register_affect(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    if settings.lake_remote:
        files = [f.path for f in committed_files(settings, "affect")]
        if files:
            _parquet_view(con, "src_affect", files)
            return
    elif any((settings.lake_dir / "affect").glob("**/*.parquet")):
        _parquet_view(con, "src_affect", str(settings.lake_dir / "affect" / "**" / "*.parquet"))
        return
    from pipeline.affect import AFFECT_ARROW_SCHEMA

    empty_affect = AFFECT_ARROW_SCHEMA.empty_table()  # noqa: F841  (referenced by name below)
    con.execute("create or replace table src_affect as select * from empty_affect")


def _register_bots(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """cfg_bots: the configured bot accounts of every known platform, pseudonymised like the lake's authors."""
    platforms = set(platform_names())
    platforms |= {row[0] for row in con.execute("select distinct platform from src_posts").fetchall()}
    bots = [str(b) for b in settings.membership.bots]
    pseudo = Pseudonymizer(pseudonym_key(settings)) if settings.privacy.pseudonymize else None
    rows = [(p, pseudo(p, b) if pseudo else b, b) for p in sorted(platforms) for b in bots]
    con.execute("create or replace table cfg_bots (platform varchar, author_id varchar, author_name varchar)")
    if rows:
        con.executemany("insert into cfg_bots values (?, ?, ?)", rows)


def _register_detect_platforms(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """cfg_detect_platforms: the platforms whose communities are detected (pipeline.platforms.detected_platforms)."""
    con.execute("create or replace table cfg_detect_platforms (platform varchar)")
    platforms = detected_platforms(settings)
    if platforms:
        con.executemany("insert into cfg_detect_platforms values (?)", [(p,) for p in platforms])


def _register_reference_tables(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """Single files a source writes beside the lake (a simulator's planted truth) become ``<dir>_<stem>`` tables."""
    counts = {}
    for name, path in lake_reference_tables(settings):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            continue
        con.execute(f"create or replace table {name} as select * from read_parquet({_sql_files(path)})")
        counts[name] = con.execute(f"select count(*) from {name}").fetchall()[0][0]
    return counts


QUARANTINE_COLUMNS = {"source": "varchar", "run_id": "varchar", "reason": "varchar", "location": "varchar"}
RUN_LOG_COLUMNS = {
    "run_id": "varchar",
    "since": "timestamptz",
    "until": "timestamptz",
    "status": "varchar",
    "started_at": "timestamptz",
    "finished_at": "timestamptz",
    "rows": "bigint",
    "quarantined": "bigint",
    "failed_sources": "json",
    "resumed": "boolean",
}


def _columns_sql(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}"


def _register_operations(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Quarantine records and the run log, so the warehouse alone can tell what went wrong (report section)."""
    quarantine: Path | list[str] = settings.quarantine_dir / "*" / "*.jsonl"
    if settings.lake_remote:
        quarantine = [f.path for f in committed_files(settings, "quarantine")]
        found = bool(quarantine)
    else:
        found = any(settings.quarantine_dir.glob("*/*.jsonl"))
    _json_lines_table(con, "src_quarantine", quarantine, QUARANTINE_COLUMNS, found, with_filename=True)
    runs = shared.local_state_copy(settings, "runs.jsonl")
    found = runs.exists() and runs.stat().st_size > 0
    _json_lines_table(con, "src_runs", runs, RUN_LOG_COLUMNS, found)


def _json_lines_table(
    con: duckdb.DuckDBPyConnection,
    name: str,
    path: Path | list[str],
    columns: dict[str, str],
    found: bool,
    with_filename: bool = False,
) -> None:
    """``name`` from the JSON-lines file(s) at ``path`` (a glob or a list), or empty with the same columns."""
    if found:
        source = _sql_files(path if isinstance(path, list) else str(path))
        extra = ", filename = true" if with_filename else ""
        con.execute(
            f"create or replace table {name} as select * from read_json({source}, "
            f"format = 'newline_delimited', columns = {_columns_sql(columns)}{extra})"
        )
    else:
        cols = ", ".join(f"{k} {v}" for k, v in columns.items())
        filename = ", filename varchar" if with_filename else ""
        con.execute(f"create or replace table {name} ({cols}{filename})")


# ------------------------------------------------------------------------------------------------ the build


def _import_quietly(modules: list[str]) -> None:
    for name in modules:
        with contextlib.suppress(Exception):  # the hook's own import says what is wrong
            import_module(name)


def preload(hooks: Iterable[Hook]) -> threading.Thread | None:
    """Start a background thread that imports the hooks' ``preload`` modules: DuckDB releases the GIL while it runs
    the models, so the imports cost the build nothing. A hook that imports one of them first waits for it."""
    modules = [name for hook in hooks for name in hook.preload if name not in sys.modules]
    if not modules:
        return None
    thread = threading.Thread(target=_import_quietly, args=(modules,), name="ripple-preload", daemon=True)
    thread.start()
    return thread


def _run_hook(hook: Hook, con: duckdb.DuckDBPyConnection, settings: Settings, result: BuildResult) -> None:
    module_name, _, func_name = hook.target.partition(":")
    started = time.perf_counter()
    try:
        func: Callable[..., Any] = getattr(import_module(module_name), func_name)
        result.hooks[hook.target] = func(con, settings)
    except (BuildError, duckdb.Error) as exc:
        raise BuildError(f"build step {hook.target} failed: {exc}") from exc
    result.seconds[hook.target] = time.perf_counter() - started


def _run_model(model: Model, con: duckdb.DuckDBPyConnection, result: BuildResult) -> None:
    started = time.perf_counter()
    try:
        con.execute(f"create or replace table {model.name} as\n{model.sql}")
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        raise BuildError(f"model sql/{model.layer}/{model.name}.sql failed: {message}") from exc
    result.seconds[model.name] = time.perf_counter() - started
    result.tables[model.name] = con.execute(f"select count(*) from {model.name}").fetchall()[0][0]


Restriction = Callable[[str, str], "str | None"]


def run_assertions(
    con: duckdb.DuckDBPyConnection,
    sql_dir: Path | None = None,
    built: Iterable[str] | None = None,
    restrict: Restriction | None = None,
) -> int:
    """Run the sql/tests assertions (with ``built``: only those whose models were all built); the first one that
    returns rows fails the build.

    ``restrict(model, columns)`` (an incremental build) gives, for an assertion headed ``-- incremental: <model> by
    <columns>``, a query of the rows of ``<model>`` it needs to check, or None for the whole table: the rows the
    build carried over passed the same assertion when they were built, so a check of single rows, or of groups
    by those columns, only needs the groups the build wrote into.
    """
    root = sql_dir or _default_sql_dir()
    models = set(_read_models(root)) if built is not None else set()
    count = 0
    for path in sorted((root / "tests").glob("*.sql")):
        sql = path.read_text(encoding="utf-8").strip().rstrip(";")
        if built is not None and not _covered(sql, set(built), models):
            continue
        shadows: dict[str, str] = {}
        if restrict is not None:
            for model, columns in _INCREMENTAL_HEADER.findall(sql):
                query = restrict(model, columns.strip())
                if query is not None:
                    shadows[model] = query
        started = time.perf_counter()
        _check_assertion(con, path.stem, sql, shadows)
        log.debug(
            "assertion %s%s: %.2fs",
            path.stem,
            " (restricted)" if shadows else "",
            time.perf_counter() - started,
        )
        count += 1
    return count


def _covered(sql: str, built: set[str], models: set[str]) -> bool:
    body = _strip_comments(sql)
    named = {m for m in models if re.search(rf"\b{m}\b", body)}
    return bool(named) and named <= built


CHECKED = "ripple_checked"  # in-memory database of the restricted views an assertion reads instead of the whole tables


def _check_assertion(
    con: duckdb.DuckDBPyConnection, name: str, sql: str, shadows: dict[str, str] | None = None
) -> None:
    if shadows:
        con.execute(f"attach ':memory:' as {CHECKED}")
        for model, query in shadows.items():
            # a view: an assertion reads the few columns it needs of the rows the build wrote
            con.execute(f"create view {CHECKED}.{model} as {query}")
        con.execute(f"set search_path = '{CHECKED},main'")
    try:
        rel = con.sql(f"select * from ({sql}) as violations")
        n = con.execute(f"select count(*) from ({sql}) as violations").fetchall()[0][0]
        sample = rel.limit(5).fetchall() if n else []  # before the restricted views go
        cols = rel.columns
    except duckdb.Error as exc:
        raise BuildError(f"assertion {name} could not run: {exc}") from exc
    finally:
        if shadows:
            con.execute("reset search_path")
            con.execute(f"detach {CHECKED}")
    if n:
        shown = "; ".join(", ".join(f"{c}={v!r}" for c, v in zip(cols, row, strict=False)) for row in sample)
        raise AssertionFailed(f"assertion {name} failed: {n} violating row(s), e.g. {shown}")


def apply_comments(con: duckdb.DuckDBPyConnection, models: list[Model]) -> None:
    for model in models:
        parts = [p for p in (f"Grain: {model.grain}." if model.grain else None, model.description) if p]
        comment_on(con, model.name, " ".join(parts), model.columns)


def build_database(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    progress: Callable[[str], None] | None = None,
    sql_dir: Path | None = None,
    hooks: Iterable[Hook] | None = None,
    select: Iterable[str] | None = None,
) -> BuildResult:
    """Run the model graph on an open connection (no publish).

    ``hooks`` defaults to ``default_hooks()``; ``select`` restricts the build (see the module docstring).
    """
    root = sql_dir or _default_sql_dir()
    plan = plan_build(root, default_hooks() if hooks is None else hooks, select)
    result = BuildResult()
    set_variables(con, settings)
    result.tables.update(register_sources(con, settings))
    for step in plan.steps:
        if isinstance(step, Model):
            if progress:
                progress(f"{step.layer}/{step.name}")
            _run_model(step, con, result)
        elif set(step.depends_on) <= plan.all_models:
            _run_hook(step, con, settings, result)
        else:
            result.hooks[step.target] = {
                "skipped": f"no model {sorted(set(step.depends_on) - plan.all_models)}"
            }
    if progress:
        progress("tests")
    built = None if select is None else {m.name for m in plan.models}
    result.assertions = run_assertions(con, root, built)
    apply_comments(con, plan.models)
    _finish(con, result, len(plan.models))
    return result


def _finish(con: duckdb.DuckDBPyConnection, result: BuildResult, n_models: int) -> None:
    """Drop the views over the lake, count the tables Python steps wrote, stamp the build."""
    for name, kind in con.execute(
        "select table_name, table_type from information_schema.tables where table_name like 'src\\_%' escape '\\'"
    ).fetchall():
        con.execute(f"drop {'view' if kind == 'VIEW' else 'table'} if exists {name}")
    # tables written by Python steps (community detection, explain) are reported like the models
    for (name,) in con.execute("select table_name from duckdb_tables() where not internal").fetchall():
        if name not in result.tables:
            result.tables[name] = con.execute(f"select count(*) from {name}").fetchall()[0][0]
    con.execute(
        "create or replace table ripple_build as select ?::timestamptz as built_at, ? as models",
        [datetime.now(UTC), n_models],
    )
    con.execute("comment on table ripple_build is 'Grain: one row. When this warehouse file was built.'")


# ------------------------------------------------------------------------------------------------ publish


def cleanup_stale_builds(settings: Settings) -> int:
    """Remove half-built files left by a build that was killed."""
    removed = 0
    for path in settings.data_dir.glob(f".{settings.warehouse_path.name}.building-*"):
        label = path.name.split(".building-", 1)[1].split(".")[0]
        if label.isdigit():
            if pid_alive(int(label)) and int(label) != os.getpid():
                continue
        elif time.time() - path.stat().st_mtime < STALE_CANDIDATE_SECONDS:
            # a labelled candidate (an Airflow run between its build and publish tasks) is kept for a while
            continue
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def candidate_path(settings: Settings, label: str | None = None) -> Path:
    target = settings.warehouse_path
    return target.with_name(f".{target.name}.building-{label or os.getpid()}")


def _configure(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    con.execute(f"set threads = {settings.warehouse.threads}")
    # an as-of join whose left side looks small becomes a nested loop over the whole right side: on the restricted
    # inputs of an incremental build that turned fct_item_spread's membership lookup from 0.3 s into 25 s
    con.execute("set asof_loop_join_threshold = 0")
    memory_limit = settings.warehouse.memory_limit
    if memory_limit:
        con.execute(f"set memory_limit = '{memory_limit}'")
    con.execute(f"set temp_directory = '{str(settings.data_dir / '.duckdb_tmp')}'")


def _remove_candidate(tmp: Path) -> None:
    tmp.unlink(missing_ok=True)
    Path(str(tmp) + ".wal").unlink(missing_ok=True)


def build_candidate(
    settings: Settings,
    *,
    label: str | None = None,
    progress: Callable[[str], None] | None = None,
    sql_dir: Path | None = None,
    hooks: Iterable[Hook] | None = None,
    skip_hooks: tuple[str, ...] = (),
    full: bool = False,
) -> tuple[Path, BuildResult]:
    """Build a complete new warehouse file next to the published one, without publishing it.

    The build is incremental when it can be (:mod:`pipeline.incremental`): it starts from a copy of the published
    warehouse and recomputes what the lake files added since change; ``full=True`` rebuilds everything.
    ``label`` names the file (the Airflow DAG passes its run id so that later tasks find it); by default the
    process id is used and a candidate left behind by a dead process is cleaned up by the next build. ``hooks``
    defaults to ``default_hooks()``; the hooks of the stages in ``skip_hooks`` are left out (the DAG runs the
    ``after_marts`` ones as a task of their own with ``run_hooks_on``).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    cleanup_stale_builds(settings)
    versions.sync_local_copy(settings)  # the previous warehouse may come from another build worker
    tmp = candidate_path(settings, label)
    _remove_candidate(tmp)
    steps = [h for h in (default_hooks() if hooks is None else hooks) if h.stage not in skip_hooks]
    root = sql_dir or _default_sql_dir()
    files = incremental.lake_files(settings)
    fingerprint = incremental.build_fingerprint(settings, root)
    decision = incremental.Decision(False, "a full rebuild was asked for")
    if not full:
        decision = incremental.decide(settings, fingerprint, files)
    started = time.perf_counter()
    loading = preload(steps)
    con = None
    try:
        if decision.incremental:
            incremental.copy_published(settings, tmp)
            log.debug("published warehouse copied in %.2fs", time.perf_counter() - started)
        con = duckdb.connect(str(tmp))
        _configure(con, settings)
        if decision.incremental:
            result = build_incrementally(
                con, settings, decision, progress=progress, sql_dir=root, hooks=steps
            )
        else:
            result = build_database(con, settings, progress=progress, sql_dir=root, hooks=steps)
        result.reason = decision.reason
        incremental.record_inputs(con, fingerprint, files)
        con.execute("checkpoint")
        con.close()
    except BaseException:
        if con is not None:
            con.close()
        _remove_candidate(tmp)
        raise
    finally:
        if loading is not None:
            loading.join()  # no import left running when the process exits
    result.seconds["total"] = time.perf_counter() - started
    return tmp, result


def build_incrementally(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    decision: incremental.Decision,
    *,
    progress: Callable[[str], None] | None = None,
    sql_dir: Path | None = None,
    hooks: Iterable[Hook] | None = None,
) -> BuildResult:
    """Bring the copy of the published warehouse open on ``con`` up to date with the lake files added since."""
    root = sql_dir or _default_sql_dir()
    plan = plan_build(root, default_hooks() if hooks is None else hooks)
    result = BuildResult(mode="incremental")
    set_variables(con, settings)
    result.tables.update(register_sources(con, settings))
    register_new_files(con, decision.added)
    steps = incremental.IncrementalBuild(con, result)
    for step in plan.steps:
        if progress:
            progress(f"{step.layer if isinstance(step, Model) else step.stage}/{step.name}")
        if isinstance(step, Model):
            try:
                steps.model(step)
            except duckdb.Error as exc:
                message = str(exc).splitlines()[0]
                raise BuildError(f"model sql/{step.layer}/{step.name}.sql failed: {message}") from exc
        elif steps.hook_needed(step) and set(step.depends_on) <= plan.all_models:
            _run_hook(step, con, settings, result)
            if step.name == "detect_communities":
                steps.detected()
    if progress:
        progress("tests")
    result.assertions = run_assertions(con, root, None, restrict=steps.restricted_rows)
    steps.finish()
    apply_comments(con, [m for m in plan.models if m.name in steps.recreated])  # the others kept theirs
    _finish(con, result, len(plan.models))
    return result


def run_hooks_on(
    settings: Settings, candidate: Path, stage: str = "after_marts", hooks: Iterable[Hook] | None = None
) -> dict[str, Any]:
    """Run the hooks of one stage on an existing candidate (the DAG's separate explain task)."""
    if not candidate.exists():
        raise BuildError(f"no candidate warehouse at {candidate}: run the build step first")
    result = BuildResult()
    con = duckdb.connect(str(candidate))
    try:
        set_variables(con, settings)
        for hook in default_hooks() if hooks is None else hooks:
            if hook.stage == stage:
                _run_hook(hook, con, settings, result)
        con.execute("checkpoint")
    finally:
        con.close()
    return result.hooks


def publish(settings: Settings, candidate: Path) -> Path:
    """Atomically replace the published warehouse with ``candidate`` (data directory on an object store: publish
    it as a new version, :func:`pipeline.versions.publish_version`)."""
    if not candidate.exists():
        raise BuildError(f"no candidate warehouse at {candidate}: run the build step first")
    target = settings.warehouse_path
    if versions.data_store(settings) is not None:  # an immutable version plus the pointer (pipeline.versions)
        versions.publish_version(settings, candidate, label=candidate.name.split(".building-", 1)[-1])
        return target
    os.replace(candidate, target)
    dir_fd = os.open(target.parent, os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return target


def build(
    settings: Settings,
    *,
    progress: Callable[[str], None] | None = None,
    sql_dir: Path | None = None,
    hooks: Iterable[Hook] | None = None,
    full: bool = False,
) -> BuildResult:
    """Build a new warehouse file (incrementally when it can, see :func:`build_candidate`) and atomically replace
    ``warehouse.duckdb`` with it."""
    candidate, result = build_candidate(settings, progress=progress, sql_dir=sql_dir, hooks=hooks, full=full)
    result.path = publish(settings, candidate)
    return result


def connect_readonly(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published warehouse (never blocks a publish; on an object store, the
    cached copy of the current version)."""
    path = versions.published_path(settings)
    if not path.exists():
        raise BuildError(f"no warehouse at {path}: run `ripple run` or `ripple build` first")
    return duckdb.connect(str(path), read_only=True)
