"""Reddit dump import: real Pushshift / Arctic Shift lines, compressed as published, and synthetic edge cases.

Every import is run through both the vectorized fast path and the generic ``lake.ingest`` path; they must
write the same rows and quarantine the same lines.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
import zstandard

from pipeline.config import Settings, load_settings
from pipeline.errors import ConfigError
from pipeline.sources import reddit_dump
from pipeline.sources.reddit_dump import import_dump

DUMPS = "reddit_pushshift_ndjson"
IGNORED = ("fetched_at",)


@pytest.fixture(autouse=True)
def _fixed_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIPPLE_PSEUDONYM_KEY", "dump-tests-" + "k" * 32)


def compress_long(src: Path, dst: Path) -> Path:
    """Compress like the published dumps: ``zstd --long=31`` (python zstandard when the CLI is missing)."""
    if shutil.which("zstd"):
        subprocess.run(["zstd", "-q", "-f", "--long=31", str(src), "-o", str(dst)], check=True)
    else:
        params = zstandard.ZstdCompressionParameters.from_level(19, window_log=31, enable_ldm=True)
        dst.write_bytes(zstandard.ZstdCompressor(compression_params=params).compress(src.read_bytes()))
    return dst


def settings_at(path: Path) -> Settings:
    return load_settings(data_dir=path, environ={})


def rows_of(settings: Settings) -> list[dict[str, Any]]:
    if not settings.posts_dir.exists():
        return []
    table = ds.dataset(settings.posts_dir, format="parquet", partitioning="hive").to_table()
    return sorted(
        ({k: v for k, v in row.items() if k not in IGNORED} for row in table.to_pylist()),
        key=lambda r: r["post_id"],
    )


def quarantined(settings: Settings) -> list[dict[str, Any]]:
    out = []
    for path in sorted(settings.quarantine_dir.rglob("*.jsonl")):
        out.extend(json.loads(line) for line in path.read_text().splitlines())
    return out


def both_paths(tmp_path: Path, files: list[Path], **kwargs: Any) -> tuple[Settings, list[Any]]:
    """Import with both paths; assert they agree; return the fast path's settings and results."""
    fast = settings_at(tmp_path / "fast")
    generic = settings_at(tmp_path / "generic")
    fast_results = import_dump(fast, files, **kwargs)
    generic_results = import_dump(generic, files, fast=False, **kwargs)
    assert rows_of(fast) == rows_of(generic)
    reasons = Counter(
        (q["reason"], q["record"] if isinstance(q["record"], str) else None) for q in quarantined(fast)
    )
    assert reasons == Counter(
        (q["reason"], q["record"] if isinstance(q["record"], str) else None) for q in quarantined(generic)
    )
    assert [r.run_id for r in fast_results] == [r.run_id for r in generic_results]
    assert [(r.rows, r.quarantined) for r in fast_results] == [
        (r.rows, r.quarantined) for r in generic_results
    ]
    return fast, fast_results


def real_lines(realdata: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (realdata / DUMPS / name).read_text().splitlines() if line.strip()]


def as_micros(value: Any) -> int:
    return round(float(value) * 1_000_000)


