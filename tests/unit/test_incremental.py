"""Incremental builds give the warehouse a full rebuild gives, night after night.

Each night adds lake files the way ripple's own steps do (the demo source, hand-made late replies and re-fetches
through the lake's writer, affect scoring, a purge, a backfill, a settings change); the incremental build's
warehouse is then compared, table for table and row for row, with ``build(full=True)`` of the same lake.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline import affect, warehouse
from pipeline.config import load_settings
from pipeline.lake import PartitionWriter
from pipeline.run import ingest_source
from pipeline.schema import FILE_SCHEMA
from pipeline.sources.base import Window

pytestmark = pytest.mark.slow

START = datetime(2026, 9, 1, tzinfo=UTC)
# build metadata: when a table was written, not what it says
VOLATILE = {"built_at", "fitted_at"}


def differences(a: str, b: str) -> dict[str, tuple[int, int]]:
    """Tables whose rows differ between two warehouse files (doubles compared to 9 significant digits)."""
    con = duckdb.connect()
    con.execute(f"attach '{a}' as a (read_only)")
    con.execute(f"attach '{b}' as b (read_only)")
    names = {}
    for db in ("a", "b"):
        names[db] = {
            row[0]
            for row in con.execute(
                "select table_name from duckdb_tables() where database_name = ?", [db]
            ).fetchall()
        }
    found: dict[str, tuple[int, int]] = {}
    for name in sorted(names["a"] ^ names["b"]):
        found[name] = (-1, -1)
    for name in sorted(names["a"] & names["b"] - {"ripple_build_inputs"}):
        columns = con.execute(
            "select column_name, data_type from duckdb_columns() where database_name = 'a' and table_name = ? "
            "order by column_index",
            [name],
        ).fetchall()
        picked = ", ".join(
            f'case when "{c}" = 0 then 0 else round("{c}" / pow(10, floor(log10(abs("{c}"))) - 8)) end'
            if kind in ("DOUBLE", "FLOAT")
            else f'"{c}"'
            for c, kind in columns
            if c not in VOLATILE
        )
        one = con.execute(
            f"select count(*) from (select {picked} from a.{name} except all select {picked} from b.{name})"
        ).fetchone()[0]
        two = con.execute(
            f"select count(*) from (select {picked} from b.{name} except all select {picked} from a.{name})"
        ).fetchone()[0]
        if one or two:
            found[name] = (one, two)
    return found


def comments(path: str) -> list[tuple]:
    """Every table's and column's comment (what analysts read with DESCRIBE / duckdb_columns())."""
    con = duckdb.connect(path, read_only=True)
    try:
        return con.execute(
            "select table_name, null, comment from duckdb_tables() union all "
            "select table_name, column_name, comment from duckdb_columns() order by all"
        ).fetchall()
    finally:
        con.close()


def check_night(settings, tmp_path, night: str, expect_mode: str) -> warehouse.BuildResult:
    result = warehouse.build(settings)
    assert result.mode == expect_mode, (night, result.reason)
    incremental_copy = tmp_path / f"{night}-incremental.duckdb"
    shutil.copyfile(settings.warehouse_path, incremental_copy)
    full = warehouse.build(settings, full=True)
    assert full.mode == "full"
    assert differences(str(incremental_copy), str(settings.warehouse_path)) == {}, night
    assert comments(str(incremental_copy)) == comments(str(settings.warehouse_path)), night
    for name in ("fct_item_spread", "fct_cascades", "int_membership"):
        assert result.tables[name] == full.tables[name], (night, name)
    return result


def ingest_demo(settings, since: datetime, until: datetime) -> None:
    ingest_source(settings, "demo", Window(since, until))
    affect.score_lake(settings)


def add_rows(settings, run_id: str, table: pa.Table, platform: str = "demo") -> None:
    writer = PartitionWriter(settings, run_id)
    writer.add_table(table.cast(FILE_SCHEMA), platform)
    writer.commit()
    affect.score_lake(settings)


def lake_rows(settings) -> pa.Table:
    files = sorted(settings.posts_dir.glob("platform=*/date=*/*.parquet"))
    table = pa.concat_tables([pq.read_table(f, schema=FILE_SCHEMA) for f in files])
    return table


def late_replies(settings, at: datetime, every: int = 40) -> pa.Table:
    """Replies written at ``at`` to every ``every``-th old post, by authors of other communities."""
    rows = lake_rows(settings)
    posts = rows.filter(pc.equal(rows["kind"], "post")).sort_by("post_id")
    picked = posts.take(list(range(0, posts.num_rows, every)))
    authors = rows["author_id"].to_pylist()[::-1]
    replies = []
    for i, post in enumerate(picked.to_pylist()):
        stamp = int((at + timedelta(minutes=i)).timestamp() * 1_000_000)
        reply = dict(post)
        reply.update(
            post_id=f"demo:late{at:%m%d}-{i}",
            kind="comment",
            parent_id=post["post_id"],
            root_id=post["post_id"],
            shared_id=None,
            share_type=None,
            created_at=stamp,
            fetched_at=stamp,
            author_id=authors[i % len(authors)],
            title=None,
            text=f"late reply {i} about the old news",
            score=1,
            reply_count=0,
            share_count=0,
            run_id=f"late-{at:%m%d}",
        )
        replies.append(reply)
    return pa.Table.from_pylist(replies, schema=FILE_SCHEMA)


def refetched(settings, at: datetime, every: int = 97) -> pa.Table:
    """Some items fetched again at ``at``: new scores, one deleted upstream, one edited."""
    rows = lake_rows(settings).sort_by("post_id")
    picked = rows.take(list(range(0, rows.num_rows, every))).to_pylist()
    # fetched after every earlier fetch (the demo stamps its fetches with the wall clock), so these versions win
    stamp = int((datetime.now(UTC) + timedelta(seconds=1)).timestamp() * 1_000_000)
    for i, row in enumerate(picked):
        row.update(score=(row["score"] or 0) + 7, fetched_at=stamp, run_id=f"refetch-{at:%m%d}")
        if i == 0:
            row.update(is_deleted=True, text="[deleted]", author_id=None)
        if i == 1:
            row.update(text="edited: a furious and joyful rewrite")
    return pa.Table.from_pylist(picked, schema=FILE_SCHEMA)


def orphan_then_parent(settings, at: datetime) -> tuple[pa.Table, pa.Table]:
    """A reply whose parent the lake has not seen yet, and, a night later, that parent."""
    template = (
        lake_rows(settings).filter(pc.equal(lake_rows(settings)["kind"], "post")).slice(0, 1).to_pylist()[0]
    )
    stamp = int(at.timestamp() * 1_000_000)
    parent = dict(template)
    parent.update(
        post_id="demo:lateparent",
        parent_id=None,
        root_id="demo:lateparent",
        created_at=stamp - 60_000_000,
        fetched_at=stamp,
        run_id="parent",
        text="the parent arrives late",
    )
    child = dict(template)
    child.update(
        post_id="demo:earlychild",
        kind="comment",
        parent_id="demo:lateparent",
        root_id="demo:lateparent",
        created_at=stamp,
        fetched_at=stamp,
        run_id="child",
        text="a reply before its parent",
    )
    return (
        pa.Table.from_pylist([child], schema=FILE_SCHEMA),
        pa.Table.from_pylist([parent], schema=FILE_SCHEMA),
    )


def parent_loop(settings, at: datetime) -> tuple[pa.Table, pa.Table]:
    """Two items that reply to each other (a corrupt parent chain), and a reply to one of them."""
    template = (
        lake_rows(settings)
        .filter(pc.equal(lake_rows(settings)["kind"], "comment"))
        .slice(0, 1)
        .to_pylist()[0]
    )
    stamp = int(at.timestamp() * 1_000_000)
    rows = []
    for name, parent in (("loop-a", "loop-b"), ("loop-b", "loop-a"), ("below-loop", "loop-a")):
        row = dict(template)
        row.update(
            post_id=f"demo:{name}",
            parent_id=f"demo:{parent}",
            root_id=f"demo:{parent}",
            created_at=stamp,
            fetched_at=stamp,
            run_id="loop",
            text=name,
        )
        rows.append(row)
    return pa.Table.from_pylist(rows[:2], schema=FILE_SCHEMA), pa.Table.from_pylist(
        rows[2:], schema=FILE_SCHEMA
    )


def test_nights_of_incremental_builds_match_full_rebuilds(tmp_path):
    data = tmp_path / "data"
    # membership with two items, so that recomputed membership rows need the items before a change
    settings = load_settings(
        data_dir=data, overrides={"demo": {"scale": 0.04}, "membership": {"min_items": 2}}
    )
    ingest_demo(settings, START, START + timedelta(days=35))
    first = warehouse.build(settings)
    assert first.mode == "full" and "no published warehouse" in first.reason

    # night 1: the demo's next two days (new items, re-fetches of the last day's)
    ingest_demo(settings, START + timedelta(days=34), START + timedelta(days=37))
    result = check_night(settings, tmp_path, "new-items", "incremental")
    assert result.seconds["stg_posts"] >= 0

    # night 2: late replies to old cascades, re-fetched items with new scores, a deletion, an edit
    night = START + timedelta(days=37, hours=3)
    add_rows(settings, "late-replies", late_replies(settings, night))
    add_rows(settings, "refetch", refetched(settings, night))
    check_night(settings, tmp_path, "late-replies", "incremental")
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    won = con.execute(
        "select count(*), count(*) filter (where text like 'edited:%'), "
        "count(*) filter (where is_deleted and author_id is null) from int_posts where run_id like 'refetch-%'"
    ).fetchone()
    con.close()
    assert won[0] > 10 and won[1:] == (1, 1)  # the re-fetched versions won

    # night 3: a reply whose parent is missing; night 4: the parent arrives
    child, parent = orphan_then_parent(settings, START + timedelta(days=37, hours=5))
    add_rows(settings, "child", child)
    check_night(settings, tmp_path, "orphan", "incremental")
    add_rows(settings, "parent", parent)
    # how a build runs ([warehouse]: threads, memory) is not what it holds: the build stays incremental
    tuned = load_settings(
        data_dir=data,
        overrides={
            "demo": {"scale": 0.04},
            "membership": {"min_items": 2},
            "warehouse": {"threads": 1, "memory_limit": "1GB"},
        },
    )
    check_night(tuned, tmp_path, "parent-arrives", "incremental")

    # a parent loop arrives; a night later, a reply below it (the cascades of such items are rebuilt whole)
    loop, below = parent_loop(settings, START + timedelta(days=37, hours=6))
    add_rows(settings, "loop", loop)
    check_night(settings, tmp_path, "parent-loop", "incremental")
    add_rows(settings, "below-loop", below)
    check_night(settings, tmp_path, "below-loop", "incremental")

    # night 5: a backfill of a window before the lake's history
    ingest_demo(settings, START - timedelta(days=10), START)
    check_night(settings, tmp_path, "backfill", "incremental")

    # night 6: a purge rewrites lake files: the next build is full, and says why
    from pipeline.purge import purge

    purge(settings, rebuild=False)
    add_rows(settings, "after-purge", late_replies(settings, night + timedelta(days=1), every=90))
    result = warehouse.build(settings)
    assert result.mode == "full" and "rewritten or removed" in result.reason

    # night 7: a changed setting rebuilds everything
    changed = load_settings(
        data_dir=data, overrides={"demo": {"scale": 0.04}, "membership": {"window_days": 60}}
    )
    result = warehouse.build(changed)
    assert result.mode == "full" and "settings" in result.reason
    ingest_demo(changed, START + timedelta(days=37), START + timedelta(days=38))
    check_night(changed, tmp_path, "after-settings-change", "incremental")

    # a night up to Sunday, then one with items of the next week only: it completes the week before (the weekly
    # marts of that week change although no item of it did)
    ingest_demo(changed, START + timedelta(days=38), START + timedelta(days=40))
    check_night(changed, tmp_path, "to-sunday", "incremental")
    ingest_demo(changed, START + timedelta(days=41), START + timedelta(days=42))
    check_night(changed, tmp_path, "next-week", "incremental")


def as_platform(table: pa.Table, platform: str) -> pa.Table:
    """The demo's items as items of ``platform``, without communities (they are detected)."""
    rows = table.to_pylist()
    for row in rows:
        for key in ("post_id", "parent_id", "root_id", "shared_id"):
            if row[key]:
                row[key] = f"{platform}:{row[key].split(':', 1)[1]}"
        row["community"] = None
        row["platform"] = platform
    return pa.Table.from_pylist(rows, schema=FILE_SCHEMA)


