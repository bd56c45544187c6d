"""The warehouse runner: model order, assertions, COMMENT ON, and the atomic publish."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import warehouse
from pipeline.config import Settings, load_settings
from pipeline.errors import AssertionFailed, BuildError
from pipeline.schema import FILE_SCHEMA

REPO_SQL = Path(__file__).resolve().parents[2] / "sql"


def row(post_id: str, fetched_at: int, **extra: Any) -> dict[str, Any]:
    base = {name: None for name in FILE_SCHEMA.names}
    base.update(
        post_id=post_id,
        kind="post",
        created_at=1_790_899_200_000_000,
        fetched_at=fetched_at,
        is_deleted=False,
        is_removed=False,
        run_id=f"r{fetched_at}",
        source="test",
        root_id=post_id,
        community="c/a",
        author_id="u_1",
        text="hello",
    )
    base.update(extra)
    return base


def write_partition(
    settings: Settings, platform: str, day: str, name: str, rows: list[dict[str, Any]]
) -> Path:
    path = settings.posts_dir / f"platform={platform}" / f"date={day}" / f"{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=FILE_SCHEMA), path)
    return path


def sql_dir_with(tmp_path: Path, models: dict[str, str], tests: dict[str, str] | None = None) -> Path:
    root = tmp_path / "sql"
    for layer in ("staging", "intermediate", "marts", "tests"):
        (root / layer).mkdir(parents=True)
    shutil.copy(REPO_SQL / "staging" / "stg_posts.sql", root / "staging" / "stg_posts.sql")
    for rel, text in models.items():
        (root / rel).write_text(text)
    for name, text in (tests or {}).items():
        (root / "tests" / name).write_text(text)
    return root


def test_parse_model_headers() -> None:
    model = warehouse.parse_model(REPO_SQL / "staging" / "stg_posts.sql", "staging")
    assert model.grain and model.grain.startswith("one row per post_id")
    assert "deduplicated" in (model.description or "")
    assert "ties go to the later run_id" in (model.description or "")  # continuation lines are joined
    assert set(model.columns) >= {"post_id", "fetched_at", "date", "is_deleted"}


def test_models_run_in_dependency_order_within_a_layer(tmp_path: Path, settings: Settings) -> None:
    sql = sql_dir_with(
        tmp_path,
        {
            "marts/a_last.sql": "select n + 1 as n from b_middle",
            "marts/b_middle.sql": "-- zz_first is mentioned here only in a comment\nselect n * 2 as n from zz_first",
            "marts/zz_first.sql": "select 20 as n",
        },
    )
    order = [m.name for m in warehouse.load_models(sql) if m.layer == "marts"]
    assert order == ["zz_first", "b_middle", "a_last"]
    con = duckdb.connect()
    warehouse.build_database(con, settings, sql_dir=sql)
    assert con.sql("select n from a_last").fetchall()[0] == (41,)


def test_a_dependency_cycle_is_a_clear_error(tmp_path: Path) -> None:
    sql = sql_dir_with(tmp_path, {"marts/x.sql": "select * from y", "marts/y.sql": "select * from x"})
    with pytest.raises(BuildError, match="dependency cycle: x -> y -> x"):
        warehouse.load_models(sql)


def test_stg_posts_keeps_the_latest_fetch_and_reads_dropped_in_files(
    tmp_path: Path, settings: Settings
) -> None:
    # files written by anyone in the Post schema, dropped into the lake by hand
    write_partition(
        settings, "demo", "2026-10-02", "old", [row("demo:1", 100, text="first"), row("demo:2", 100)]
    )
    write_partition(settings, "demo", "2026-10-02", "new", [row("demo:1", 200, text="second")])
    write_partition(
        settings, "mastodon", "2026-10-02", "x", [row("mastodon:9", 100, community="Fosstodon.org")]
    )
    con = duckdb.connect()
    warehouse.build_database(con, settings, sql_dir=sql_dir_with(tmp_path, {}))
    rows = dict(con.sql("select post_id, text from stg_posts order by 1").fetchall())
    assert rows == {"demo:1": "second", "demo:2": "hello", "mastodon:9": "hello"}
    assert con.sql("select community from stg_posts where platform = 'mastodon'").fetchall()[0] == (
        "fosstodon.org",
    )


def test_a_failing_assertion_names_itself_and_shows_rows(tmp_path: Path, settings: Settings) -> None:
    write_partition(
        settings, "demo", "2026-10-02", "a", [row("demo:1", 1, score=-5), row("demo:2", 1, score=3)]
    )
    sql = sql_dir_with(
        tmp_path, {}, {"assert_scores_positive.sql": "select post_id, score from stg_posts where score < 0"}
    )
    with pytest.raises(
        AssertionFailed,
        match=r"assertion assert_scores_positive failed: 1 violating row\(s\), e.g. post_id='demo:1', score=-5",
    ):
        warehouse.build_database(duckdb.connect(), settings, sql_dir=sql)


def test_comments_from_model_headers_are_visible_to_analysts(tmp_path: Path, settings: Settings) -> None:
    sql = sql_dir_with(
        tmp_path,
        {
            "marts/fct_things.sql": "-- grain: one row per thing\n-- description: Things.\n-- column n: how many\nselect 1 as n"
        },
    )
    con = duckdb.connect()
    warehouse.build_database(con, settings, sql_dir=sql)
    assert con.sql("select comment from duckdb_tables() where table_name = 'fct_things'").fetchall()[0] == (
        "Grain: one row per thing. Things.",
    )
    assert con.sql(
        "select comment from duckdb_columns() where table_name = 'fct_things' and column_name = 'n'"
    ).fetchall()[0] == ("how many",)
    # the published warehouse is self-contained: no views over lake paths
    assert con.sql("select count(*) from duckdb_views() where not internal").fetchall()[0] == (0,)


def test_config_reaches_sql_as_variables(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "d", overrides={"spread": {"min_outsider_share": 0.25}})
    sql = sql_dir_with(
        tmp_path,
        {
            "marts/fct_cfg.sql": "select getvariable('spread_min_outsider_share') as v, "
            "getvariable('membership_window_days') as w"
        },
    )
    con = duckdb.connect()
    warehouse.build_database(con, settings, sql_dir=sql)
    assert con.sql("select v, w from fct_cfg").fetchall()[0] == (0.25, 90)


READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
for line in sys.stdin:
    print(con.sql("select count(*) from stg_posts").fetchall()[0][0], flush=True)
"""