# --------------------------------------------------------------------------------------------- real data
def test_real_dump_lines_from_every_era_land_as_posts(realdata: Path, tmp_path: Path) -> None:
    comments = real_lines(realdata, "test_comments.json")
    submissions = real_lines(realdata, "test_submissions.json")
    files = [
        compress_long(realdata / DUMPS / "test_comments.json", tmp_path / "RC_sample.zst"),
        compress_long(realdata / DUMPS / "test_submissions.json", tmp_path / "RS_sample.zst"),
    ]
    settings, results = both_paths(tmp_path, files)
    assert [r.quarantined for r in results] == [0, 0]
    rows = {r["post_id"]: r for r in rows_of(settings)}

    originals = [o for s in submissions for o in s.get("crosspost_parent_list") or []]
    expected = {f"reddit:t1_{c['id']}" for c in comments} | {
        f"reddit:t3_{s['id']}" for s in submissions + originals
    }
    assert set(rows) == expected
    for line in comments + submissions:
        prefix = "t1" if "body" in line else "t3"
        row = rows[f"reddit:{prefix}_{line['id']}"]
        # int, float and text timestamps all give the same instant
        created = row["created_at"]
        assert round(created.timestamp() * 1_000_000) == as_micros(line["created_utc"])
        assert row["community"] == f"r/{line['subreddit'].lower()}"
        assert (row["author_id"] is None) == (line["author"] == "[deleted]")
        if prefix == "t1":
            assert (
                row["parent_id"] == f"reddit:{line['parent_id']}"
                and row["root_id"] == f"reddit:{line['link_id']}"
            )
    # Arctic Shift marks items deleted after they were archived
    deleted_later = [s for s in submissions if (s.get("_meta") or {}).get("was_deleted_later")]
    assert len(deleted_later) == 3
    assert all(rows[f"reddit:t3_{s['id']}"]["is_deleted"] for s in deleted_later)
    removed = [c for c in comments if c["body"] == "[removed]"] + [
        s for s in submissions if s["selftext"] == "[removed]"
    ]
    assert removed and all(
        rows[f"reddit:{'t1' if 'body' in x else 't3'}_{x['id']}"]["is_removed"] for x in removed
    )
    (crosspost,) = [s for s in submissions if s.get("crosspost_parent")]
    share = rows[f"reddit:t3_{crosspost['id']}"]
    assert (share["kind"], share["share_type"], share["shared_id"]) == (
        "share",
        "crosspost",
        f"reddit:{crosspost['crosspost_parent']}",
    )
    assert rows[share["shared_id"]]["kind"] == "post"


def test_filters_by_subreddit_and_date(realdata: Path, tmp_path: Path) -> None:
    comments = real_lines(realdata, "test_comments.json")
    src = compress_long(realdata / DUMPS / "test_comments.json", tmp_path / "RC_sample.zst")
    since, until = datetime(2009, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)
    wanted = {"askreddit", "technology", "woodworking", "mma"}
    expected = {
        f"reddit:t1_{c['id']}"
        for c in comments
        if c["subreddit"].lower() in wanted
        and since.timestamp() <= float(c["created_utc"]) < until.timestamp()
    }
    settings, _ = both_paths(
        tmp_path,
        [src],
        subreddits=["AskReddit", "r/technology", "woodworking", "MMA"],
        since=since,
        until=until,
    )
    assert {r["post_id"] for r in rows_of(settings)} == expected and len(expected) == 4


def test_long_window_frames_that_default_readers_refuse_are_read(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "id": f"c{i}",
                "body": "hi",
                "author": "a",
                "subreddit": "x",
                "link_id": "t3_p",
                "parent_id": "t3_p",
                "created_utc": 1_600_000_000 + i,
            }
        )
        for i in range(1000)
    ]
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=31, enable_ldm=True)
    path = tmp_path / "RC_2020-09.zst"
    with (
        open(path, "wb") as fh,
        zstandard.ZstdCompressor(compression_params=params).stream_writer(fh) as writer,
    ):
        writer.write(("\n".join(lines) + "\n").encode())
    with pytest.raises(zstandard.ZstdError):
        zstandard.ZstdDecompressor().decompress(path.read_bytes(), max_output_size=10**7)
    settings, results = both_paths(tmp_path, [path])
    assert results[0].rows == 1000


def test_ordinary_lines_take_the_column_path_and_match_the_row_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = {"body": "hi", "link_id": "t3_p", "parent_id": "t3_p", "created_utc": 1_600_000_000}
    authors = ["Alice", "[deleted]", "", None, "bob"]
    lines = [
        {**base, "id": f"c{i}", "author": authors[i % 5], "subreddit": f" Sub{i % 3} "} for i in range(50)
    ]
    path = tmp_path / "RC_ordinary.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    row_path_lines: list[Any] = []
    map_line = reddit_dump.map_line
    monkeypatch.setattr(reddit_dump, "map_line", lambda *a: row_path_lines.append(a) or map_line(*a))
    [result] = import_dump(settings_at(tmp_path / "columns"), [path])
    assert (result.rows, row_path_lines) == (50, [])
    monkeypatch.setattr(reddit_dump, "map_line", map_line)
    settings, _ = both_paths(tmp_path / "both", [path])
    rows = rows_of(settings)
    assert {r["community"] for r in rows} == {"r/ sub0", "r/ sub1", "r/ sub2"}
    assert sum(r["author_id"] is None for r in rows) == 30  # [deleted], empty and missing authors


