"""Build the DuckDB warehouse from the lake and publish it atomically.

Order: register raw inputs (``src_*``, ``cfg_*``) → ``sql/staging`` → hooks ``after_staging`` (Python steps such as
community detection) → ``sql/intermediate`` → ``sql/marts`` → hooks ``after_marts`` (the spread explanation) →
every ``sql/tests/*.sql`` assertion → ``COMMENT ON`` from the model headers → publish.

Each model file holds one SELECT and is materialized as a table named after the file. Inside a layer, a model that
mentions another model's name is built after it. The published file contains tables only: the ``src_*`` views over
the lake are dropped, so the warehouse is self-contained and can be copied elsewhere.

Publishing writes a new file next to ``warehouse.duckdb`` and renames it over the old one. A reader that has the
old file open keeps reading the old inode; a crash at any point leaves the previous warehouse as it was.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipeline.config import Settings
from pipeline.errors import AssertionFailed, BuildError
from pipeline.lake import has_posts, posts_glob
from pipeline.platforms import platform_names
from pipeline.pseudonyms import Pseudonymizer, pseudonym_key
from pipeline.schema import POSTS_SCHEMA

log = logging.getLogger(__name__)

LAYERS = ("staging", "intermediate", "marts")
SQL_DIR = Path(os.environ.get("RIPPLE_SQL_DIR", Path(__file__).resolve().parent.parent / "sql"))

#: Python steps of the build, as "module:function"; each is called as fn(con, settings) -> dict | None
HOOKS: dict[str, list[str]] = {
    "after_staging": ["pipeline.communities:detect_communities"],
    "after_marts": ["pipeline.explain:explain"],
}

STALE_CANDIDATE_SECONDS = 2 * 86_400
_HEADER = re.compile(r"^--\s*(grain|description|column\s+([A-Za-z_][A-Za-z0-9_]*))\s*:\s*(.*)$")


@dataclass
class Model:
    name: str
    layer: str
    path: Path
    sql: str
    grain: str | None = None
    description: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    deps: set[str] = field(default_factory=set)


@dataclass
class BuildResult:
    path: Path | None = None
    tables: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    assertions: int = 0
    hooks: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path) if self.path else None,
            "tables": self.tables,
            "assertions": self.assertions,
            "hooks": self.hooks,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


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
            kind, column, value = match.groups()
            if column:
                model.columns[column] = value.strip()
                last = f"column:{column}"
            elif kind == "grain":
                model.grain, last = value.strip(), "grain"
            else:
                model.description, last = value.strip(), "description"
        elif last and line.startswith("--   "):
            # an indented continuation line extends the previous header entry
            extra = line[2:].strip()
            if last.startswith("column:"):
                col = last.split(":", 1)[1]
                model.columns[col] += " " + extra
            elif last == "grain":
                model.grain = f"{model.grain} {extra}"
            else:
                model.description = f"{model.description} {extra}"
    return model


def load_models(sql_dir: Path = SQL_DIR) -> list[Model]:
    """All models in build order (layer order, then dependencies inside a layer, then name)."""
    ordered: list[Model] = []
    for layer in LAYERS:
        models = {p.stem: parse_model(p, layer) for p in sorted((sql_dir / layer).glob("*.sql"))}
        for model in models.values():
            body = _strip_comments(model.sql)
            model.deps = {
                other for other in models if other != model.name and re.search(rf"\b{other}\b", body)
            }
        ordered.extend(_toposort(models, layer))
    return ordered


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def _toposort(models: dict[str, Model], layer: str) -> list[Model]:
    done: list[Model] = []
    state: dict[str, int] = {}

    def visit(name: str, chain: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise BuildError(f"dependency cycle in sql/{layer}: {' -> '.join([*chain, name])}")
        state[name] = 1
        for dep in sorted(models[name].deps):
            visit(dep, [*chain, name])
        state[name] = 2
        done.append(models[name])

    for name in sorted(models):
        visit(name, [])
    return done


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        return f"{value!r}::double"
    if isinstance(value, list):
        return "[" + ", ".join(_sql_literal(v) for v in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"


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
    """Create the raw inputs of the SQL models: src_posts, src_affect, cfg_bots and the demo truth tables."""
    if has_posts(settings):
        glob = posts_glob(settings).replace("'", "''")
        con.execute(
            "create or replace view src_posts as select * from read_parquet("
            f"'{glob}', hive_partitioning = true, union_by_name = true, "
            "hive_types = {'platform': varchar, 'date': date})"
        )
    else:
        empty = _empty_posts_table()  # noqa: F841  (referenced by name below)
        con.execute("create or replace table src_posts as select * from empty")

    affect_dir = settings.lake_dir / "affect"
    if any(affect_dir.glob("**/*.parquet")):
        glob = str(affect_dir / "**" / "*.parquet").replace("'", "''")
        con.execute(
            f"create or replace view src_affect as select * from read_parquet('{glob}', "
            "hive_partitioning = true, union_by_name = true)"
        )
    else:
        try:
            from pipeline.affect import AFFECT_ARROW_SCHEMA  # type: ignore[attr-defined]
        except ImportError:
            AFFECT_ARROW_SCHEMA = None  # noqa: N806
        if AFFECT_ARROW_SCHEMA is not None:
            empty_affect = AFFECT_ARROW_SCHEMA.empty_table()  # noqa: F841
            con.execute("create or replace table src_affect as select * from empty_affect")

    _register_operations(con, settings)

    platforms = set(platform_names())
    platforms |= {row[0] for row in con.execute("select distinct platform from src_posts").fetchall()}
    bots = [str(b) for b in settings.get("membership", "bots", [])]
    pseudo = Pseudonymizer(pseudonym_key(settings)) if settings.get("privacy", "pseudonymize") else None
    rows = [(p, pseudo(p, b) if pseudo else b, b) for p in sorted(platforms) for b in bots]
    con.execute("create or replace table cfg_bots (platform varchar, author_id varchar, author_name varchar)")
    if rows:
        con.executemany("insert into cfg_bots values (?, ?, ?)", rows)

    counts = {}
    for name in ("planted_effects", "planted_overlap"):
        path = settings.lake_dir / "demo" / f"{name}.parquet"
        if path.exists():
            con.execute(f"create or replace table demo_{name} as select * from read_parquet('{str(path)}')")
            counts[f"demo_{name}"] = con.execute(f"select count(*) from demo_{name}").fetchall()[0][0]
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
    quarantine = settings.quarantine_dir / "*" / "*.jsonl"
    found = any(settings.quarantine_dir.glob("*/*.jsonl"))
    _json_lines_table(con, "src_quarantine", quarantine, QUARANTINE_COLUMNS, found, with_filename=True)
    runs = settings.state_dir / "runs.jsonl"
    found = runs.exists() and runs.stat().st_size > 0
    _json_lines_table(con, "src_runs", runs, RUN_LOG_COLUMNS, found)


def _json_lines_table(
    con: duckdb.DuckDBPyConnection,
    name: str,
    path: Path,
    columns: dict[str, str],
    found: bool,
    with_filename: bool = False,
) -> None:
    """``name`` from the JSON-lines file(s) at ``path`` (a glob), or empty with the same columns."""
    if found:
        source = str(path).replace("'", "''")
        extra = ", filename = true" if with_filename else ""
        con.execute(
            f"create or replace table {name} as select * from read_json('{source}', "
            f"format = 'newline_delimited', columns = {_columns_sql(columns)}{extra})"
        )
    else:
        cols = ", ".join(f"{k} {v}" for k, v in columns.items())
        filename = ", filename varchar" if with_filename else ""
        con.execute(f"create or replace table {name} ({cols}{filename})")


def _run_hooks(stage: str, con: duckdb.DuckDBPyConnection, settings: Settings, result: BuildResult) -> None:
    for target in HOOKS.get(stage, []):
        module_name, _, func_name = target.partition(":")
        started = time.perf_counter()
        try:
            func: Callable[..., Any] = getattr(import_module(module_name), func_name)
            result.hooks[target] = func(con, settings)
        except (BuildError, duckdb.Error) as exc:
            raise BuildError(f"build step {target} failed: {exc}") from exc
        result.seconds[target] = time.perf_counter() - started


def run_assertions(con: duckdb.DuckDBPyConnection, sql_dir: Path = SQL_DIR) -> int:
    """Run every sql/tests assertion; the first one that returns rows fails the build."""
    count = 0
    for path in sorted((sql_dir / "tests").glob("*.sql")):
        sql = path.read_text(encoding="utf-8").strip().rstrip(";")
        try:
            rel = con.sql(f"select * from ({sql}) as violations")
            n = con.execute(f"select count(*) from ({sql}) as violations").fetchall()[0][0]
        except duckdb.Error as exc:
            raise BuildError(f"assertion {path.stem} could not run: {exc}") from exc
        if n:
            sample = rel.limit(5).fetchall()
            cols = rel.columns
            shown = "; ".join(
                ", ".join(f"{c}={v!r}" for c, v in zip(cols, row, strict=False)) for row in sample
            )
            raise AssertionFailed(f"assertion {path.stem} failed: {n} violating row(s), e.g. {shown}")
        count += 1
    return count


def apply_comments(con: duckdb.DuckDBPyConnection, models: list[Model]) -> None:
    def quote(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    for model in models:
        parts = [p for p in (f"Grain: {model.grain}." if model.grain else None, model.description) if p]
        if parts:
            con.execute(f"comment on table {model.name} is {quote(' '.join(parts))}")
        existing = {r[0] for r in con.execute(f"describe {model.name}").fetchall()}
        for column, text in model.columns.items():
            if column in existing:
                con.execute(f"comment on column {model.name}.{column} is {quote(text)}")


def build_database(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    progress: Callable[[str], None] | None = None,
    sql_dir: Path = SQL_DIR,
) -> BuildResult:
    """Run the whole model graph on an open connection (no publish)."""
    result = BuildResult()
    models = load_models(sql_dir)
    set_variables(con, settings)
    result.tables.update(register_sources(con, settings))
    by_layer: dict[str, list[Model]] = {layer: [m for m in models if m.layer == layer] for layer in LAYERS}
    for layer in LAYERS:
        for model in by_layer[layer]:
            if progress:
                progress(f"{layer}/{model.name}")
            started = time.perf_counter()
            try:
                con.execute(f"create or replace table {model.name} as\n{model.sql}")
            except duckdb.Error as exc:
                message = str(exc).splitlines()[0]
                raise BuildError(f"model sql/{layer}/{model.name}.sql failed: {message}") from exc
            result.seconds[model.name] = time.perf_counter() - started
            result.tables[model.name] = con.execute(f"select count(*) from {model.name}").fetchall()[0][0]
        if layer == "staging":
            _run_hooks("after_staging", con, settings, result)
        elif layer == "marts":
            _run_hooks("after_marts", con, settings, result)
    if progress:
        progress("tests")
    result.assertions = run_assertions(con, sql_dir)
    apply_comments(con, models)
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
        [datetime.now(UTC), len(models)],
    )
    con.execute("comment on table ripple_build is 'Grain: one row. When this warehouse file was built.'")
    return result


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_stale_builds(settings: Settings) -> int:
    """Remove half-built files left by a build that was killed."""
    removed = 0
    for path in settings.data_dir.glob(f".{settings.warehouse_path.name}.building-*"):
        label = path.name.split(".building-", 1)[1].split(".")[0]
        if label.isdigit():
            if _pid_alive(int(label)) and int(label) != os.getpid():
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


def build_candidate(
    settings: Settings,
    *,
    label: str | None = None,
    progress: Callable[[str], None] | None = None,
    sql_dir: Path = SQL_DIR,
    skip_hooks: tuple[str, ...] = (),
) -> tuple[Path, BuildResult]:
    """Build a complete new warehouse file next to the published one, without publishing it.

    ``label`` names the file (the Airflow DAG passes its run id so that later tasks find it); by default the
    process id is used and a candidate left behind by a dead process is cleaned up by the next build.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    cleanup_stale_builds(settings)
    tmp = candidate_path(settings, label)
    tmp.unlink(missing_ok=True)
    Path(str(tmp) + ".wal").unlink(missing_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(str(tmp))
    try:
        con.execute(f"set threads = {int(settings.get('warehouse', 'threads', 2))}")
        memory_limit = settings.get("warehouse", "memory_limit")
        if memory_limit:
            con.execute(f"set memory_limit = '{memory_limit}'")
        con.execute(f"set temp_directory = '{str(settings.data_dir / '.duckdb_tmp')}'")
        saved = {stage: list(HOOKS.get(stage, [])) for stage in skip_hooks}
        for stage in skip_hooks:
            HOOKS[stage] = []
        try:
            result = build_database(con, settings, progress=progress, sql_dir=sql_dir)
        finally:
            HOOKS.update(saved)
        con.execute("checkpoint")
        con.close()
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
        raise
    result.seconds["total"] = time.perf_counter() - started
    return tmp, result


def run_hooks_on(settings: Settings, candidate: Path, stage: str = "after_marts") -> dict[str, Any]:
    """Run one stage of Python hooks on an existing candidate (the DAG's separate explain task)."""
    if not candidate.exists():
        raise BuildError(f"no candidate warehouse at {candidate}: run the build step first")
    result = BuildResult()
    con = duckdb.connect(str(candidate))
    try:
        set_variables(con, settings)
        _run_hooks(stage, con, settings, result)
        con.execute("checkpoint")
    finally:
        con.close()
    return result.hooks


def publish(settings: Settings, candidate: Path) -> Path:
    """Atomically replace the published warehouse with ``candidate``."""
    if not candidate.exists():
        raise BuildError(f"no candidate warehouse at {candidate}: run the build step first")
    target = settings.warehouse_path
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
    sql_dir: Path = SQL_DIR,
) -> BuildResult:
    """Build a new warehouse file and atomically replace ``warehouse.duckdb`` with it."""
    candidate, result = build_candidate(settings, progress=progress, sql_dir=sql_dir)
    result.path = publish(settings, candidate)
    return result


def connect_readonly(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published warehouse (never blocks a publish)."""
    if not settings.warehouse_path.exists():
        raise BuildError(
            f"no warehouse at {settings.warehouse_path}: run `ripple run` or `ripple build` first"
        )
    return duckdb.connect(str(settings.warehouse_path), read_only=True)