def test_incremental_builds_with_detected_communities_match_full_rebuilds(tmp_path):
    """On a platform whose communities are detected, new interactions move authors between communities: the
    items of every author whose community changed are recomputed."""
    demo = load_settings(data_dir=tmp_path / "demo", overrides={"demo": {"scale": 0.05}})
    ingest_demo(demo, START, START + timedelta(days=21))
    settings = load_settings(data_dir=tmp_path / "x", overrides={"membership": {"min_items": 2}})
    add_rows(settings, "first", as_platform(lake_rows(demo), "x"), platform="x")
    first = warehouse.build(settings)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    detected = con.execute("select count(distinct community) from int_detected_communities").fetchone()[0]
    con.close()
    assert first.mode == "full" and detected >= 2

    night = START + timedelta(days=20, hours=3)
    add_rows(settings, "late", as_platform(late_replies(demo, night, every=15), "x"), platform="x")
    result = check_night(settings, tmp_path, "x-late-replies", "incremental")
    detection = result.hooks["pipeline.communities:detect_communities"]
    # the weeks before the late replies' week kept their rows; only that week ran Leiden again
    assert detection["weeks_kept"] >= 1 and detection["weeks_detected"] == 1

    # replies in an early week: Leiden runs for that week, later weeks reuse their partitions and are labelled again
    add_rows(
        settings,
        "early",
        as_platform(late_replies(demo, START + timedelta(days=2), every=9), "x"),
        platform="x",
    )
    result = check_night(settings, tmp_path, "x-early-replies", "incremental")
    detection = result.hooks["pipeline.communities:detect_communities"]
    assert detection["weeks_detected"] >= 1 and detection["weeks_reused"] >= 1