def test_missing_and_empty_files_are_one_line_errors(tmp_path: Path) -> None:
    settings = settings_at(tmp_path / "data")
    with pytest.raises(ConfigError, match=r"^reddit_dump: no such file: .*RC_nope.zst$"):
        import_dump(settings, [tmp_path / "RC_nope.zst"])
    empty = tmp_path / "RC_empty.ndjson"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match="RC_empty.ndjson is empty"):
        import_dump(settings, [empty])
    empty_zst = tmp_path / "RC_empty.zst"
    empty_zst.write_bytes(zstandard.ZstdCompressor().compress(b""))
    with pytest.raises(ConfigError, match="RC_empty.zst is empty"):
        import_dump(settings, [empty_zst], fast=False)
    assert not settings.posts_dir.exists()


# --------------------------------------------------------------------------------------------- bad input
def test_malformed_lines_are_quarantined_with_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = {
        "id": "k1",
        "body": "fine",
        "author": "a",
        "subreddit": "python",
        "link_id": "t3_p",
        "parent_id": "t3_p",
        "created_utc": 1706745600,
    }
    lines = [
        json.dumps(good).encode(),
        b'{"id": "k2", "body": "cut off',
        b"",
        b"[1, 2, 3]",
        b'{"id": "k3", "body": "\xff\xfe", "created_utc": 1706745600}',
        json.dumps({**good, "id": "k4"}).encode(),
        b'{"id": "k5", "body": "lone \\ud800 surrogate", "created_utc": 1706745600}',
        json.dumps({**good, "id": "k6", "body": "smile \U0001f600"}).encode(),  # an escaped surrogate pair
    ]
    path = tmp_path / "RC_2024-02"
    path.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setattr(
        reddit_dump, "BLOCK_BYTES", 64
    )  # many small blocks: line numbers must survive the cuts
    settings, results = both_paths(tmp_path, [path])
    assert results[0].rows == 3
    assert {r["post_id"]: r["text"] for r in rows_of(settings)}["reddit:t1_k6"] == "smile \U0001f600"
    bad = {q["location"]: q["reason"] for q in quarantined(settings)}
    assert set(bad) == {"RC_2024-02:2", "RC_2024-02:4", "RC_2024-02:5", "RC_2024-02:7"}
    assert bad["RC_2024-02:4"].startswith("line is a JSON list")
    assert all(
        bad[k].startswith("malformed JSON line") for k in ("RC_2024-02:2", "RC_2024-02:5", "RC_2024-02:7")
    )


def test_truncated_file_keeps_what_was_read_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "RC_2024-03.ndjson"
    with open(src, "w") as fh:
        for i in range(20_000):
            fh.write(
                json.dumps(
                    {
                        "id": f"x{i}",
                        "body": f"comment number {i} " * (i % 7),
                        "author": f"u{i % 300}",
                        "subreddit": "python",
                        "link_id": "t3_p",
                        "parent_id": "t3_p",
                        "created_utc": 1709251200 + i,
                    }
                )
                + "\n"
            )
    full = compress_long(src, tmp_path / "full.zst")
    cut = tmp_path / "RC_2024-03.zst"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    caplog.set_level(logging.WARNING)
    settings, results = both_paths(tmp_path / "out", [cut])
    rows = rows_of(settings)
    assert 0 < len(rows) < 20_000
    # what was read is every line up to the cut, in order
    assert {r["post_id"] for r in rows} == {f"reddit:t1_x{i}" for i in range(len(rows))}
    (record,) = [q for q in quarantined(settings) if q["reason"].startswith("truncated file")]
    assert record["record"]["lines_read"] == len(rows)
    assert f"after {len(rows)} complete lines" in record["reason"]
    assert record["location"] == f"RC_2024-03.zst:{len(rows) + 1}"
    assert results[0].quarantine_reasons == {"truncated file": 1}
    assert "truncated" in caplog.text


