"""The weekly report: files, links, numbers against independent pandas/SQL, escaping, privacy, determinism."""

from __future__ import annotations

import math
import re
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import load_settings
from pipeline.db import connect_readonly
from pipeline.errors import RippleError
from pipeline.report import GENERATED_MARK, render_report, resolve_week
from pipeline.report.db import Warehouse
from pipeline.report.drivers import driver_reading
from pipeline.report.queries import NO_COMMUNITY, choose_fits, fightin_words
from pipeline.report.weeks import IsoWeek, last_complete_week

sys.path.insert(0, str(Path(__file__).parent))
from test_report_warehouse import (  # noqa: E402
    REAL_NAME,
    REPORT_WEEK,
    WINDOW_DAYS,
    XSS,
    build_warehouse,
    fixture_settings,
    walk,
)

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)  # a Tuesday: the last complete week is 2026-W10
WEEK_START = pd.Timestamp("2026-03-02", tz="UTC")
WEEK_END = pd.Timestamp("2026-03-09", tz="UTC")
PREV_START = pd.Timestamp("2026-02-23", tz="UTC")
BASE_START = pd.Timestamp("2026-02-02", tz="UTC")


def strip_generated(html: str) -> str:
    return "\n".join(line for line in html.splitlines() if GENERATED_MARK not in line)


@pytest.fixture(scope="module")
def rep(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    settings = fixture_settings(tmp_path_factory.mktemp("report"))
    built = build_warehouse(settings, xss=True)
    path = render_report(settings, now=NOW)
    con = connect_readonly(settings.warehouse_path)
    ns = SimpleNamespace(
        settings=settings, posts=built.posts, path=path, dir=path.parent, html=path.read_text(), con=con
    )
    yield ns
    con.close()


def export(rep: SimpleNamespace, name: str) -> pd.DataFrame:
    csv = pd.read_csv(rep.dir / f"{name}.csv", keep_default_na=False, na_values=[""])
    parquet = pd.read_parquet(rep.dir / f"{name}.parquet")
    assert list(csv.columns) == list(parquet.columns), name
    assert len(csv) == len(parquet), name
    return parquet


# ------------------------------------------------------------------------------------------- weeks
def test_iso_week_parsing_and_bounds() -> None:
    w = IsoWeek.parse("2026-W47")
    assert (w.label, str(w.monday), str(w.sunday)) == ("2026-W47", "2026-11-16", "2026-11-22")
    assert w.end - w.start == pd.Timedelta(days=7).to_pytimedelta()
    assert IsoWeek.parse("2026w7").label == "2026-W07"
    assert IsoWeek.parse("2027-W01").shift(-1).label == "2026-W53"  # 2026 has 53 ISO weeks
    for bad in ("2026-47", "W47", "2026-W54", "2025-W53", "", "2026-W00"):
        with pytest.raises(RippleError):
            IsoWeek.parse(bad)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 23, 0, 0, tzinfo=UTC), "2026-W47"),  # Monday midnight: W47 just ended
        (datetime(2026, 11, 22, 23, 59, tzinfo=UTC), "2026-W46"),  # Sunday night: W47 not over yet
        (datetime(2027, 1, 1, 12, tzinfo=UTC), "2026-W52"),  # 1 Jan 2027 belongs to 2026-W53
        (datetime(2027, 1, 4, 12, tzinfo=UTC), "2026-W53"),
    ],
)
def test_last_complete_week(now: datetime, expected: str) -> None:
    assert last_complete_week(now).label == expected


def test_default_week_falls_back_to_the_latest_week_with_data(rep: SimpleNamespace) -> None:
    wh = Warehouse(rep.con)
    assert resolve_week(wh, None, NOW) == (IsoWeek.parse("2026-W10"), [])
    week, notes = resolve_week(wh, None, datetime(2026, 4, 21, tzinfo=UTC))  # W16 ended, no data since W11
    # the default is the last complete week of the data (the mart last_complete_week), not the latest week with
    # items: the orphan reply and some comments spill into Monday of W11, which the lake does not cover to its end
    assert week.label == "2026-W10"
    assert "do not cover 2026-W16" in notes[0] and "2026-W10" in notes[0]
    assert (
        rep.con.execute("select max(iso_week) from fct_weekly_trends where items > 0").fetchone()[0]
        == "2026-W11"
    )
    assert rep.con.execute("select max(iso_week) from last_complete_week").fetchone()[0] == "2026-W10"
    week, notes = resolve_week(wh, "2025-W30", NOW)
    assert week.label == "2025-W30"
    assert notes[-1].startswith("No data: the warehouse has no items in 2025-W30")
    _, notes = resolve_week(wh, "2026-W11", NOW)
    assert "not complete yet" in notes[0]


# ------------------------------------------------------------------------------------------- files and links
def test_report_is_written_with_every_export_linked(rep: SimpleNamespace) -> None:
    assert rep.path == rep.settings.reports_dir / REPORT_WEEK / "report.html"
    hrefs = set(re.findall(r'href="([^"]+)"', rep.html))
    files = {h for h in hrefs if not h.startswith(("#", "https://", "http://"))}  # permalinks: see below
    assert files, "no links to the exports"
    for href in files:
        assert "/" not in href and ":" not in href, f"link is not a relative file name: {href}"
        assert (rep.dir / href).is_file(), f"broken link {href}"
    csvs = {p.stem for p in rep.dir.glob("*.csv")}
    parquets = {p.stem for p in rep.dir.glob("*.parquet")}
    assert csvs == parquets
    assert {f"{n}.csv" for n in csvs} <= files and {f"{n}.parquet" for n in csvs} <= files
    expected = {
        "headline",
        "volume_by_platform",
        "volume_by_community",
        "volume_daily",
        "escaped_items",
        "escape_destinations",
        "escaped_affect_profile",
        "spread_drivers",
        "community_overlap_top",
        "community_overlap_changes",
        "cascade_ccdf",
        "cascade_summary",
        "affect_daily",
        "affect_week_vs_baseline",
        "trending_terms",
        "trending_hashtags",
        "trending_domains",
        "quality_runs",
        "quality_quarantine",
        "quality_cascades",
    }
    assert expected <= csvs
    # no temporary directories left behind
    assert [p.name for p in rep.settings.reports_dir.iterdir()] == [REPORT_WEEK]


