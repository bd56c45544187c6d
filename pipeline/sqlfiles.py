"""Where the SQL lives: the ``sql/`` directory and the named queries of ``sql/lake`` run outside the build."""

from __future__ import annotations

import os
import re
from pathlib import Path


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
