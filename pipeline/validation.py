"""The Post rules: what a row of the lake must look like, checked row by row or column by column.

:class:`Validator` turns a source's Post dict into a clean row or a reason to quarantine it. Its
:meth:`Validator.table` applies the same rules to Arrow columns (bulk imports): rows the column-wise checks
accept are cleaned there; every row that a rule would reject, or that the columns cannot judge exactly, is
left to the row check, so both ways give the same rows and the same reasons. A rule changes here, once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import Settings
from pipeline.pseudonyms import Pseudonymizer
from pipeline.schema import (
    BOOL_COLUMNS,
    FILE_SCHEMA,
    INT_COLUMNS,
    KINDS,
    POSTS_SCHEMA,
    SHARE_TYPES,
    STRING_COLUMNS,
    UTC_TS,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# timestamps outside this range are certainly corrupt (Usenet-era dates, ms-vs-s mixups)
MIN_CREATED = datetime(1990, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=2)
#: author ids and names that mean the account is gone: nobody to attribute, and not a community member
DELETED_AUTHORS = frozenset({"[deleted]", "[removed]", ""})


def to_micros(value: Any) -> int:
    """Parse a timestamp (datetime, epoch seconds as int/float/str, ISO 8601 text) to UTC epoch microseconds."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite timestamp: {value!r}")
        return int(round(value * 1_000_000))
    if isinstance(value, str):
        text = value.strip()
        try:
            return to_micros(float(text))
        except ValueError:
            pass
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        return to_micros(datetime.fromisoformat(text))
    raise ValueError(f"not a timestamp: {type(value).__name__}")


def _valid_utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_STRING_COLS = tuple(c for c in POSTS_SCHEMA.names if c in STRING_COLUMNS and c != "platform")
_INT_COLS = tuple(c for c in POSTS_SCHEMA.names if c in INT_COLUMNS)
_BOOL_COLS = tuple(c for c in POSTS_SCHEMA.names if c in BOOL_COLUMNS)
#: the columns :meth:`Validator.table` expects: the Post columns a mapping produces
MAPPED_COLUMNS = tuple(c for c in FILE_SCHEMA.names if c not in ("fetched_at", "run_id", "source"))


def _typed_columns(rec: dict[str, Any], row: dict[str, Any]) -> str | None:
    """Copy the string, integer and boolean columns into ``row``; the reason when one has the wrong type."""
    get = rec.get
    for col in _STRING_COLS:
        value = get(col)
        if value is not None:
            if type(value) is not str:
                return f"wrong type for {col}: {type(value).__name__}"
            if not _valid_utf8(value):
                return f"invalid UTF-8 in {col}"
        row[col] = value
    for col in _INT_COLS:
        value = get(col)
        if value is not None and type(value) is not int:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                return f"wrong type for {col}: {type(value).__name__}"
        row[col] = value
    for col in _BOOL_COLS:
        value = get(col)
        if value is None:
            value = False
        elif type(value) is not bool:
            return f"wrong type for {col}: {type(value).__name__}"
        row[col] = value
    return None


def _identity(rec: dict[str, Any], platform: str) -> str | None:
    post_id = rec.get("post_id")
    if not post_id or not isinstance(post_id, str):
        return "missing post_id"
    if not post_id.startswith(f"{platform}:") or len(post_id) <= len(platform) + 1:
        return f"post_id {post_id[:60]!r} does not start with '{platform}:'"
    kind = rec.get("kind")
    if kind not in KINDS:
        return f"invalid kind {str(kind)[:30]!r}"
    return None


def _structure(row: dict[str, Any], kind: str) -> str | None:
    if kind == "share" and not row["shared_id"]:
        return "share without shared_id"
    if kind == "comment" and not row["parent_id"]:
        return "comment without parent_id"
    share_type = row["share_type"]
    if share_type is not None and share_type not in SHARE_TYPES:
        return f"invalid share_type {share_type[:30]!r}"
    return None


def _authors(author_id: str | None, author_name: str | None) -> tuple[str | None, str | None]:
    """The deletion rules: a name stands in for a missing id; a deleted account has neither."""
    if author_id is None and author_name not in (None, *DELETED_AUTHORS):
        author_id = author_name
    if author_id in DELETED_AUTHORS or author_name in DELETED_AUTHORS:
        return None, None
    return author_id, author_name