def test_html_is_self_contained(rep: SimpleNamespace) -> None:
    html = rep.html
    assert "<script" not in html.lower()
    assert "<link" not in html.lower() and "@import" not in html and "url(" not in html
    srcs = re.findall(r'src="([^"]+)"', html)
    assert len(srcs) >= 8
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'src="(?:https?:)?//', html)
    # the only outside addresses are the items' permalinks: links a reader clicks, never loaded by the page
    outside = re.findall(r'<a ([^>]*)href="(?:https?:)?//', html)
    assert outside and all(attrs == 'class="permalink" ' for attrs in outside)
    assert "default-src 'none'" in html  # the page itself forbids scripts and requests
    for section in (
        "The week at a glance",
        "Items that escaped their community",
        "What drives spread",
        "Community overlap",
        "Cascade depth and size",
        "Sentiment and emotion",
        "Trending terms, hashtags and domains",
        "Data quality",
    ):
        assert f">{section}</h2>" in html


# ------------------------------------------------------------------------------------------- numbers
def week_posts(posts: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    return posts[(posts["created_at"] >= start) & (posts["created_at"] < end)]


def test_volume_matches_the_posts(rep: SimpleNamespace) -> None:
    vol = export(rep, "volume_by_community").set_index(["platform", "community"])
    for (start, end), suffix in (((WEEK_START, WEEK_END), ""), ((PREV_START, WEEK_START), "_prev_week")):
        p = week_posts(rep.posts, start, end).assign(community=lambda d: d["community"].fillna(NO_COMMUNITY))
        grouped = p.groupby(["platform", "community"])
        expected = grouped.size()
        for key, n in expected.items():
            assert vol.loc[key, f"items{suffix}"] == n, key
            assert vol.loc[key, f"unique_authors{suffix}"] == grouped.get_group(key)["author_id"].nunique()
        assert vol[f"items{suffix}"].sum() == len(p)
    cur = week_posts(rep.posts, WEEK_START, WEEK_END)
    assert vol["comments"].sum() == (cur["kind"] == "comment").sum()
    assert vol["shares"].sum() == (cur["kind"] == "share").sum()
    row = vol.loc[("demo", "c/alpha")]
    assert row["items_change_pct"] == pytest.approx(
        (row["items"] - row["items_prev_week"]) / row["items_prev_week"] * 100
    )
    plat = export(rep, "volume_by_platform").set_index("platform")
    assert plat.loc["demo", "unique_authors"] == cur[cur["platform"] == "demo"]["author_id"].nunique()
    head = export(rep, "headline").set_index("metric")
    assert head.loc["items", "this_week"] == len(cur)
    assert head.loc["active authors", "this_week"] == cur["author_id"].nunique()
    assert f">{len(cur):,}<" in rep.html  # the headline number is on the page


def test_escaped_items_match_an_independent_walk(rep: SimpleNamespace) -> None:
    spread = rep.con.execute(
        "select root_id, origin_community, size from fct_item_spread where iso_week = ? and escaped",
        [REPORT_WEEK],
    ).df()
    items = export(rep, "escaped_items")
    assert set(items["root_id"]) == set(spread["root_id"])
    assert list(items["rank"]) == list(range(1, len(items) + 1))
    assert items["outsider_engagers"].is_monotonic_decreasing  # the order of fct_item_drivers
    flows: dict[tuple[str, str], set[str]] = {}
    for rec in items.to_dict("records"):
        depth = walk(rep.posts, rec["root_id"])
        comm = rep.posts.set_index("post_id").loc[[p for p, d in depth.items() if d > 0], "community"]
        away = comm[comm != rec["origin_community"]].value_counts()
        expected = ", ".join(f"{c} ({n})" for c, n in sorted(away.items(), key=lambda t: (-t[1], t[0])))
        assert rec["where_it_went"] == expected
        for c in away.index:
            flows.setdefault((rec["origin_community"], c), set()).add(rec["root_id"])
    dest = export(rep, "escape_destinations")
    got = {
        (o, d): n
        for o, d, n in zip(
            dest["origin_community"], dest["destination_community"], dest["escaped_items"], strict=True
        )
    }
    assert got == {k: len(v) for k, v in flows.items()}
    # the three features that pushed each item most, from fct_item_drivers
    drivers = rep.con.execute(
        "select root_id, feature, contribution from fct_item_drivers where rank <= 3 order by root_id, rank"
    ).df()
    with_drivers = items.dropna(subset=["top_drivers"])
    assert not with_drivers.empty
    for rec in with_drivers.to_dict("records"):
        mine = drivers[drivers["root_id"] == rec["root_id"]]
        expected = ", ".join(
            f"{f} ({c:+.2f})" for f, c in zip(mine["feature"], mine["contribution"], strict=True)
        )
        assert rec["top_drivers"] == expected
    # how fast and the emotional profile come from fct_cascades and fct_affect of the root
    top = items.iloc[0]
    ref = rep.con.execute(
        "select minutes_to_size_10 from fct_cascades where root_id = ?", [top["root_id"]]
    ).fetchone()
    assert top["minutes_to_size_10"] == pytest.approx(ref[0], nan_ok=True)
    vader = rep.con.execute(
        "select vader_compound from fct_affect where post_id = ?", [top["root_id"]]
    ).fetchone()
    assert top["vader_compound"] == pytest.approx(vader[0])


def test_escaped_affect_profile_matches(rep: SimpleNamespace) -> None:
    prof = export(rep, "escaped_affect_profile").set_index("measure")
    ref = (
        rep.con.execute(
            "select s.escaped, avg(a.nrc_anger) as anger from fct_item_spread s join fct_affect a on "
            "a.post_id = s.root_id "
            "where s.iso_week = ? group by all",
            [REPORT_WEEK],
        )
        .df()
        .set_index("escaped")
    )
    assert prof.loc["nrc_anger", "escaped_mean"] == pytest.approx(ref.loc[True, "anger"])
    assert prof.loc["nrc_anger", "other_mean"] == pytest.approx(ref.loc[False, "anger"])


def test_cascade_ccdf_matches(rep: SimpleNamespace) -> None:
    sizes = rep.con.execute(
        "select size, depth from fct_cascades where iso_week = ? and platform = 'demo'", [REPORT_WEEK]
    ).df()
    ccdf = export(rep, "cascade_ccdf")
    for metric in ("size", "depth"):
        sub = ccdf[(ccdf["platform"] == "demo") & (ccdf["metric"] == metric)]
        assert list(sub["value"]) == sorted(sizes[metric].unique())
        for value, share in zip(sub["value"], sub["ccdf"], strict=True):
            assert share == pytest.approx((sizes[metric] >= value).mean())
    summary = export(rep, "cascade_summary").set_index("platform")
    assert summary.loc["demo", "cascades"] == len(sizes)
    assert summary.loc["demo", "size_max"] == sizes["size"].max()
    quality = export(rep, "quality_cascades").set_index("platform")
    incomplete = rep.con.execute(
        "select count(*) from fct_cascades where iso_week = ? and platform = 'demo' and not is_complete",
        [REPORT_WEEK],
    ).fetchone()[0]
    assert quality.loc["demo", "incomplete"] == incomplete >= 1  # the orphan reply of the fixture


def test_affect_trends_match(rep: SimpleNamespace) -> None:
    affect = rep.con.execute("select created_at, vader_compound, nrc_fear from fct_affect").df()
    cur = week_posts(affect, WEEK_START, WEEK_END)
    base = week_posts(affect, BASE_START, WEEK_START)
    cmp_ = export(rep, "affect_week_vs_baseline").set_index("measure")
    assert cmp_.loc["vader_compound", "week_mean"] == pytest.approx(cur["vader_compound"].mean())
    assert cmp_.loc["nrc_fear", "baseline_mean"] == pytest.approx(base["nrc_fear"].mean())
    assert cmp_.loc["nrc_fear", "week_items"] == len(cur)
    daily = export(rep, "affect_daily")
    assert daily["items"].sum() == len(cur) + len(base)
    assert len(daily) == 35


def _count_tokens(texts: pd.Series, pattern: str) -> int:
    return sum(len(re.findall(pattern, t)) for t in texts)


def test_trending_terms_are_fightin_words(rep: SimpleNamespace) -> None:
    terms = export(rep, "trending_terms")
    assert terms.iloc[0]["term"] == "eclipse"
    assert terms["z"].is_monotonic_decreasing
    posts = rep.posts.assign(body=lambda d: (d["title"].fillna("") + " " + d["text"].fillna("")).str.lower())
    body = posts["body"].str.replace(r"https?://\S+", " ", regex=True)
    posts = posts.assign(body=body)
    cur = week_posts(posts, WEEK_START, WEEK_END)["body"]
    base = week_posts(posts, BASE_START, WEEK_START)["body"]
    word = r"(?<![\w#'’-])#?eclipse(?![\w'’-])"
    y_i, y_j = _count_tokens(cur, word), _count_tokens(base, word)
    row = terms.iloc[0]
    assert (row["count_week"], row["count_baseline"]) == (y_i, y_j)
    # the log-odds and z of one term, by hand: prior = counts over both periods
    token = r"#?[^\W\d_][\w'’-]*"
    n_i, n_j = _count_tokens(cur, token), _count_tokens(base, token)
    a = y_i + y_j
    a0 = n_i + n_j
    delta = math.log((y_i + a) / (n_i + a0 - y_i - a)) - math.log((y_j + a) / (n_j + a0 - y_j - a))
    assert row["log_odds"] == pytest.approx(delta)
    assert row["z"] == pytest.approx(delta / math.sqrt(1 / (y_i + a) + 1 / (y_j + a)))
    tags = export(rep, "trending_hashtags")
    assert tags.iloc[0]["term"] == "#eclipse"
    assert tags.iloc[0]["count_week"] == _count_tokens(cur, r"#eclipse\b")
    domains = export(rep, "trending_domains")
    assert "eclipse.example.net" in set(domains["term"])
    assert not any(d.startswith("www.") for d in domains["term"])


def test_fightin_words_by_hand() -> None:
    counts = pd.DataFrame(
        {"term": ["a", "b", "c"], "count_week": [30, 10, 10], "count_baseline": [10, 30, 10]}
    )
    out = fightin_words(counts, min_count=1).set_index("term")
    assert list(out.index) == ["a"]  # b is under-represented and c is as frequent as before (z = 0)
    y_i, y_j, n, a, a0 = 30, 10, 50, 40, 100
    delta = math.log((y_i + a) / (n + a0 - y_i - a)) - math.log((y_j + a) / (n + a0 - y_j - a))
    assert out.loc["a", "log_odds"] == pytest.approx(delta)
    assert out.loc["a", "z"] == pytest.approx(delta / math.sqrt(1 / (y_i + a) + 1 / (y_j + a)))
    assert fightin_words(counts, min_count=31).empty


def test_overlap_matches(rep: SimpleNamespace) -> None:
    ov = rep.con.execute("select * from fct_community_overlap where community_a < community_b").df()
    cur = ov[ov["iso_week"] == REPORT_WEEK]  # the mart holds every pair in both orders: one of them here
    prev = ov[ov["iso_week"] == "2026-W09"]
    assert not cur.empty and not prev.empty
    top = export(rep, "community_overlap_top")
    assert top.iloc[0]["lift"] == cur["lift"].max()
    assert len(top) == min(30, len(cur))
    changes = export(rep, "community_overlap_changes")
    key = ["community_a", "community_b"]
    both = cur.merge(prev, on=key, suffixes=("", "_prev"))
    assert len(changes) == min(20, len(both))
    merged = changes.merge(both, on=key)
    assert np.allclose(
        merged["npmi_change"],
        merged["npmi_y"] - merged["npmi_prev"]
        if "npmi_y" in merged
        else merged["npmi_x"] - merged["npmi_prev"],
    )
    assert changes["npmi_change"].abs().is_monotonic_decreasing


def test_spread_drivers_and_reading(rep: SimpleNamespace) -> None:
    drivers = export(rep, "spread_drivers")
    ref = rep.con.execute(
        "select * from fct_spread_drivers order by fit_scope, fit_key nulls first, term"
    ).df()
    assert len(drivers) == len(ref)
    assert list(drivers["odds_ratio_per_sd"].fillna(-1)) == list(ref["odds_ratio_per_sd"].fillna(-1))
    overall = ref[(ref["fit_scope"] == "overall")]
    n, n_escaped = int(overall["n"].max()), int(overall["n_escaped"].max())
    assert f"Overall fit (n = {n:,}, {n_escaped:,} escaped)" in rep.html
    forest = rep.dir / "chart_spread_drivers.png"
    assert forest.stat().st_size > 5_000


def _drivers_table() -> pd.DataFrame:
    """The shape pipeline.explain writes: an overall fit with affect terms, controls and a 0/1 indicator, and
    a weekly fit without enough data."""
    base = {
        "fit_scope": "overall",
        "fit_key": "all",
        "n": 400,
        "n_escaped": 90,
        "status": "ok",
        "note": None,
        "inference": "score_bootstrap_webb",
    }
    affect = {**base, "term_kind": "affect", "scale": "per_sd", "terms_tested": 4}
    control = {**base, "term_kind": "control", "scale": "per_sd"}
    rows = [
        {**affect, "term": "nrc_anger", "odds_ratio_per_sd": 1.82, "ci_low": 1.41, "ci_high": 2.35}
        | {"q_value": 0.002, "is_driver": True},
        {**affect, "term": "nrc_trust", "odds_ratio_per_sd": 0.70, "ci_low": 0.55, "ci_high": 0.89}
        | {"q_value": 0.03, "is_driver": True},
        {**affect, "term": "vader_compound", "odds_ratio_per_sd": 1.04, "ci_low": 0.88, "ci_high": 1.22}
        | {"q_value": 0.6, "is_driver": False},
        # its interval excludes 1, but not after testing four terms (q >= 0.05): not a driver
        {**affect, "term": "nrc_joy", "odds_ratio_per_sd": 1.30, "ci_low": 1.01, "ci_high": 1.67}
        | {"q_value": 0.08, "is_driver": False},
        {
            **control,
            "term": "log_author_prior_items",
            "odds_ratio_per_sd": 1.20,
            "ci_low": 1.01,
            "ci_high": 1.43,
        },
        {
            **control,
            "scale": "per_unit",
            "term": "weekday[sat]",
            "odds_ratio_per_sd": 3.5,
            "ci_low": 2.0,
            "ci_high": 6.0,
        },
        {
            "fit_scope": "week",
            "fit_key": REPORT_WEEK,
            "term": "nrc_anger",
            "term_kind": "affect",
            "scale": "per_sd",
            "odds_ratio_per_sd": None,
            "ci_low": None,
            "ci_high": None,
            "n": 60,
            "n_escaped": 9,
            "status": "insufficient_data",
            "note": "fewer than 20 escaped items",
        },
    ]
    return pd.DataFrame(rows)


def test_driver_reading_in_plain_words() -> None:
    drivers = _drivers_table()
    described, plotted = choose_fits(drivers, IsoWeek.parse(REPORT_WEEK))
    assert described == [("week", REPORT_WEEK), ("overall", "all")]
    assert plotted == [("overall", "all")]  # the weekly fit has no estimates
    weekly, overall = driver_reading(drivers, described)
    assert weekly == (
        "Week 2026-W10 fit (n = 60, 9 escaped): insufficient data: fewer than 20 escaped items. "
        "No reading is possible."
    )
    assert "anger words goes with 1.82× the odds of escaping (95% CI 1.41–2.35, q = 0.002)" in overall
    assert "30% lower odds (95% CI 0.55–0.89, q = 0.03)" in overall
    assert "4 affect terms tested, drivers at q < 0.05" in overall
    assert "wild cluster score bootstrap" in overall
    assert (
        "No clear association for joy words, VADER compound. Controls held constant: log_author_prior_items"
        in overall
    )
    assert "3.50×" not in overall  # a 0/1 indicator (weekday) is not read as "per standard deviation"


def test_data_quality(rep: SimpleNamespace) -> None:
    q = export(rep, "quality_quarantine").set_index(["source", "reason_kind"])
    assert q.loc[("demo", "malformed demo item"), "records_this_week"] == 3
    assert q.loc[("demo", "malformed demo item"), "records_all_time"] == 4  # imports have no week
    assert q.loc[("demo", "text over limit"), "records_this_week"] == 0  # a run of February
    assert q.loc[("demo", "text over limit"), "records_all_time"] == 1
    runs = export(rep, "quality_runs")
    assert len(runs) == 7
    assert "sources failed: x: 401 Unauthorized" in rep.html
    assert "1 of " in rep.html and "cascades rooted this week are incomplete" in rep.html


# ------------------------------------------------------------------------------------------- safety
def test_user_content_is_escaped(rep: SimpleNamespace) -> None:
    assert XSS not in rep.html
    assert "<img src=x" not in rep.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; headline" in rep.html  # the item title, as text
    assert "c/&lt;script&gt;alert(1)&lt;/script&gt;" in rep.html  # the community name, as text
    items = export(rep, "escaped_items")
    assert f"{XSS} headline" in set(items["title"])  # exports keep the data as it is


def test_no_author_names_when_pseudonymized(rep: SimpleNamespace) -> None:
    assert REAL_NAME not in rep.html
    for csv in rep.dir.glob("*.csv"):
        assert REAL_NAME not in csv.read_text(), csv.name
        assert "name of u0" not in csv.read_text(), csv.name


def test_author_names_when_pseudonymisation_is_off(tmp_path: Path) -> None:
    settings = fixture_settings(tmp_path, privacy={"pseudonymize": False})
    build_warehouse(settings, xss=True)
    path = render_report(settings, week=REPORT_WEEK, now=NOW)
    assert f"by {REAL_NAME}" in path.read_text()
    assert REAL_NAME in set(pd.read_parquet(path.parent / "escaped_items.parquet")["author_name"])


# ------------------------------------------------------------------------------------------- determinism, CLI
def test_same_warehouse_and_week_give_the_same_report(rep: SimpleNamespace, tmp_path: Path) -> None:
    first = tmp_path / "first"
    shutil.copytree(rep.dir, first)
    result = CliRunner().invoke(
        app,
        ["report", "--week", REPORT_WEEK, "--data-dir", str(rep.settings.data_dir)],
        env={"RIPPLE__REPORT__TOP_ITEMS": "100", "RIPPLE__MEMBERSHIP__WINDOW_DAYS": str(WINDOW_DAYS)},
    )
    assert result.exit_code == 0, result.output
    assert str(rep.path) in result.output.replace("\n", "")
    second = rep.dir
    assert sorted(p.name for p in first.iterdir()) == sorted(p.name for p in second.iterdir())
    html1, html2 = (first / "report.html").read_text(), (second / "report.html").read_text()
    assert html1 != html2  # the generated-at line differs ...
    assert strip_generated(html1) == strip_generated(html2)  # ... and nothing else
    for f in first.iterdir():
        if f.name != "report.html":
            assert f.read_bytes() == (second / f.name).read_bytes(), f.name


def test_cli_rejects_a_bad_week(rep: SimpleNamespace) -> None:
    result = CliRunner().invoke(
        app, ["report", "--week", "2026-47", "--data-dir", str(rep.settings.data_dir)]
    )
    assert result.exit_code != 0
    assert "YYYY-Www" in result.output


def test_no_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RippleError, match="no warehouse"):
        render_report(load_settings(data_dir=tmp_path))