# --------------------------------------------------------------------------------------------- era drift
def test_fields_that_drift_across_eras_map_the_same_on_both_paths(tmp_path: Path) -> None:
    base = {"author": "someone", "subreddit": "Python", "score": 5, "created_utc": 1500000000}
    comments = [
        {**base, "id": "a1", "body": "int time", "link_id": "t3_p", "parent_id": "t3_p"},
        {
            **base,
            "id": "a2",
            "name": "t1_a2",
            "body": "float",
            "link_id": "t3_p",
            "parent_id": "t1_a1",
            "created_utc": 1500000000.5,
        },
        {
            **base,
            "id": "a3",
            "body": "text time",
            "link_id": "t3_p",
            "parent_id": "t3_p",
            "created_utc": "1500000001",
        },
        {
            **base,
            "id": "a4",
            "body": "iso time",
            "link_id": "t3_p",
            "parent_id": "t3_p",
            "created_utc": "2017-07-14T02:40:00+00:00",
        },
        {
            **base,
            "id": "a5",
            "body": "bad time",
            "link_id": "t3_p",
            "parent_id": "t3_p",
            "created_utc": "soon",
        },
        {
            **base,
            "id": "a6",
            "body": "future",
            "link_id": "t3_p",
            "parent_id": "t3_p",
            "created_utc": 4102444800,
        },
        {
            **base,
            "id": "a7",
            "body": "[deleted]",
            "author": "[deleted]",
            "link_id": "t3_p",
            "parent_id": "t3_p",
        },
        {
            **base,
            "id": "a8",
            "body": "[removed]",
            "link_id": "t3_p",
            "parent_id": "t3_p",
            "_meta": {"removal_type": "removed"},
        },
        {
            **base,
            "id": "a9",
            "body": "kept",
            "link_id": "t3_p",
            "parent_id": "t3_p",
            "_meta": {"removal_type": "deleted", "was_deleted_later": True},
            "removal_type": "",
        },
        {**base, "id": "b1", "body": "no parent", "link_id": "t3_p"},
        {**base, "body": "no id at all", "link_id": "t3_p", "parent_id": "t3_p"},
        {**base, "id": "b2", "body": "x" * 50_000, "link_id": "t3_p", "parent_id": "t3_p"},
        {**base, "id": "b3", "body": "score as float", "score": 7.0, "link_id": "t3_p", "parent_id": "t3_p"},
        {**base, "id": "b4", "body": "huge score", "score": 10**30, "link_id": "t3_p", "parent_id": "t3_p"},
        {
            **base,
            "id": "b5",
            "body": "mod",
            "removed_by_category": "moderator",
            "link_id": "t3_p",
            "parent_id": "t3_p",
        },
        {
            **base,
            "id": "b6",
            "body": "unicode sub",
            "subreddit": "Ünïcode",
            "link_id": "t3_p",
            "parent_id": "t3_p",
        },
        {
            **base,
            "id": "b7",
            "body": "",
            "subreddit": "",
            "author": "",
            "link_id": "t3_p",
            "parent_id": "t3_p",
        },
        {
            **base,
            "id": "b8",
            "body": "odd meta",
            "_meta": ["not", "a", "dict"],
            "link_id": "t3_p",
            "parent_id": "t3_p",
        },
        {**base, "id": "a1", "body": "same id again", "link_id": "t3_p", "parent_id": "t3_p"},
    ]
    submissions = [
        {
            **base,
            "id": "p1",
            "title": "self post",
            "selftext": "hello",
            "is_self": True,
            "url": "https://x/p1",
            "num_comments": 3,
            "num_crossposts": 1,
        },
        {**base, "id": "p2", "title": "link", "selftext": "", "is_self": False, "url": "https://example.com"},
        {
            **base,
            "id": "p3",
            "title": "crosspost",
            "selftext": "",
            "crosspost_parent": "t3_p9",
            "crosspost_parent_list": [
                {
                    **base,
                    "id": "p9",
                    "name": "t3_p9",
                    "title": "the original",
                    "subreddit": "news",
                    "selftext": "",
                    "url": "https://example.org",
                }
            ],
        },
        {**base, "id": "p4", "title": "removed", "selftext": "[removed]", "removed_by_category": "reddit"},
        {
            **base,
            "id": "p5",
            "title": "deleted by author",
            "selftext": "[deleted]",
            "removed_by_category": "deleted",
        },
        {**base, "id": 87, "title": "numeric id", "selftext": ""},
        {**base, "id": "p6", "title": "", "selftext": "text only", "num_comments": "12"},
    ]
    rc, rs = tmp_path / "RC_2017-07", tmp_path / "RS_2017-07"
    rc.write_text("\n".join(json.dumps(c) for c in comments) + "\n")
    rs.write_text("\n".join(json.dumps(s) for s in submissions))  # no newline after the last line
    settings, results = both_paths(tmp_path / "out", [rc, rs])
    rows = {r["post_id"]: r for r in rows_of(settings)}
    assert rows["reddit:t1_a3"]["created_at"] == datetime.fromtimestamp(1500000001, UTC)
    assert rows["reddit:t1_a4"]["created_at"] == datetime(2017, 7, 14, 2, 40, tzinfo=UTC)
    assert rows["reddit:t1_a2"]["parent_id"] == "reddit:t1_a1"
    assert rows["reddit:t1_a9"]["is_deleted"] and not rows["reddit:t1_a9"]["is_removed"]
    assert rows["reddit:t1_a8"]["is_removed"] and rows["reddit:t1_b5"]["is_removed"]
    assert rows["reddit:t1_b3"]["score"] == 7 and rows["reddit:t1_b4"]["score"] is None
    assert rows["reddit:t1_b6"]["community"] == "r/ünïcode"
    assert rows["reddit:t3_p1"]["url"] is None and rows["reddit:t3_p2"]["url"] == "https://example.com"
    assert (
        rows["reddit:t3_p3"]["shared_id"] == "reddit:t3_p9" and rows["reddit:t3_p9"]["community"] == "r/news"
    )
    assert rows["reddit:t3_p5"]["is_deleted"] and rows["reddit:t3_p4"]["is_removed"]
    assert "reddit:t3_87" in rows and rows["reddit:t3_p6"]["reply_count"] == 12
    reasons = Counter(q["reason"].split(":")[0].split(" (")[0] for q in quarantined(settings))
    assert reasons == Counter(
        {
            "unparseable created_at 'soon'": 1,
            "created_at out of range": 1,
            "comment without parent_id": 1,
            "missing post_id": 1,
            "text over limit": 1,
        }
    )
    assert results[0].duplicates == 1