@pytest.mark.parametrize(
    ("model", "assertion"),
    [
        ("int_membership", "assert_membership_valid"),
        ("stg_posts", "assert_stg_posts_unique"),
        ("fct_item_engagers", "assert_engagers_unique"),
    ],
)
def test_incremental_assertions_check_the_rows_a_build_wrote(tmp_path, monkeypatch, model, assertion):
    """An incremental build runs some assertions on the groups it wrote into only (the rest passed when it was
    built): a duplicate it writes, next to a row it wrote or to one it carried over, still fails the build."""
    from pipeline import incremental
    from pipeline.errors import AssertionFailed

    settings = load_settings(data_dir=tmp_path / "data", overrides={"demo": {"scale": 0.02}})
    ingest_demo(settings, START, START + timedelta(days=21))
    warehouse.build(settings)
    ingest_demo(settings, START + timedelta(days=20), START + timedelta(days=22))
    published = settings.warehouse_path.read_bytes()

    original = incremental.IncrementalBuild.rerun

    def rerun_with_duplicate(self, step, *args, **kwargs):
        original(self, step, *args, **kwargs)
        if step.name == model:  # a row of a group this build wrote into, once more
            key = {"int_membership": "platform, week_start", "fct_item_engagers": "root_id"}.get(
                model, "post_id"
            )
            self.con.execute(
                f"insert into main.{model} select * from main.{model} "
                f"semi join {incremental.WORK}.new_{model} using ({key}) limit 1"
            )

    monkeypatch.setattr(incremental.IncrementalBuild, "rerun", rerun_with_duplicate)
    with pytest.raises(AssertionFailed, match=assertion):
        warehouse.build(settings)
    assert settings.warehouse_path.read_bytes() == published  # nothing published

    monkeypatch.setattr(incremental.IncrementalBuild, "rerun", original)
    result = warehouse.build(settings)
    assert result.mode == "incremental"
    assert result.assertions == len(list((warehouse.sql_dir() / "tests").glob("*.sql")))