# ------------------------------------------------------------------------------------------- other weeks
def test_an_empty_warehouse_renders_every_section(tmp_path: Path) -> None:
    from pipeline.warehouse import build

    settings = load_settings(data_dir=tmp_path)
    build(settings)  # an empty lake: every model, no rows
    path = render_report(settings, now=NOW)
    html = path.read_text()
    assert "No data: the warehouse has no items in 2026-W10. The warehouse holds no items at all." in html
    for section in ("glance", "escaped", "drivers", "overlap", "cascades", "affect", "terms", "quality"):
        assert f'<section id="{section}">' in html, section
    assert pd.read_parquet(path.parent / "escaped_items.parquet").empty
    assert "No item posted in 2026-W10 escaped its origin community." in html
    for noun in ("word or phrase", "hashtag", "domain"):
        assert f"No {noun} qualifies this week (z ≥ 1.96)." in html
    assert (
        '<section id="summary">' in html
        and "there is no earlier settled week with data to compare with" in html
    )


def test_a_week_without_data_says_so(rep: SimpleNamespace, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    shutil.copy(rep.settings.warehouse_path, settings.warehouse_path)
    path = render_report(settings, week="2025-W30", now=NOW)
    html = path.read_text()
    assert "No data: the warehouse has no items in 2025-W30" in html
    assert "The warehouse holds items from 2026-01-26" in html
    assert pd.read_csv(path.parent / "volume_by_community.csv").empty


# ------------------------------------------------------------------------------------------ the real pipeline
@pytest.mark.slow
def test_report_of_a_demo_pipeline_run(tmp_path: Path) -> None:
    from pipeline.run import run_nightly

    settings = load_settings(data_dir=tmp_path, overrides={"demo": {"scale": 0.2}})
    run_nightly(settings)
    path = render_report(settings)
    week = last_complete_week()
    assert path == settings.reports_dir / week.label / "report.html"  # the demo covers the last 30 days
    html = path.read_text()
    assert "No data" not in html
    sections = ["glance", "escaped", "overlap", "cascades", "affect", "terms", "quality"]
    con = connect_readonly(settings.warehouse_path)
    if con.execute("select count(*) from duckdb_tables() where table_name = 'fct_spread_drivers'").fetchone()[
        0
    ]:
        sections.append("drivers")  # once the nightly run fits the spread model
    con.close()
    for section in sections:
        assert f'<section id="{section}">' in html, section
    con = connect_readonly(settings.warehouse_path)
    try:
        ref = con.execute(
            "select community, count(*) as items, count(distinct author_id) as authors from stg_posts "
            "where created_at >= ? and created_at < ? group by community",
            [week.start, week.end],
        ).df()
        escaped = con.execute(
            "select count(*) from fct_item_spread where iso_week = ? and escaped", [week.label]
        ).fetchone()[0]
        cascades = con.execute(
            "select count(*) from fct_cascades where iso_week = ?", [week.label]
        ).fetchone()[0]
    finally:
        con.close()
    vol = pd.read_parquet(path.parent / "volume_by_community.parquet").set_index("community")
    for community, items, authors in ref.itertuples(index=False):
        assert vol.loc[community, "items"] == items
        assert vol.loc[community, "unique_authors"] == authors
    assert len(pd.read_parquet(path.parent / "escaped_items.parquet")) == escaped > 0
    summary = pd.read_parquet(path.parent / "cascade_summary.parquet")
    assert summary["cascades"].sum() == cascades
    assert len(pd.read_parquet(path.parent / "community_overlap_top.parquet")) > 0


# ------------------------------------------------------------------------------------------- summary
def _summary_items(html: str) -> list[tuple[str, str]]:
    block = re.search(r'<section id="summary">.*?<ul class="summary">(.*?)</ul>', html, re.S)
    assert block, "no summary"
    return re.findall(r'<li>(.*?) <a class="cite" href="(#[^"]+)"', block.group(1), re.S)


def test_summary_opens_the_report_and_cites_its_sections(rep: SimpleNamespace) -> None:
    ids = re.findall(r'<section id="([^"]+)"', rep.html)
    assert ids[0] == "summary" and ids.index("glance") > 0
    claims = _summary_items(rep.html)
    assert 3 <= len(claims) <= 6
    for _, href in claims:
        assert f'id="{href[1:]}"' in rep.html, f"summary links to a missing anchor {href}"
    escaped = rep.con.execute(
        "select iso_week, count(*) filter (where escaped) as n from fct_item_spread group by iso_week"
    ).df()
    counts = dict(zip(escaped["iso_week"], escaped["n"], strict=True))
    # the baseline: the settled weeks before (complete, out of the membership warm-up)
    settled = rep.con.execute(
        "select distinct iso_week from fct_weekly_trends where is_complete_week and not is_warmup "
        "and iso_week < ? and cascades > 0 order by 1",
        [REPORT_WEEK],
    ).df()["iso_week"]
    assert "2026-W05" not in set(settled) and "2026-W09" in set(settled)
    base = [counts[w] for w in settled if w >= "2026-W02"]
    text = claims[0][0]
    assert text.startswith(f"{counts[REPORT_WEEK]:,} items posted in {REPORT_WEEK} escaped")
    assert f"the {len(base)} settled weeks before" in text
    assert f"median {np.median(base):g} per week, range {min(base)}–{max(base)}" in text
    top = export(rep, "escaped_items").iloc[0]
    notable = next(t for t, h in claims if h == "#item-1")
    assert top["origin_community"] in notable.replace("&lt;", "<").replace("&gt;", ">")
    assert str(top["title"])[:30].replace("<", "&lt;").replace(">", "&gt;") in notable
    # the biggest overlap change is the first of the section's changes, none of them in the warm-up
    changes = export(rep, "community_overlap_changes")
    assert not changes["is_warmup"].any()
    overlap = next(t for t, h in claims if h == "#overlap")
    if changes.dropna(subset=["npmi_change"]).empty:
        assert "No change in community overlap" in overlap
    else:
        first = changes.dropna(subset=["npmi_change"]).iloc[0]
        assert f"{first['community_a']} and {first['community_b']}" in overlap


def test_summary_sentences_from_tables() -> None:
    from pipeline.report.summary import _drivers_claim, _overlap_claim

    week = IsoWeek.parse(REPORT_WEEK)
    drivers = _drivers_claim(_drivers_table(), week)
    assert drivers["href"] == "#drivers"
    assert "anger words with 1.82× the odds of escaping (95% CI 1.41–2.35, q = 0.002)" in drivers["text"]
    assert "trust words with 0.7× the odds" in drivers["text"]
    assert "VADER" not in drivers["text"]  # its interval includes 1
    assert (
        "joy" not in drivers["text"]
    )  # its interval excludes 1, but q >= 0.05: the same rule as the section
    assert "4 affect terms tested" in drivers["text"] and "wild cluster score bootstrap" in drivers["text"]
    none = _drivers_claim(_drivers_table().assign(is_driver=False), week)["text"]
    assert "finds no affect feature that drives spread" in none and "1.82" not in none
    pair = {"platform": "demo", "shared_members": 12, "lift_prev_week": 1.0, "npmi_prev_week": 0.041}
    changes = pd.DataFrame(
        [
            {**pair, "community_a": "c/a", "community_b": "c/b", "npmi": 0.9, "lift": 9.0, "is_warmup": True},
            {
                **pair,
                "community_a": "c/c",
                "community_b": "c/d",
                "npmi": 0.2,
                "lift": 1.04,
                "is_warmup": False,
            },
        ]
    ).assign(npmi_change=lambda d: d["npmi"] - d["npmi_prev_week"])
    text = _overlap_claim(changes, week)["text"]
    assert "c/c and c/d rose from 0.041 to 0.2" in text and "lift 1.04" in text


# ------------------------------------------------------------------------------------------- items shown
def test_listed_items_have_permalink_snippet_and_cascade_drawing(rep: SimpleNamespace) -> None:
    items = export(rep, "escaped_items")
    posts = rep.posts.set_index("post_id")
    # the link: the mart's permalink, else the platform URL of the item
    permalinks = dict(rep.con.execute("select root_id, permalink from fct_item_spread").fetchall())
    rows = re.findall(r'<tr id="item-(\d+)">(.*?)</tr>', rep.html, re.S)
    assert len(rows) == len(items)  # top_items is 100 in the fixture: every item is listed
    linked = 0
    for rank, row in rows:
        root = items.loc[int(rank) - 1, "root_id"]
        url, text = permalinks.get(root) or posts.loc[root, "url"], posts.loc[root, "text"]
        if isinstance(url, str):
            assert f'<a class="permalink" href="{html_escape(url)}" rel="noopener noreferrer">' in row
            linked += 1
        else:
            assert "permalink" not in row
        first_words = " ".join(str(text).split())[:25]
        assert html_escape(first_words) in row, f"no snippet for {root}"
    assert linked > 0
    # the top five cascades are drawn; their rows are the export, equal to an independent walk
    trees = export(rep, "cascade_trees")
    top = list(items["root_id"].head(5))
    assert sorted(trees["root_id"].unique()) == sorted(top)
    for rank, root in enumerate(top, start=1):
        depth = walk(rep.posts, root)
        tree = trees[trees["root_id"] == root]
        assert dict(zip(tree["post_id"], tree["depth"], strict=True)) == depth
        got = dict(zip(tree["post_id"], tree["community"], strict=True))
        assert got == {p: posts.loc[p, "community"] for p in depth}
        png = rep.dir / f"chart_cascade_{rank}.png"
        assert png.stat().st_size > 3_000
        assert f'<figure id="chart_cascade_{rank}" class="tree">' in rep.html
    assert not (rep.dir / "chart_cascade_6.png").exists()


def html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)


