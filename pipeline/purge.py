"""``ripple purge``: remove items that were deleted or removed upstream, as the platforms' terms require.

An item is purged when its most recent fetch says it is deleted (by its author) or removed (by a moderator or the
platform). Every version of it goes: its rows in every lake partition, its affect scores, its content in the raw
pages (the item's object is replaced by a ``{"_purged": true, ...}`` stub that keeps only its id), and then the
warehouse is rebuilt and republished without it. On an object store files are immutable: every changed file is
written anew and one manifest supersedes the old ones (:mod:`pipeline.commits`). Its replies are kept; the cascade builder sees their parent as
missing and marks the cascade incomplete.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import zstandard

from pipeline import lake
from pipeline.commits import Commit, attach, lake_store
from pipeline.config import Settings
from pipeline.files import atomic_path
from pipeline.sqlfiles import lake_query
from pipeline.versions import published

log = logging.getLogger(__name__)


def flagged_post_ids(settings: Settings) -> set[str]:
    if not lake.has_posts(settings):
        return set()
    latest = lake_query("latest_posts")
    con = duckdb.connect()
    try:
        attach(con, settings)
        rows = con.execute(
            f"select post_id from ({latest}) where is_deleted or is_removed",
            {"posts_glob": lake.posts_source(settings)},
        ).fetchall()
    finally:
        con.close()
    return {r[0] for r in rows}


class _Rewriter:
    """Replaces lake files: in place on the local disk (atomic rename), as new objects on an object store (the
    old ones superseded by the purge's manifest)."""

    def __init__(self, settings: Settings):
        self.log = None
        if settings.lake_remote:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            self.log = Commit(lake_store(settings), f"purge-{stamp}")

    def read(self, path: str) -> bytes | str:
        return self.log.store.read_bytes(path) if self.log else path

    def replace(self, path: str, write: Any) -> None:
        """``write(target)`` writes the new content to a local path or a binary stream."""
        if self.log is None:
            with atomic_path(Path(path)) as tmp:
                write(tmp)
            return
        sink = io.BytesIO()
        write(sink)
        rel = self.log.store.relative(path)
        directory, name = rel.rsplit("/", 1)
        suffix = ".jsonl.zst" if name.endswith(".jsonl.zst") else "." + name.rsplit(".", 1)[-1]
        stem = re.sub(r"-[0-9a-f]{12}$", "", name[: -len(suffix)])
        self.log.add_bytes(self.log.name(directory, stem, suffix), sink.getvalue())
        self.log.supersede([rel])

    def publish(self) -> None:
        if self.log is not None:
            self.log.publish()


def _rewrite_without(rewriter: _Rewriter, path: str, column: str, ids: set[str], id_list: Any) -> int:
    content = rewriter.read(path)
    table = pq.read_table(pa.BufferReader(content) if isinstance(content, bytes) else content)
    mask = pc.is_in(table[column], value_set=id_list)
    removed = pc.sum(mask).as_py() or 0
    if removed:
        kept = table.filter(pc.invert(mask))
        rewriter.replace(path, lambda target: pq.write_table(kept, target, compression="zstd"))
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


def _redact_raw_file(rewriter: _Rewriter, path: str, native_ids: set[str]) -> int:
    store = rewriter.log.store if rewriter.log else None
    pages = list(lake.read_raw_pages(path, store))
    total = 0
    redacted = []
    for page in pages:
        data, n = _redact(page.get("data"), native_ids)
        total += n
        redacted.append({**page, "data": data})
    if total:
        rewriter.replace(path, lambda target: _write_pages(target, redacted))
    return total


def _write_pages(target: Path | io.BytesIO, pages: list[dict[str, Any]]) -> None:
    cctx = zstandard.ZstdCompressor(level=3)
    with open(target, "wb") if isinstance(target, Path) else contextlib.nullcontext(target) as fh:
        for page in pages:
            fh.write(lake.encode_raw_page(cctx, page))


def _affect_files(settings: Settings) -> list[str]:
    if settings.lake_remote:
        return [f.path for f in lake.committed_files(settings, "affect")]
    return [str(p) for p in sorted((settings.lake_dir / "affect").glob("**/*.parquet"))]


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
    id_list = pa.array(sorted(ids), type=pa.string())
    rewriter = _Rewriter(settings)
    for f in lake.committed_files(settings, "posts"):
        report["lake_rows"] += _rewrite_without(rewriter, f.path, "post_id", ids, id_list)
    for f in _affect_files(settings):
        report["affect_rows"] += _rewrite_without(rewriter, f, "post_id", ids, id_list)
    native_ids = {i.split(":", 1)[1] for i in ids}
    for f in lake.committed_files(settings, "raw"):
        report["raw_objects"] += _redact_raw_file(rewriter, f.path, native_ids)
    rewriter.publish()
    if rebuild and published(settings):
        from pipeline import warehouse

        warehouse.build(settings)
        report["warehouse_rebuilt"] = True
    return report