def count_in_new_process(path: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-c", READER, str(path)], input="go\n", capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def test_publish_while_a_reader_holds_the_old_file(tmp_path: Path, settings: Settings) -> None:
    sql = sql_dir_with(tmp_path, {})
    write_partition(settings, "demo", "2026-10-02", "a", [row("demo:1", 1)])
    warehouse.build(settings, sql_dir=sql)
    # an analyst's notebook in another process holds a read-only connection to the published file
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(settings.warehouse_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdin and reader.stdout
    reader.stdin.write("q\n")
    reader.stdin.flush()
    assert reader.stdout.readline().strip() == "1"
    write_partition(settings, "demo", "2026-10-02", "b", [row("demo:2", 1), row("demo:3", 1)])
    warehouse.build(settings, sql_dir=sql)  # the publish does not wait for the reader
    # the open connection keeps working on the old file ...
    reader.stdin.write("q\n")
    reader.stdin.flush()
    assert reader.stdout.readline().strip() == "1"
    reader.stdin.close()
    assert reader.wait(timeout=30) == 0
    # ... and a new connection sees the new warehouse
    assert count_in_new_process(settings.warehouse_path) == 3


def test_a_failed_build_leaves_the_previous_warehouse_intact(tmp_path: Path, settings: Settings) -> None:
    good = sql_dir_with(tmp_path / "good", {})
    write_partition(settings, "demo", "2026-10-02", "a", [row("demo:1", 1)])
    warehouse.build(settings, sql_dir=good)
    before = settings.warehouse_path.read_bytes()
    bad = sql_dir_with(tmp_path / "bad", {"marts/fct_broken.sql": "select * from no_such_table"})
    with pytest.raises(BuildError, match=r"model sql/marts/fct_broken.sql failed: Catalog Error"):
        warehouse.build(settings, sql_dir=bad)
    assert settings.warehouse_path.read_bytes() == before
    assert sorted(p.name for p in settings.data_dir.iterdir() if p.name.startswith(".warehouse")) == []


def test_a_candidate_left_by_a_killed_build_is_cleaned_up(tmp_path: Path, settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    dead = settings.data_dir / ".warehouse.duckdb.building-999999999"
    dead.write_bytes(b"half a database")
    warehouse.build(settings, sql_dir=sql_dir_with(tmp_path, {}))
    assert not dead.exists() and settings.warehouse_path.exists()


def test_empty_lake_builds_an_empty_warehouse(tmp_path: Path, settings: Settings) -> None:
    result = warehouse.build(settings, sql_dir=sql_dir_with(tmp_path, {}))
    assert result.tables["stg_posts"] == 0


def test_a_stated_dependency_orders_models_across_layers(tmp_path: Path, settings: Settings) -> None:
    # int_late reads a mart: found in its body; int_after only states its dependency in the header
    sql = sql_dir_with(
        tmp_path,
        {
            "marts/fct_base.sql": "select 1 as n",
            "intermediate/int_late.sql": "select n + 1 as n from fct_base",
            "intermediate/int_after.sql": "-- depends_on: int_late\nselect 7 as n",
        },
    )
    order = [m.name for m in warehouse.load_models(sql, hooks=[])]
    assert order.index("fct_base") < order.index("int_late") < order.index("int_after")
    con = duckdb.connect()
    warehouse.build_database(con, settings, sql_dir=sql, hooks=[])
    assert con.sql("select n from int_late").fetchall() == [(2,)]


def test_an_unknown_stated_dependency_is_an_error(tmp_path: Path) -> None:
    sql = sql_dir_with(tmp_path, {"marts/fct_a.sql": "-- depends_on: fct_nowhere\nselect 1 as n"})
    with pytest.raises(BuildError, match=r"fct_a depends on unknown model\(s\): \['fct_nowhere'\]"):
        warehouse.load_models(sql)


CHAIN = {
    "intermediate/int_one.sql": "select count(*) as n from stg_posts",
    "marts/fct_two.sql": "select n + 1 as n from int_one",
    "marts/fct_three.sql": "select n + 1 as n from fct_two",
    "marts/fct_other.sql": "select 0 as n",
}


@pytest.mark.parametrize(
    ("select", "built"),
    [
        (["fct_two"], {"fct_two"}),
        (["+fct_two"], {"stg_posts", "int_one", "fct_two"}),
        (["int_one+"], {"int_one", "fct_two", "fct_three"}),
        (["+fct_two+", "fct_other"], {"stg_posts", "int_one", "fct_two", "fct_three", "fct_other"}),
    ],
)
def test_a_selection_builds_exactly_the_selected_models(
    tmp_path: Path, settings: Settings, select: list[str], built: set[str]
) -> None:
    sql = sql_dir_with(tmp_path, CHAIN)
    plan = warehouse.plan_build(sql, [], select)
    assert {step.name for step in plan.steps} == built


def test_a_selection_with_ancestors_builds_and_checks_them(tmp_path: Path, settings: Settings) -> None:
    write_partition(settings, "demo", "2026-10-02", "a", [row("demo:1", 1), row("demo:2", 1)])
    sql = sql_dir_with(
        tmp_path,
        CHAIN,
        {
            "assert_two.sql": "select * from fct_two where n <> 3",
            "assert_other.sql": "select * from fct_other where n <> 1",  # would fail: fct_other is not built
        },
    )
    con = duckdb.connect()
    result = warehouse.build_database(con, settings, sql_dir=sql, hooks=[], select=["+fct_two"])
    assert con.sql("select n from fct_two").fetchall() == [(3,)]
    assert result.assertions == 1
    tables = {r[0] for r in con.sql("select table_name from duckdb_tables()").fetchall()}
    assert {"stg_posts", "int_one", "fct_two"} <= tables and not {"fct_three", "fct_other"} & tables
    with pytest.raises(BuildError, match="unknown model or hook in selection: fct_nope"):
        warehouse.build_database(duckdb.connect(), settings, sql_dir=sql, hooks=[], select=["fct_nope"])


def record_hook(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """A hook for the tests: copies int_one, which a mart then reads."""
    con.execute("create or replace table int_hooked as select n * 10 as n from int_one")
    return {"rows": 1}


def test_hooks_are_passed_in_and_ordered_by_what_they_read_and_write(
    tmp_path: Path, settings: Settings
) -> None:
    sql = sql_dir_with(tmp_path, {**CHAIN, "marts/fct_hooked.sql": "select n + 1 as n from int_hooked"})
    hook = warehouse.Hook(
        name="record",
        target=f"{__name__}:record_hook",
        stage="after_staging",
        depends_on=("int_one",),
        writes=("int_hooked",),
    )
    names = [step.name for step in warehouse.plan_build(sql, [hook]).steps]
    assert names.index("int_one") < names.index("record") < names.index("fct_hooked")
    con = duckdb.connect()
    result = warehouse.build_database(con, settings, sql_dir=sql, hooks=[hook])
    assert result.hooks[hook.target] == {"rows": 1}
    assert con.sql("select n from fct_hooked").fetchall() == [(1,)]  # no posts: 0 * 10 + 1
    # without the hook nothing is installed behind the caller's back
    plain = warehouse.plan_build(sql, [])
    assert "record" not in [step.name for step in plain.steps]


PRELOADED = "ripple_test_preloaded"


def preload_probe_hook(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, str | None]:
    """A hook for the tests: which thread imported the module it preloads."""
    module = sys.modules.get(PRELOADED)
    return {"imported_by": getattr(module, "IMPORTED_BY", None)}


def test_a_hooks_libraries_are_imported_in_the_background(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The modules a hook names in ``preload`` are imported while the models run, by another thread; a name that
    cannot be imported is left to the hook (the build does not fail on it)."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / f"{PRELOADED}.py").write_text(
        "import threading\nIMPORTED_BY = threading.current_thread().name\n"
    )
    monkeypatch.syspath_prepend(str(modules))
    monkeypatch.delitem(sys.modules, PRELOADED, raising=False)
    hook = warehouse.Hook(
        name="probe",
        target=f"{__name__}:preload_probe_hook",
        stage="after_marts",
        depends_on=("fct_two",),
        preload=("ripple_no_such_module", PRELOADED),
    )
    candidate, result = warehouse.build_candidate(
        settings, sql_dir=sql_dir_with(tmp_path, CHAIN), hooks=[hook]
    )
    assert result.hooks[hook.target] == {"imported_by": "ripple-preload"}
    assert "ripple-preload" not in {thread.name for thread in threading.enumerate()}  # joined
    assert candidate.exists()


def test_the_sql_directory_is_read_when_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RIPPLE_SQL_DIR", raising=False)
    assert warehouse.sql_dir() == REPO_SQL
    monkeypatch.setenv("RIPPLE_SQL_DIR", str(tmp_path))
    assert warehouse.sql_dir() == tmp_path


def test_the_runner_names_no_platform() -> None:
    source = (Path(warehouse.__file__)).read_text(encoding="utf-8").lower()
    for platform in ("reddit", "'x'", '"x"', "demo", "bluesky", "mastodon"):
        assert platform not in source