# ------------------------------------------------------------------------------------------- no noise
def test_trending_lists_only_significant_terms_and_phrases(rep: SimpleNamespace) -> None:
    for name in ("trending_terms", "trending_hashtags", "trending_domains"):
        df = export(rep, name)
        assert (df["z"] >= 1.96).all() and (df["count_week"] >= 5).all(), name
    terms = export(rep, "trending_terms").set_index("term")
    # the report week's texts say "eclipse eclipse" (twice in a row) and the baseline never does
    assert terms.loc["eclipse eclipse", "kind"] == "phrase"
    assert terms.loc["eclipse", "kind"] == "word"
    assert terms.loc["eclipse eclipse", "count_baseline"] == 0
    assert "z ≥ 1.96" in rep.html
    # flat counts: nothing over-represented, nothing listed
    flat = pd.DataFrame(
        {"term": ["a", "b", "c"], "count_week": [50, 40, 30], "count_baseline": [200, 160, 120]}
    )
    assert fightin_words(flat).empty


def test_small_values_keep_their_precision() -> None:
    from pipeline.report.view import fmt

    assert [fmt(v, "sig") for v in (0.04, 0.041234, 1.8234, -0.00731, 250.4)] == [
        "0.04",
        "0.0412",
        "1.82",
        "-0.00731",
        "250",
    ]