def test_reimporting_a_file_replaces_its_rows(realdata: Path, tmp_path: Path) -> None:
    src = compress_long(realdata / DUMPS / "test_comments.json", tmp_path / "RC_sample.zst")
    settings = settings_at(tmp_path / "data")
    first = import_dump(settings, [src])
    second = import_dump(settings, [src])
    assert first[0].run_id == second[0].run_id == f"reddit_dump-RC_sample-{src.stat().st_size}"
    post_ids = [r["post_id"] for r in rows_of(settings)]
    assert len(post_ids) == len(set(post_ids)) == 27


# --------------------------------------------------------------------------------------------- command line
def test_command_line_missing_file_and_changed_key_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    data = ["--data-dir", str(tmp_path / "data"), "--quiet"]
    missing = CliRunner().invoke(app, ["import", "reddit-dump", str(tmp_path / "RC_nope.zst"), *data])
    assert missing.exit_code == 2
    assert missing.output.strip().splitlines() == [
        f"error: reddit_dump: no such file: {tmp_path / 'RC_nope.zst'}"
    ]

    path = tmp_path / "RC_one.ndjson"
    path.write_text(json.dumps({"id": "c1", "body": "hi", "author": "a", "subreddit": "x", "link_id": "t3_p",
                                "parent_id": "t3_p", "created_utc": 1_600_000_000}) + "\n")  # fmt: skip
    assert CliRunner().invoke(app, ["import", "reddit-dump", str(path), *data]).exit_code == 0
    monkeypatch.setenv("RIPPLE_PSEUDONYM_KEY", "another-key-" + "x" * 32)
    changed = CliRunner().invoke(app, ["import", "reddit-dump", str(path), *data])
    assert changed.exit_code == 2 and "the pseudonym key changed" in changed.output
    rekeyed = CliRunner().invoke(app, ["import", "reddit-dump", str(path), "--rekey", *data])
    assert rekeyed.exit_code == 2 and "--rekey refused" in rekeyed.output


# --------------------------------------------------------------------------------------------- byte pre-filter
def comment_line(cid: str, subreddit_json: str, **fields: Any) -> bytes:
    """A comment line whose subreddit is written as the given raw JSON text (escapes, spacing kept)."""
    base = {"id": cid, "body": "hi", "author": "someone", "link_id": "t3_p", "parent_id": "t3_p",
            "created_utc": 1_700_000_000, **fields}  # fmt: skip
    return (json.dumps(base)[:-1] + f', "subreddit"{subreddit_json}}}').encode()


