"""The report's read-only view of the published warehouse: named queries from ``sql/report/<name>.sql``.

Each query is one SQL file; its parameters (week bounds, labels, patterns) are DuckDB prepared parameters
(``$name``) passed as keyword arguments, never formatted into the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from pipeline.sqlfiles import sql_dir


def report_sql_dir() -> Path:
    """Where the report's named queries live: ``sql/report`` under :func:`pipeline.sqlfiles.sql_dir`
    (``$RIPPLE_SQL_DIR`` when set, as in the container image)."""
    return sql_dir() / "report"


def load_query(name: str) -> str:
    return _read(report_sql_dir() / f"{name}.sql")


@cache
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@dataclass
class Warehouse:
    con: duckdb.DuckDBPyConnection

    def df(self, name: str, **params: Any) -> pd.DataFrame:
        """The rows of the named query ``sql/report/<name>.sql``."""
        return self.con.execute(load_query(name), params).df()

    def row(self, name: str, **params: Any) -> tuple[Any, ...]:
        """The single row of the named query."""
        row = self.con.execute(load_query(name), params).fetchone()
        assert row is not None, name
        return row