def test_affect_profile_shows_the_adjusted_effects(rep: SimpleNamespace) -> None:
    prof = export(rep, "escaped_affect_profile").set_index("measure")
    ref = rep.con.execute(
        "select term, odds_ratio_per_sd from fct_spread_drivers where fit_scope = 'overall' and term_kind = "
        "'affect' and odds_ratio_per_sd is not null"
    ).df()
    assert not ref.empty
    for term, odds in zip(ref["term"], ref["odds_ratio_per_sd"], strict=True):
        assert prof.loc[term, "adjusted_odds_ratio_per_sd"] == pytest.approx(odds), term
    assert (prof["adjusted_fit"] == "overall fit").all()
    assert "The means are raw" in rep.html and "Adjusted OR per SD" in rep.html


def test_a_raw_mean_against_the_model_is_called_out() -> None:
    from pipeline.report.sections import _contradictions

    profile = pd.DataFrame(
        {
            "measure": ["nrc_trust", "nrc_anger", "nrc_joy"],
            "difference": [0.02, 0.03, -0.01],
            "adjusted_ci_low": [0.55, 1.2, 0.8],
            "adjusted_ci_high": [0.89, 2.0, 1.3],
        }
    )
    assert _contradictions(profile) == ["trust"]  # more trust among escaped roots, yet lower adjusted odds


