"""Every source builds its Posts with pipeline.schema.new_post: one place that knows the columns."""

from __future__ import annotations

import ast
from pathlib import Path

from pipeline.schema import MAPPED_COLUMNS, POST_COLUMNS, PROVENANCE_COLUMNS, new_post

SOURCES = Path(__file__).resolve().parents[2] / "pipeline" / "sources"


def test_new_post_has_every_mapped_column_with_empty_defaults() -> None:
    post = new_post(platform="demo", post_id="demo:1", kind="post", created_at=1_700_000_000)
    assert tuple(post) == MAPPED_COLUMNS
    assert set(MAPPED_COLUMNS) | set(PROVENANCE_COLUMNS) == set(POST_COLUMNS)
    assert post["is_deleted"] is False and post["is_removed"] is False
    assert [k for k, v in post.items() if v is None] == [
        c
        for c in MAPPED_COLUMNS
        if c not in ("platform", "post_id", "kind", "created_at", "is_deleted", "is_removed")
    ]


def test_no_source_writes_a_post_dict_literal() -> None:
    """A dict literal with both "post_id" and "kind" keys is a Post written out by hand."""
    offenders = []
    for path in sorted(SOURCES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
                if {"post_id", "kind", "created_at"} <= keys:
                    offenders.append(f"{path.name}:{node.lineno}")
    # reddit_dump's Arrow fast path maps whole columns, not one Post
    assert [o for o in offenders if not o.startswith("reddit_dump.py")] == []
