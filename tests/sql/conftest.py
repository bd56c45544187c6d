"""Helpers for the warehouse model tests: write a tiny lake, build the warehouse in memory, read it back."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import load_settings
from pipeline.schema import FILE_SCHEMA
from pipeline.validation import to_micros

REALDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata"
T0 = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)  # a Monday


def post(post_id: str, **fields: Any) -> dict[str, Any]:
    """A Post row with sensible defaults; created_at may be a datetime or minutes after T0."""
    platform = fields.pop("platform", post_id.split(":", 1)[0])
    created = fields.pop("created_at", 0)
    if not isinstance(created, datetime):
        created = T0 + timedelta(minutes=float(created))
    kind = fields.pop("kind", None)
    if kind is None:
        kind = "comment" if fields.get("parent_id") else "share" if fields.get("shared_id") else "post"
    row = {
        "platform": platform,
        "post_id": post_id,
        "kind": kind,
        "share_type": None,
        "community": None,
        "author_id": None,
        "author_name": None,
        "parent_id": None,
        "root_id": None,
        "shared_id": None,
        "created_at": created,
        "title": None,
        "text": None,
        "url": None,
        "lang": None,
        "score": None,
        "reply_count": None,
        "share_count": None,
        "is_deleted": False,
        "is_removed": False,
        "fetched_at": T0 + timedelta(days=60),
        "run_id": "test-run",
        "source": platform,
    }
    row.update(fields)
    return row


def write_lake(data_dir: Path, rows: Iterable[dict[str, Any]], run_id: str = "test-run") -> None:
    """Write rows as the lake does: lake/posts/platform=<p>/date=<d>/<run_id>.parquet (timestamps in UTC)."""
    parts: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        created = row["created_at"]
        day = (
            created if isinstance(created, datetime) else datetime.fromtimestamp(created / 1e6, UTC)
        ).date()
        parts[(row["platform"], day.isoformat())].append(row)
    for (platform, day), items in parts.items():
        columns: dict[str, list[Any]] = {name: [] for name in FILE_SCHEMA.names}
        for item in items:
            for name in FILE_SCHEMA.names:
                value = item.get(name)
                if name in ("created_at", "fetched_at") and value is not None:
                    value = to_micros(value)
                columns[name].append(value)
        table = pa.Table.from_pydict(columns, schema=FILE_SCHEMA)
        path = data_dir / "lake" / "posts" / f"platform={platform}" / f"date={day}" / f"{run_id}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)


def build_warehouse(
    tmp_path: Path, rows: Iterable[dict[str, Any]], overrides: dict[str, dict[str, Any]] | None = None
) -> duckdb.DuckDBPyConnection:
    from pipeline.warehouse import build_database

    data_dir = tmp_path / "data"
    write_lake(data_dir, rows)
    settings = load_settings(
        data_dir=data_dir, overrides=overrides, environ={"RIPPLE_PSEUDONYM_KEY": "test-key-" + "0" * 32}
    )
    con = duckdb.connect()
    build_database(con, settings)
    return con


def records(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    rel = con.execute(sql, params) if params is not None else con.execute(sql)
    cols = [d[0] for d in rel.description]
    return [dict(zip(cols, row, strict=True)) for row in rel.fetchall()]


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is not available")
    return REALDATA