# ------------------------------------------------------------------------------------------- alerts
def test_alerts_are_shown_near_the_top(rep: SimpleNamespace) -> None:
    ids = re.findall(r'<section id="([^"]+)"', rep.html)
    assert ids[:3] == ["summary", "alerts", "glance"]
    ref = rep.con.execute(
        "select subject, metric, value, robust_z from fct_alerts where iso_week = ? order by abs(robust_z) desc",
        [REPORT_WEEK],
    ).df()
    shown = export(rep, "alerts")
    assert list(shown["subject"]) == list(ref["subject"]) and list(shown["value"]) == list(ref["value"])
    table = re.search(r'<table id="table-alerts".*?</table>', rep.html, re.S)
    if ref.empty:
        assert table is None and f"No alert in {REPORT_WEEK}" in rep.html
        return
    rows = re.findall(r"<tr class=\"alert-(up|down)\">(.*?)</tr>", table.group(0), re.S)
    assert len(rows) == len(ref)
    for (direction, row), rec in zip(rows, ref.itertuples(), strict=True):
        assert html_escape(rec.subject) in row and f">{int(rec.value):,}<" in row
        assert direction == ("up" if rec.robust_z > 0 else "down")
    claim = next(t for t, h in _summary_items(rep.html) if h == "#alerts")
    assert html_escape(ref["subject"].iloc[0]) in claim


