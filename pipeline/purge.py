"""``ripple purge``: remove items that were deleted or removed upstream, as the platforms' terms require.

An item is purged when its most recent fetch says it is deleted (by its author) or removed (by a moderator or the
platform). Every version of it goes: its rows in every lake partition, its affect scores, its content in the raw
pages (the item's object is replaced by a ``{"_purged": true, ...}`` stub that keeps only its id), and then the
warehouse is rebuilt and republished without it. Its replies are kept; the cascade builder sees their parent as
missing and marks the cascade incomplete.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import lake
from pipeline.config import Settings
from pipeline.files import atomic_path
from pipeline.sqlfiles import lake_query
from pipeline.versions import published

log = logging.getLogger(__name__)


def flagged_post_ids(settings: Settings) -> set[str]:
    if not lake.has_posts(settings):
        return set()
    latest = lake_query("latest_posts")
    rows = duckdb.execute(
        f"select post_id from ({latest}) where is_deleted or is_removed",
        {"posts_glob": lake.posts_glob(settings)},
    ).fetchall()
    return {r[0] for r in rows}


def _rewrite_without(path: Path, column: str, ids: set[str], id_list: Any) -> int:
    table = pq.read_table(path)
    mask = pc.is_in(table[column], value_set=id_list)
    removed = pc.sum(mask).as_py() or 0
    if removed:
        kept = table.filter(pc.invert(mask))
        with atomic_path(path) as tmp:
            pq.write_table(kept, tmp, compression="zstd")
    return int(removed)


def _redact(node: Any, native_ids: set[str]) -> tuple[Any, int]:
    """Replace every JSON object whose id / name / fullname is purged by a stub; returns (node, count)."""
    if isinstance(node, dict):
        for key in ("name", "id", "id_str"):
            value = node.get(key)
            if isinstance(value, str | int) and str(value) in native_ids:
                return {"_purged": True, key: value}, 1
        total = 0
        out = {}
        for k, v in node.items():
            out[k], n = _redact(v, native_ids)
            total += n
        return out, total
    if isinstance(node, list):
        total = 0
        items = []
        for v in node:
            new, n = _redact(v, native_ids)
            items.append(new)
            total += n
        return items, total
    return node, 0


def _redact_raw_file(path: Path, native_ids: set[str]) -> int:
    pages = list(lake.read_raw_pages(path))
    total = 0
    redacted = []
    for page in pages:
        data, n = _redact(page.get("data"), native_ids)
        total += n
        redacted.append({**page, "data": data})
    if total:
        lake.rewrite_raw_file(path, redacted)
    return total


def purge(settings: Settings, *, rebuild: bool = True, dry_run: bool = False) -> dict[str, Any]:
    ids = flagged_post_ids(settings)
    report: dict[str, Any] = {
        "flagged_items": len(ids),
        "by_platform": {},
        "lake_rows": 0,
        "affect_rows": 0,
        "raw_objects": 0,
        "warehouse_rebuilt": False,
        "dry_run": dry_run,
    }
    report["by_platform"] = dict(Counter(i.split(":", 1)[0] for i in ids))
    if not ids or dry_run:
        return report
    import pyarrow as pa

    id_list = pa.array(sorted(ids), type=pa.string())
    for path in sorted(settings.posts_dir.glob("platform=*/date=*/*.parquet")):
        report["lake_rows"] += _rewrite_without(path, "post_id", ids, id_list)
    for path in sorted((settings.lake_dir / "affect").glob("**/*.parquet")):
        report["affect_rows"] += _rewrite_without(path, "post_id", ids, id_list)
    native_ids = {i.split(":", 1)[1] for i in ids}
    for path in sorted(settings.raw_dir.glob("*/date=*/*.jsonl.zst")):
        report["raw_objects"] += _redact_raw_file(path, native_ids)
    if rebuild and published(settings):
        from pipeline import warehouse

        warehouse.build(settings)
        report["warehouse_rebuilt"] = True
    return report