ADVERSARIAL = [
    comment_line("w1", ': "python"'),
    comment_line("w2", ':"PYTHON"'),  # another case, no space
    comment_line("w3", ' :   "PyThOn"'),  # spaces around the colon
    comment_line("w4", ': "\\u0050ython"'),  # one escaped character
    comment_line("w5", ': "\\u0070\\u0079\\u0074\\u0068\\u006F\\u006E"'),  # all escaped, upper-case hex
    comment_line("w6", ': "\\u212Aotlin"'),  # the Kelvin sign lower-cases to "k"
    comment_line("w7", ': "\u212aOTLIN"'),  # the same, as UTF-8
    comment_line("w8", ': "python"', parent_id=None),  # wanted, but rejected by validation
    b'{"id": "w9", "subreddit": "python", "body": "cut off',  # wanted and malformed: still reported
    comment_line("n1", ': "pythonic"'),  # the wanted name is a prefix of this one
    comment_line("n2", ': "learnpython"'),  # ... and a suffix of this one
    comment_line("n3", ': "news"', body='he said "subreddit": "python"'),  # in the text: escaped quotes
    comment_line("n4", ': "news"', body="python"),  # a whole string equal to the name: decoded, then dropped
    comment_line("n5", ': "news"', author="python"),
    comment_line("n6", ': "py thon"'),
    b'{"id": "n7", "subreddit": "news", "body": "cut off',  # malformed, not wanted: not reported
    b"",
]
WANTED = {"python", "kotlin", "askreddit", "mma", "reddit.com"}


def line_wanted(line: bytes, wanted: set[str], key: str = "subreddit") -> bool:
    try:
        record = json.loads(line)
    except ValueError:
        return False
    value = record.get(key) if isinstance(record, dict) else None
    return isinstance(value, str) and value.lower() in wanted


@pytest.mark.parametrize("compressed", [True, False], ids=["zst", "plain"])
def test_filtered_import_equals_the_unfiltered_import_then_the_filter(
    realdata: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compressed: bool
) -> None:
    real = [
        line for line in (realdata / DUMPS / "test_comments.json").read_bytes().splitlines() if line.strip()
    ]
    lines = [x for pair in zip(real, ADVERSARIAL, strict=False) for x in pair] + real[len(ADVERSARIAL) :]
    lines += ADVERSARIAL[len(real) :]
    src = tmp_path / "RC_mixed.ndjson"
    src.write_bytes(b"\n".join(lines) + b"\n")
    path = compress_long(src, tmp_path / "RC_mixed.zst") if compressed else src
    # many blocks (and, for the plain file, chunks of 3000 bytes): line numbers must survive the cuts
    monkeypatch.setattr(reddit_dump, "BLOCK_BYTES", 3000)

    everything = settings_at(tmp_path / "all")
    import_dump(everything, [path])
    filtered, _ = both_paths(tmp_path / "filtered", [path], subreddits=[*WANTED, "r/MMA"])

    wanted_ids = {f"reddit:t1_{json.loads(x)['id']}" for x in lines if line_wanted(x, WANTED)}
    assert {"reddit:t1_w1", "reddit:t1_w5", "reddit:t1_w6", "reddit:t1_w7"} <= wanted_ids
    assert rows_of(filtered) == [r for r in rows_of(everything) if r["post_id"] in wanted_ids]
    assert len(rows_of(filtered)) == len(wanted_ids) - 1  # w8 has no parent

    def rejects(settings: Settings) -> set[tuple[str, str]]:
        return {(q["location"], q["reason"]) for q in quarantined(settings)}

    number = {line: n for n, line in enumerate(lines, 1)}
    wanted_locations = {f"{path.name}:{number[x]}" for x in lines if line_wanted(x, WANTED)}
    wanted_locations.add(f"{path.name}:{number[ADVERSARIAL[8]]}")  # the malformed line naming r/python
    expected = {r for r in rejects(everything) if r[0] in wanted_locations}
    assert rejects(filtered) == expected
    assert {loc for loc, _ in expected} == {
        f"{path.name}:{number[ADVERSARIAL[7]]}",
        f"{path.name}:{number[ADVERSARIAL[8]]}",
    }
    # the malformed line of another subreddit is reported only without the filter
    assert f"{path.name}:{number[ADVERSARIAL[15]]}" in {loc for loc, _ in rejects(everything)}