@dataclass
class Checked:
    """What :meth:`Validator.table` made of a batch of columns."""

    table: pa.Table | None  # the accepted rows, cleaned, in FILE_SCHEMA
    undecided: list[int]  # positions of the rows to check one by one (with :meth:`Validator.__call__`)


class Validator:
    """Turns a source's Post dict into a clean row, or explains why it cannot."""

    def __init__(self, settings: Settings, platform: str, pseudonymize: Pseudonymizer | None):
        self.platform = platform
        self.max_text = settings.lake.max_text_chars
        self.pseudonymize = pseudonymize
        self.max_micros = to_micros(datetime.now(UTC) + MAX_FUTURE)
        self.min_micros = to_micros(MIN_CREATED)

    def __call__(
        self, rec: dict[str, Any], fetched_at: int, run_id: str, source: str
    ) -> dict[str, Any] | str:
        if not isinstance(rec, dict):
            return f"record is a {type(rec).__name__}, not an object"
        platform = rec.get("platform") or self.platform
        row: dict[str, Any] = {"platform": platform}
        reason = _identity(rec, platform) or _typed_columns(rec, row) or self._created(rec, row)
        if reason is None:
            text_len = len(row["text"] or "") + len(row["title"] or "")
            if text_len > self.max_text:
                return f"text over limit ({text_len} > {self.max_text} chars)"
            reason = _structure(row, rec["kind"])
        if reason is not None:
            return reason
        if row["root_id"] is None and rec["kind"] != "comment":
            row["root_id"] = rec["post_id"]
        if row["community"] is not None:
            row["community"] = row["community"].strip().lower() or None
        author_id, author_name = _authors(row["author_id"], row["author_name"])
        if self.pseudonymize is not None and author_id is not None:
            author_id, author_name = self.pseudonymize(platform, author_id), None
        row["author_id"], row["author_name"] = author_id, author_name
        row["fetched_at"], row["run_id"], row["source"] = fetched_at, run_id, source
        return row

    def _created(self, rec: dict[str, Any], row: dict[str, Any]) -> str | None:
        try:
            created = to_micros(rec.get("created_at"))
        except (ValueError, TypeError, OverflowError):
            return f"unparseable created_at {str(rec.get('created_at'))[:40]!r}"
        if not self.min_micros <= created <= self.max_micros:
            return f"created_at out of range: {str(rec.get('created_at'))[:40]!r}"
        row["created_at"] = created
        return None

    # ------------------------------------------------------------------------------------------ column-wise
    def table(
        self, cols: dict[str, pa.Array], undecided: pa.Array, fetched_at: int, run_id: str, source: str,
        wanted: pa.Array | None = None,
    ) -> Checked:  # fmt: skip
        """The rules of :meth:`__call__` over columns of :data:`MAPPED_COLUMNS` (``created_at`` as int64 epoch
        microseconds, null when the mapping could not read it), for rows of this validator's platform.

        ``undecided`` marks rows the mapping itself is unsure of; ``wanted`` (optional) the rows a filter
        keeps. Rows a rule would reject, or whose outcome the columns cannot reproduce exactly, are returned
        as undecided for the row check; the others are cleaned and returned as a table.
        """
        undecided = pc.or_(pc.fill_null(undecided, True), self._undecided(cols))
        if wanted is not None:
            undecided = pc.and_(undecided, wanted)
            selected = pc.and_(wanted, pc.invert(undecided))
        else:
            selected = pc.invert(undecided)
        positions = pc.indices_nonzero(undecided).to_pylist() if pc.any(undecided).as_py() else []
        if not pc.any(selected).as_py():
            return Checked(None, positions)
        kept = {name: pc.filter(cols[name], selected) for name in MAPPED_COLUMNS}
        return Checked(self._clean(kept, fetched_at, run_id, source), positions)

    def _undecided(self, cols: dict[str, pa.Array]) -> pa.Array:
        """Rows :meth:`__call__` would reject (or might judge differently): the row check decides those."""
        post_id, kind, created = cols["post_id"], cols["kind"], cols["created_at"]
        prefix = f"{self.platform}:"
        bad_id = pc.invert(
            pc.and_(pc.starts_with(post_id, prefix), pc.greater(pc.utf8_length(post_id), len(prefix)))
        )
        bad_kind = pc.invert(pc.is_in(kind, pa.array(KINDS)))
        bad_time = pc.or_(pc.less(created, self.min_micros), pc.greater(created, self.max_micros))
        text_len = pc.add(
            pc.fill_null(pc.utf8_length(cols["text"]), 0), pc.fill_null(pc.utf8_length(cols["title"]), 0)
        )
        share_type = cols["share_type"]
        bad_share_type = pc.and_(
            pc.is_valid(share_type), pc.invert(pc.is_in(share_type, pa.array(SHARE_TYPES)))
        )
        no_shared = pc.and_(pc.equal(kind, "share"), _empty(cols["shared_id"]))
        no_parent = pc.and_(pc.equal(kind, "comment"), _empty(cols["parent_id"]))
        # Python's and Arrow's lower-casing may differ outside ASCII: the row check decides those
        non_ascii = pc.invert(pc.fill_null(pc.string_is_ascii(cols["community"]), True))
        checks = [bad_id, bad_kind, bad_time, pc.greater(text_len, self.max_text), bad_share_type, no_shared,
                  no_parent, non_ascii]  # fmt: skip
        out = pc.is_null(created)
        for check in checks:
            out = pc.or_(out, pc.fill_null(check, True))
        return out

    def _clean(self, cols: dict[str, pa.Array], fetched_at: int, run_id: str, source: str) -> pa.Table:
        """The cleaning of :meth:`__call__` on accepted columns: root ids, communities, authors, provenance."""
        n = len(cols["post_id"])
        is_comment = pc.equal(cols["kind"], "comment")
        cols["root_id"] = pc.if_else(
            pc.and_(pc.is_null(cols["root_id"]), pc.invert(is_comment)), cols["post_id"], cols["root_id"]
        )
        community = pc.utf8_lower(pc.utf8_trim_whitespace(cols["community"]))
        cols["community"] = pc.if_else(
            pc.equal(pc.utf8_length(community), 0), pa.scalar(None, pa.string()), community
        )
        cols["author_id"], cols["author_name"] = self._author_columns(cols["author_id"], cols["author_name"])
        for name in ("is_deleted", "is_removed"):
            cols[name] = pc.fill_null(cols[name], False)
        cols["created_at"] = cols["created_at"].cast(pa.int64()).cast(UTC_TS)
        cols["fetched_at"] = pa.array([fetched_at] * n, pa.int64()).cast(UTC_TS)
        cols["run_id"] = pa.array([run_id] * n, pa.string())
        cols["source"] = pa.array([source] * n, pa.string())
        return pa.table([_typed(cols[f.name], f.type) for f in FILE_SCHEMA], schema=FILE_SCHEMA)

    def _author_columns(self, author_id: pa.Array, author_name: pa.Array) -> tuple[pa.Array, pa.Array]:
        """:func:`_authors` and pseudonymisation, column-wise."""
        deleted = pa.array(sorted(DELETED_AUTHORS))
        stand_in = pc.and_(
            pc.is_null(author_id), pc.invert(pc.fill_null(pc.is_in(author_name, deleted), False))
        )
        author_id = pc.if_else(stand_in, author_name, author_id)
        gone = pc.or_(
            pc.fill_null(pc.is_in(author_id, deleted), False),
            pc.fill_null(pc.is_in(author_name, deleted), False),
        )
        null = pa.scalar(None, pa.string())
        author_id, author_name = pc.if_else(gone, null, author_id), pc.if_else(gone, null, author_name)
        if self.pseudonymize is not None:
            return self.pseudonymize.array(self.platform, author_id), pa.nulls(len(author_id), pa.string())
        return author_id, author_name


def _empty(arr: pa.Array) -> pa.Array:
    return pc.fill_null(pc.equal(pc.utf8_length(arr), 0), True)


def _typed(arr: pa.Array, type_: pa.DataType) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr if arr.type == type_ else arr.cast(type_)
