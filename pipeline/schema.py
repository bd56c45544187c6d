"""Arrow schemas of the lake tables.

The Post schema is the contract between sources and everything downstream (see docs/data-contract.md).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")

KINDS = ("post", "comment", "share")
SHARE_TYPES = ("crosspost", "retweet", "quote", "boost", "repost")

POSTS_SCHEMA = pa.schema(
    [
        pa.field("platform", pa.string(), nullable=False),
        pa.field("post_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("share_type", pa.string()),
        pa.field("community", pa.string()),
        pa.field("author_id", pa.string()),
        pa.field("author_name", pa.string()),
        pa.field("parent_id", pa.string()),
        pa.field("root_id", pa.string()),
        pa.field("shared_id", pa.string()),
        pa.field("created_at", UTC_TS, nullable=False),
        pa.field("title", pa.string()),
        pa.field("text", pa.string()),
        pa.field("url", pa.string()),
        pa.field("lang", pa.string()),
        pa.field("score", pa.int64()),
        pa.field("reply_count", pa.int64()),
        pa.field("share_count", pa.int64()),
        pa.field("is_deleted", pa.bool_(), nullable=False),
        pa.field("is_removed", pa.bool_(), nullable=False),
        pa.field("fetched_at", UTC_TS, nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
    ]
)

POST_COLUMNS = tuple(POSTS_SCHEMA.names)
#: the columns of a lake Parquet file: ``platform`` is in the partition path (``platform=<p>/``), not the file
FILE_SCHEMA = pa.schema([f for f in POSTS_SCHEMA if f.name != "platform"])
# Partition columns are encoded in the directory names (hive style) and are not stored in the files.
PARTITION_COLUMNS = ("platform", "date")
STRING_COLUMNS = frozenset(f.name for f in POSTS_SCHEMA if pa.types.is_string(f.type))
INT_COLUMNS = frozenset(f.name for f in POSTS_SCHEMA if pa.types.is_int64(f.type))
BOOL_COLUMNS = frozenset(f.name for f in POSTS_SCHEMA if pa.types.is_boolean(f.type))
TIMESTAMP_COLUMNS = frozenset(f.name for f in POSTS_SCHEMA if pa.types.is_timestamp(f.type))
REQUIRED_COLUMNS = frozenset(f.name for f in POSTS_SCHEMA if not f.nullable)

#: filled in by the lake when it writes a Post (provenance); a source maps every other column
PROVENANCE_COLUMNS = ("fetched_at", "run_id", "source")
MAPPED_COLUMNS = tuple(name for name in POST_COLUMNS if name not in PROVENANCE_COLUMNS)


def new_post(
    *,
    platform: str,
    post_id: str | None,
    kind: str,
    created_at: Any,
    share_type: str | None = None,
    community: str | None = None,
    author_id: str | None = None,
    author_name: str | None = None,
    parent_id: str | None = None,
    root_id: str | None = None,
    shared_id: str | None = None,
    title: str | None = None,
    text: str | None = None,
    url: str | None = None,
    lang: str | None = None,
    score: int | None = None,
    reply_count: int | None = None,
    share_count: int | None = None,
    is_deleted: bool = False,
    is_removed: bool = False,
) -> dict[str, Any]:
    """A Post as a source's ``normalize`` yields it: every mapped column, unknown values ``None``.

    ``created_at`` may be anything the lake's validator reads (epoch seconds, ISO text, a datetime); the lake
    validates the row and adds :data:`PROVENANCE_COLUMNS`.
    """
    return {
        "platform": platform,
        "post_id": post_id,
        "kind": kind,
        "share_type": share_type,
        "community": community,
        "author_id": author_id,
        "author_name": author_name,
        "parent_id": parent_id,
        "root_id": root_id,
        "shared_id": shared_id,
        "created_at": created_at,
        "title": title,
        "text": text,
        "url": url,
        "lang": lang,
        "score": score,
        "reply_count": reply_count,
        "share_count": share_count,
        "is_deleted": is_deleted,
        "is_removed": is_removed,
    }


QUARANTINE_FIELDS = ("source", "run_id", "reason", "location", "record")