def test_the_report_folder_holds_the_community_flow_network(rep: SimpleNamespace) -> None:
    import networkx as nx

    g = nx.read_gexf(rep.dir / "network_community_flow.gexf")
    same = nx.read_graphml(rep.dir / "network_community_flow.graphml")
    assert sorted(g.edges) == sorted(same.edges) and g.number_of_edges() > 0
    assert (
        'href="network_community_flow.gexf"' in rep.html
        and 'href="network_community_flow.graphml"' in rep.html
    )
    # every escape flow of the week is an edge with at least as many cascades (the network counts all cascades)
    dest = export(rep, "escape_destinations")
    for o, d, n in zip(
        dest["origin_community"], dest["destination_community"], dest["escaped_items"], strict=True
    ):
        assert g.edges[f"demo:{o}", f"demo:{d}"]["escaped"] == n


# ------------------------------------------------------------------------------------------- partial data
def _warmup_weeks(posts: pd.DataFrame, window_days: int, before: str) -> list[str]:
    """The ISO weeks with items before ``before`` that start less than ``window_days`` after the first item."""
    first = posts["created_at"].min()
    weeks = sorted({f"{d.isocalendar()[0]}-W{d.isocalendar()[1]:02d}" for d in posts["created_at"]})
    out = []
    for w in weeks:
        monday = pd.Timestamp(IsoWeek.parse(w).monday, tz="UTC")
        if w < before and (monday - first) / pd.Timedelta(days=1) < window_days:
            out.append(w)
    return out


