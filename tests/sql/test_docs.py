"""docs/querying.md and docs/metrics.md are tested: example queries run, every mart column is documented."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from pipeline.config import load_settings

from .conftest import write_lake
from .synthetic import synthetic_rows

DOCS = Path(__file__).resolve().parents[2] / "docs"
DEMO_UNTIL = datetime(2026, 11, 26, 15, tzinfo=UTC)  # a Thursday: the last week is still running
# the marts this page documents (fct_affect and fct_spread_drivers are documented with the affect features)
MARTS = (
    "fct_cascades",
    "fct_cascade_quality",
    "fct_item_spread",
    "fct_community_overlap",
    "fct_weekly_trends",
    "dim_communities",
    "dim_detected_partitions",
    "dim_platform_coverage",
    "last_complete_week",
    "fct_item_engagers",
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


@pytest.fixture(scope="module")
def demo_published(tmp_path_factory: pytest.TempPathFactory):
    """The warehouse `make run` builds (the nightly run on the demo source, first run covering
    run.initial_lookback_days), at a small scale, with the run ending mid-week."""
    from pipeline.run import run_nightly

    data_dir = tmp_path_factory.mktemp("demo") / "data"
    settings = load_settings(
        data_dir=data_dir, overrides={"demo": {"scale": 0.05}}, environ={"RIPPLE_PSEUDONYM_KEY": "docs-key"}
    )
    since = DEMO_UNTIL - timedelta(days=settings.run.initial_lookback_days)
    run_nightly(settings, since=since.isoformat(), until=DEMO_UNTIL.isoformat())
    return settings


# examples on detected communities need a platform that has them: the demo has explicit communities only
DETECTED_TABLES = ("dim_detected_partitions", "int_detected_communities")


@pytest.mark.parametrize("index", range(len(sql_blocks(DOCS / "querying.md"))))
def test_every_example_query_runs_and_answers(published, demo_published, index: int) -> None:
    sql = sql_blocks(DOCS / "querying.md")[index]
    on_demo = not any(t in sql for t in DETECTED_TABLES)
    con = duckdb.connect(str((demo_published if on_demo else published).warehouse_path), read_only=True)
    try:
        statements = [s for s in sql.split(";") if s.strip()]
        for statement in statements:
            rows = con.execute(statement).fetchall()
            assert rows, f"example {index + 1} returned no rows:\n{statement}"
    finally:
        con.close()


def demo_run(data_dir: Path, days: float) -> Any:
    from pipeline.run import run_nightly

    settings = load_settings(
        data_dir=data_dir, overrides={"demo": {"scale": 0.05}}, environ={"RIPPLE_PSEUDONYM_KEY": "docs-key"}
    )
    run_nightly(settings, since=(DEMO_UNTIL - timedelta(days=days)).isoformat(), until=DEMO_UNTIL.isoformat())
    return settings


def weekly_flags(settings: Any) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(
            "select distinct week_start, history_days, is_warmup, is_complete_week from fct_weekly_trends "
            "order by week_start"
        ).fetchall()
    finally:
        con.close()


def test_a_demo_lake_shorter_than_the_membership_window_is_all_warmup(tmp_path: Path) -> None:
    settings = demo_run(tmp_path / "data", days=30)
    weeks = weekly_flags(settings)
    assert len(weeks) == 5
    assert all(is_warmup for _, _, is_warmup, _ in weeks)
    # coverage starts with the run's window (its first item, minutes later, without a run log yet)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    start = con.execute("select coverage_start from dim_platform_coverage").fetchone()[0]
    con.close()
    since = DEMO_UNTIL - timedelta(days=30)
    assert since <= start < since + timedelta(hours=1)
    for week_start, history, _, complete in weeks:
        monday = datetime.combine(week_start, datetime.min.time(), tzinfo=UTC)
        assert history == pytest.approx(max(0.0, (monday - start).total_seconds() / 86400))
        assert complete == (monday + timedelta(days=7) <= DEMO_UNTIL)
    assert [c for *_, c in weeks] == [True] * 4 + [False]


def test_the_default_first_run_has_settled_complete_weeks(demo_published) -> None:
    weeks = weekly_flags(demo_published)
    settled = [w for w in weeks if not w[2] and w[3]]
    assert len(settled) >= 3  # 120 days: the 90-day warm-up, then settled complete weeks
    assert all((history < 90) == is_warmup for _, history, is_warmup, _ in weeks)
    con = duckdb.connect(str(demo_published.warehouse_path), read_only=True)
    try:
        last = con.execute("select week_start, is_warmup from last_complete_week").fetchall()
    finally:
        con.close()
    assert last == [(max(w[0] for w in weeks if w[3]), False)]


def test_demo_items_carry_permalinks_snippets_and_their_dominant_emotion(demo_published) -> None:
    con = duckdb.connect(str(demo_published.warehouse_path), read_only=True)
    try:
        rows = con.execute(
            "select s.root_id, s.permalink, s.text_snippet, s.dominant_emotion, a.* exclude (post_id) "
            "from fct_item_spread as s left join fct_affect as a on a.post_id = s.root_id"
        ).df()
    finally:
        con.close()
    assert rows["permalink"].str.startswith("https://demo.ripple.invalid/c/").all()
    assert (rows["text_snippet"].str.len() <= 140).all() and (rows["text_snippet"].str.len() > 0).mean() > 0.9
    emotions = ["anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust"]
    rates = rows[[f"nrc_{e}" for e in emotions]].to_numpy(dtype=float)
    for i, got in enumerate(
        rows["dominant_emotion"].astype(object).where(rows["dominant_emotion"].notna(), None)
    ):
        top = np.nanmax(rates[i]) if not np.isnan(rates[i]).all() else np.nan
        want = emotions[int(np.nanargmax(rates[i]))] if top > 0 else None
        assert got == want, (rows["root_id"][i], got, want)
    assert rows["dominant_emotion"].notna().mean() > 0.5


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


@pytest.mark.parametrize("which", ["synthetic", "demo"])
def test_intermediate_config_and_truth_tables_are_commented(published, demo_published, which: str) -> None:
    settings = published if which == "synthetic" else demo_published
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        tables = dict(
            con.execute(
                "select table_name, comment from duckdb_tables() where table_name like 'int\\_%' escape '\\' "
                "or table_name like 'cfg\\_%' escape '\\' or table_name like 'demo\\_planted\\_%' escape '\\' "
                "or table_name = 'stg_affect'"
            ).fetchall()
        )
        uncommented = con.execute(
            "select table_name, column_name from duckdb_columns() where comment is null and table_name in "
            "(select unnest(?::varchar[]))",
            [list(tables)],
        ).fetchall()
    finally:
        con.close()
    expected = {
        "int_posts",
        "int_cascade_nodes",
        "int_membership",
        "stg_affect",
        "cfg_bots",
        "cfg_detect_platforms",
    }
    if which == "demo":
        expected |= {"demo_planted_effects", "demo_planted_overlap"}
    else:
        expected |= {"int_detected_communities", "int_detected_partitions"}
    assert expected <= set(tables)
    assert {t for t, c in tables.items() if not (c and c.startswith("Grain: one row per"))} == set()
    assert uncommented == []


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
