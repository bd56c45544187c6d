"""Where the SQL lives: the ``sql/`` directory and the named queries of ``sql/lake`` run outside the build; and the
two helpers Python code uses to write SQL text: string literals and table comments."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def sql_dir() -> Path:
    """The ``sql/`` directory: ``$RIPPLE_SQL_DIR`` when set (read on each call), else the one of this checkout."""
    configured = os.environ.get("RIPPLE_SQL_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parent.parent / "sql"


def named_query(folder: str, name: str) -> str:
    """The query ``sql/<folder>/<name>.sql`` without its comments, ready to embed as a subquery."""
    text = (sql_dir() / folder / f"{name}.sql").read_text(encoding="utf-8")
    return re.sub(r"--[^\n]*", "", text).strip().rstrip(";").strip()


def lake_query(name: str) -> str:
    """The query ``sql/lake/<name>.sql`` (run on the lake files, outside the build)."""
    return named_query("lake", name)


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal (single quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier (double quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def comment_on(
    con: duckdb.DuckDBPyConnection, table: str, comment: str | None, columns: dict[str, str]
) -> None:
    """COMMENT ON ``table`` (when ``comment``) and on those of ``columns`` it has."""
    if comment:
        con.execute(f"comment on table {table} is {sql_string(comment)}")
    existing = {r[0] for r in con.execute(f"describe {table}").fetchall()}
    for column, text in columns.items():
        if column in existing:
            con.execute(f"comment on column {table}.{column} is {sql_string(text)}")
