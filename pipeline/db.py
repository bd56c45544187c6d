"""Read-only connections to the published warehouse, for every reader (``ripple sql``, ``ripple shell``, the
report, ``ripple report``'s checks).

A reader can see the warehouse and nothing else:

* the file is opened ``read_only`` (no writes, never blocks a publish);
* ``enable_external_access = false`` is set when the database is opened, then ``lock_configuration = true``, so
  no statement can read or write another file (``read_text``, ``read_csv``, ``copy ... to``, ``export database``,
  ``attach``), install or load an extension, or switch these settings back on;
* :func:`check_statement` refuses, with one line, the statements a reader has no use for (COPY, EXPORT,
  INSTALL/LOAD, ATTACH/DETACH, SET/RESET/USE and PRAGMAs other than the read-only ones listed below), before
  DuckDB sees them.

Sessions are in UTC (``TimeZone`` is set before the configuration is locked; ``SET`` is refused).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.errors import BuildError, RippleError

#: set when the database is opened; ``lock_configuration`` follows once the session is in UTC (the time zone
#: needs the statically linked ICU extension, which cannot be loaded before the database is open)
READONLY_CONFIG: dict[str, str | bool] = {"enable_external_access": False}

#: statement kinds a reader may not run, with the word used in the refusal
REFUSED = {
    duckdb.StatementType.COPY: "COPY",
    duckdb.StatementType.COPY_DATABASE: "COPY",
    duckdb.StatementType.EXPORT: "EXPORT",
    duckdb.StatementType.LOAD: "INSTALL/LOAD",
    duckdb.StatementType.EXTENSION: "extension",
    duckdb.StatementType.ATTACH: "ATTACH",
    duckdb.StatementType.DETACH: "DETACH",
    duckdb.StatementType.SET: "SET/RESET/USE",
}

#: PRAGMAs that only read (everything else, e.g. ``pragma enable_profiling`` or ``import database``, is refused)
READ_PRAGMAS = (
    "table_info",
    "show",
    "show_tables",
    "show_tables_expanded",
    "show_databases",
    "database_size",
    "database_list",
    "storage_info",
    "metadata_info",
    "version",
    "platform",
    "functions",
    "user_agent",
)


class ReadOnlyError(RippleError):
    """A statement a read-only reader may not run."""

    exit_code = 2


def connect_readonly(path: Path | str) -> duckdb.DuckDBPyConnection:
    """The warehouse at ``path``, read-only, with no access to other files (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise BuildError(f"no warehouse at {path}: run `ripple run` or `ripple build` first")
    con = duckdb.connect(str(path), read_only=True, config=dict(READONLY_CONFIG))
    try:
        # another reader in this process may share the database instance, already locked in UTC
        locked = con.execute("select current_setting('lock_configuration')").fetchone()[0]
        if not locked:
            con.execute("load icu")
            # global: every connection to this database instance in the process reads in UTC
            con.execute("set global TimeZone = 'UTC'")
            con.execute("set global lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def check_statement(query: str) -> None:
    """Raise :class:`ReadOnlyError` when ``query`` contains a statement a reader may not run."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error:
        return  # a syntax error: DuckDB reports it when the query runs
    for statement in statements:
        kind = statement.type
        text = statement.query.strip().rstrip(";").strip()
        if kind in REFUSED:
            raise ReadOnlyError(
                f"the warehouse is read-only here: {REFUSED[kind]} statements are not allowed ({_short(text)})"
            )
        if kind == duckdb.StatementType.PRAGMA and not _read_pragma(text):
            raise ReadOnlyError(
                f"the warehouse is read-only here: this PRAGMA is not allowed ({_short(text)})"
            )


def _read_pragma(text: str) -> bool:
    words = text.split(None, 1)
    if len(words) < 2 or words[0].lower() != "pragma":
        return False
    name = words[1].split("(", 1)[0].split("=", 1)[0].strip().lower()
    return name in READ_PRAGMAS


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