def test_prefilter_skips_other_lines_undecoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [comment_line(f"c{i}", f': "sub{i % 100}"') for i in range(1000)]
    path = tmp_path / "RC_many.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    decoded: list[int] = []
    decoders = dict(reddit_dump._DECODERS)

    class Counting:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def decode_lines(self, data: bytes) -> list[Any]:
            out = self.inner.decode_lines(data)
            decoded.append(len(out))
            return out

        def decode(self, line: bytes) -> Any:
            decoded.append(1)
            return self.inner.decode(line)

    monkeypatch.setattr(reddit_dump, "_DECODERS", {k: Counting(v) for k, v in decoders.items()})
    [result] = import_dump(settings_at(tmp_path / "data"), [path], subreddits=["SUB7"])
    assert result.rows == 10 and sum(decoded) == 10


def test_author_filter_matches_names_in_any_case_and_encoding(tmp_path: Path) -> None:
    lines = [
        comment_line("a1", ': "x"', author="Alice"),
        comment_line("a2", ': "x"', author="ALICE"),
        comment_line("a3", ': "y"', author="alice"),
        comment_line("a4", ': "x"', author="alice2"),
        comment_line("a5", ': "x"', author="bob", body="alice"),
        comment_line("a6", ': "x"').replace(b'"someone"', b'"\\u0041lice"'),
    ]
    path = tmp_path / "RC_authors.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    settings, _ = both_paths(tmp_path, [path], authors=["u/alice"], subreddits=["x"])
    assert [r["post_id"] for r in rows_of(settings)] == ["reddit:t1_a1", "reddit:t1_a2", "reddit:t1_a6"]


def test_non_ascii_names_are_matched_after_decoding(tmp_path: Path) -> None:
    lines = [
        comment_line("u1", ': "Ünïcode"'),
        comment_line("u2", ': "\\u00dcN\\u00cfCODE"'),
        comment_line("u3", ': "x"'),
    ]
    path = tmp_path / "RC_unicode.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    settings, _ = both_paths(tmp_path, [path], subreddits=["ünïcode"])
    assert [r["post_id"] for r in rows_of(settings)] == ["reddit:t1_u1", "reddit:t1_u2"]


def test_filtered_import_of_a_cut_file_keeps_the_wanted_lines_before_the_cut(tmp_path: Path) -> None:
    lines = [comment_line(f"x{i}", ': "python"' if i % 3 == 0 else ': "other"', body="w " * (i % 50)) for i in range(20_000)]  # fmt: skip
    src = tmp_path / "RC_cut.ndjson"
    src.write_bytes(b"\n".join(lines) + b"\n")
    full = compress_long(src, tmp_path / "full.zst")
    cut = tmp_path / "RC_cut.zst"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    everything = settings_at(tmp_path / "all")
    [unfiltered] = import_dump(everything, [cut])
    settings, [result] = both_paths(tmp_path / "filtered", [cut], subreddits=["Python"])
    read = unfiltered.rows  # every line read before the cut
    assert 0 < read < 20_000
    assert {r["post_id"] for r in rows_of(settings)} == {f"reddit:t1_x{i}" for i in range(0, read, 3)}
    (record,) = quarantined(settings)
    assert record["location"] == f"RC_cut.zst:{read + 1}" and record["record"]["lines_read"] == read


def test_filtered_import_reads_a_last_line_without_newline(tmp_path: Path) -> None:
    lines = [comment_line("a", ': "other"'), comment_line("b", ': "python"'), comment_line("c", ': "python"')]
    path = tmp_path / "RC_nonl.ndjson"
    path.write_bytes(b"\n".join(lines))  # no newline after the last line
    settings, [result] = both_paths(tmp_path, [path], subreddits=["python"])
    assert [r["post_id"] for r in rows_of(settings)] == ["reddit:t1_b", "reddit:t1_c"]


def test_command_line_author_and_subreddit_filters(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    lines = [
        comment_line("a1", ': "python"', author="Alice"),
        comment_line("a2", ': "python"', author="bob"),
        comment_line("a3", ': "rust"', author="alice"),
    ]
    path = tmp_path / "RC_cli.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    data = tmp_path / "data"
    args = ["import", "reddit-dump", str(path), "--author", "alice", "--subreddit", "Python"]
    done = CliRunner().invoke(app, [*args, "--data-dir", str(data), "--quiet"])
    assert done.exit_code == 0, done.output
    assert [r["post_id"] for r in rows_of(settings_at(data))] == ["reddit:t1_a1"]