def test_earlier_warm_up_weeks_are_named_in_one_line(rep: SimpleNamespace) -> None:
    notes = re.findall(r'role="note">(.*?)</div>', rep.html, re.S)
    left_out = _warmup_weeks(rep.posts, WINDOW_DAYS, REPORT_WEEK)
    assert left_out == ["2026-W05"]
    assert notes == [
        f"1 earlier week is left out of comparisons: less than {WINDOW_DAYS} days of history "
        "(the membership window)."
    ]
    assert "warm-up:" not in rep.html  # the report week is settled: no item is marked


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The fixture's six weeks of lake with the default 90-day membership window: every week is warm-up."""
    settings = fixture_settings(tmp_path_factory.mktemp("warm"), membership={"window_days": 90})
    built = build_warehouse(settings)
    path = render_report(settings, now=NOW)
    return SimpleNamespace(
        settings=settings, posts=built.posts, path=path, dir=path.parent, html=path.read_text()
    )


def test_a_lake_shorter_than_the_membership_window_ranks_no_change(warm: SimpleNamespace) -> None:
    html = warm.html
    assert warm.path.parent.name == REPORT_WEEK
    notes = re.findall(r'role="note">(.*?)</div>', html, re.S)
    left_out = _warmup_weeks(warm.posts, 90, REPORT_WEEK)
    assert len(left_out) == 5  # W05 .. W09
    history = (pd.Timestamp(WEEK_START) - warm.posts["created_at"].min()) / pd.Timedelta(days=1)
    assert notes == [
        f"{REPORT_WEEK} is in the membership warm-up ({history:.0f} days of history, less than the 90-day "
        "membership window): its escaped items and overlap are upper bounds, marked as such and not compared "
        f"with other weeks; {len(left_out)} earlier weeks are left out of comparisons too."
    ]
    # no week-over-week change: not in the headline, not in the volume tables, no fastest-growing community
    head = export(warm, "headline")
    assert head["change_pct"].isna().all()
    assert head.loc[head["metric"].isin(["escaped items", "escape rate (%)"]), "previous_week"].isna().all()
    assert export(warm, "volume_by_community")["items_change_pct"].isna().all()
    assert "Fastest growing" not in html and "No change against 2026-W09 is shown" in html
    # overlap: pairs in both weeks exist, none is ranked as a change
    counts = export(warm, "community_overlap_pair_counts").set_index("status")["pairs"]
    assert counts["in warm-up"] == counts["both weeks"] > 0
    assert export(warm, "community_overlap_changes").empty
    claims = dict((h, t) for t, h in _summary_items(html))
    assert "still in the membership warm-up" in claims["#overlap"]
    # escaped items: counted, not compared with a baseline, each one marked as warm-up
    items = export(warm, "escaped_items")
    assert len(items) > 0 and items["is_warmup"].all()
    assert claims["#escaped"].startswith(f"{len(items):,} items posted in {REPORT_WEEK} escaped")
    assert "upper bound" in claims["#escaped"] and "median" not in claims["#escaped"]
    rows = re.findall(r'<tr id="item-(\d+)">(.*?)</tr>', html, re.S)
    assert len(rows) == len(items)
    for rank, row in rows:
        days = items.loc[int(rank) - 1, "history_days"]
        assert f"warm-up: {days:,.0f} days of history" in row
        assert "drivers: nan" not in row  # warm-up items have no per-item drivers


def test_report_queries_follow_ripple_sql_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.report.db import load_query, report_sql_dir

    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "data_span.sql").write_text("select 1 as first_item_at, 2 as last_item_at\n")
    monkeypatch.setenv("RIPPLE_SQL_DIR", str(tmp_path))
    assert report_sql_dir() == tmp_path / "report"
    assert load_query("data_span") == "select 1 as first_item_at, 2 as last_item_at\n"
    monkeypatch.delenv("RIPPLE_SQL_DIR")
    assert "stg_posts" in load_query("data_span")  # the checkout's sql/report again
