"""docs/querying.md and docs/metrics.md are tested: example queries run, every mart column is documented."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from pipeline.config import load_settings

from .conftest import write_lake
from .synthetic import synthetic_rows

DOCS = Path(__file__).resolve().parents[2] / "docs"
# the marts this page documents (fct_affect and fct_spread_drivers are documented with the affect features)
MARTS = (
    "fct_cascades",
    "fct_cascade_quality",
    "fct_item_spread",
    "fct_community_overlap",
    "fct_weekly_trends",
    "dim_communities",
    "dim_detected_partitions",
)


def sql_blocks(path: Path) -> list[str]:
    return re.findall(r"```sql\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory):
    """A warehouse built and published from the synthetic lake, as the nightly run would."""
    from pipeline.warehouse import build

    data_dir = tmp_path_factory.mktemp("wh") / "data"
    write_lake(data_dir, synthetic_rows())
    settings = load_settings(data_dir=data_dir, environ={"RIPPLE_PSEUDONYM_KEY": "docs-key-" + "0" * 32})
    build(settings)
    return settings


def test_querying_has_at_least_ten_examples() -> None:
    assert len(sql_blocks(DOCS / "querying.md")) >= 10


@pytest.mark.parametrize("index", range(len(sql_blocks(DOCS / "querying.md"))))
def test_every_example_query_runs_and_answers(published, index: int) -> None:
    sql = sql_blocks(DOCS / "querying.md")[index]
    con = duckdb.connect(str(published.warehouse_path), read_only=True)
    try:
        statements = [s for s in sql.split(";") if s.strip()]
        for statement in statements:
            rows = con.execute(statement).fetchall()
            assert rows, f"example {index + 1} returned no rows:\n{statement}"
    finally:
        con.close()


def test_open_reader_survives_a_publish(published) -> None:
    from pipeline.warehouse import build

    reader = duckdb.connect(str(published.warehouse_path), read_only=True)
    before = reader.execute("select built_at from ripple_build").fetchone()[0]
    build(published)  # publishes a new file while the reader is open
    assert reader.execute("select built_at from ripple_build").fetchone()[0] == before
    assert reader.execute("select count(*) from fct_item_spread").fetchone()[0] > 0
    reader.close()
    fresh = duckdb.connect(str(published.warehouse_path), read_only=True)
    assert fresh.execute("select built_at from ripple_build").fetchone()[0] > before
    fresh.close()


def test_every_mart_column_is_commented_and_in_metrics_md(published) -> None:
    metrics = (DOCS / "metrics.md").read_text(encoding="utf-8")
    con = duckdb.connect(str(published.warehouse_path), read_only=True)
    try:
        for mart in MARTS:
            table_comment = con.execute(
                "select comment from duckdb_tables() where table_name = ?", [mart]
            ).fetchone()[0]
            assert table_comment and "Grain: one row per" in table_comment, mart
            for column, comment in con.execute(
                "select column_name, comment from duckdb_columns() where table_name = ?", [mart]
            ).fetchall():
                assert comment, f"{mart}.{column} has no comment"
                base = re.sub(r"_(\d+)$", "_k", column)  # minutes_to_size_10 -> minutes_to_size_k
                assert f"`{column}`" in metrics or f"`{base}`" in metrics, (
                    f"{mart}.{column} is not in docs/metrics.md"
                )
    finally:
        con.close()


def test_demo_planted_overlap_ranks_above_other_pairs(tmp_path: Path) -> None:
    """On the demo source, planted community overlaps rank above non-overlapping pairs by lift."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pipeline" / "sources" / "demo.py").exists():
        pytest.skip("the demo source does not exist yet")
    from datetime import UTC, datetime

    from pipeline.lake import ingest
    from pipeline.sources.base import Window, get_source
    from pipeline.warehouse import build_database

    settings = load_settings(
        data_dir=tmp_path / "data",
        environ={"RIPPLE_PSEUDONYM_KEY": "demo-key-" + "0" * 32},
        overrides={"demo": {"scale": 0.3}},
    )
    source = get_source("demo", settings)
    ingest(source, settings, Window(datetime(2024, 3, 4, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC)))
    if hasattr(source, "write_truth"):
        source.write_truth()
    con = duckdb.connect()
    build_database(con, settings)
    if "demo_planted_overlap" not in {r[0] for r in con.execute("show tables").fetchall()}:
        pytest.skip("the demo source does not write demo_planted_overlap")
    ranked = con.execute(
        """
        with lift as (
            select platform, community_a, community_b, avg(lift) as lift
            from fct_community_overlap
            group by all
        ),
        labelled as (
            select l.*, p.community_a is not null as planted
            from lift as l
            left join demo_planted_overlap as p
                on p.platform = l.platform
                and ((p.community_a = l.community_a and p.community_b = l.community_b)
                     or (p.community_a = l.community_b and p.community_b = l.community_a))
        )
        select
            min(lift) filter (where planted) as weakest_planted,
            max(lift) filter (where not planted) as strongest_other,
            count(*) filter (where planted) as planted_pairs
        from labelled
        """
    ).fetchone()
    weakest_planted, strongest_other, planted_pairs = ranked
    assert planted_pairs > 0
    if strongest_other is not None:
        assert weakest_planted > strongest_other
