"""The demo simulator: deterministic, a pure function of (seed, window), with the documented planted structure."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.affect import Scorer, text_for_scoring
from pipeline.config import load_settings
from pipeline.sources.base import FetchContext, Window
from pipeline.sources.demo import COMMUNITIES, PLANTED_EFFECTS, PLANTED_OVERLAP, DemoSource
from pipeline.state import SourceState


def make_source(tmp_path: Path, seed: int = 3, scale: float = 0.5) -> DemoSource:
    return DemoSource(load_settings(data_dir=tmp_path, overrides={"demo": {"seed": seed, "scale": scale}}))


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> DemoSource:
    return make_source(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def month(source: DemoSource) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for k in range(30):
        items.extend(source.generate_day(date(2026, 9, 1) + timedelta(days=k)))
    return items


def fetch_items(source: DemoSource, window: Window, state_dir: Path) -> list[dict[str, Any]]:
    ctx = FetchContext(source.settings, "r", window, SourceState(state_dir / f"{window.key()}.json"))
    return [it for page in source.fetch(ctx) for it in page["data"]["items"]]


def test_same_seed_same_data_other_seed_other_data(tmp_path: Path, source: DemoSource) -> None:
    day = date(2026, 10, 5)
    again = make_source(tmp_path / "a")
    assert again.generate_day(day) == source.generate_day(day)
    other = make_source(tmp_path / "b", seed=4)
    assert other.generate_day(day) != source.generate_day(day)


def test_items_of_a_window_are_a_pure_function_of_seed_and_window(tmp_path: Path, source: DemoSource) -> None:
    t0 = datetime(2026, 10, 1, 6, tzinfo=UTC)
    whole = fetch_items(source, Window(t0, t0 + timedelta(days=4)), tmp_path)
    first = fetch_items(source, Window(t0, t0 + timedelta(days=1, hours=7)), tmp_path)
    second = fetch_items(source, Window(t0 + timedelta(days=1, hours=7), t0 + timedelta(days=4)), tmp_path)
    key = lambda it: it["id"]  # noqa: E731
    assert sorted(first + second, key=key) == sorted(whole, key=key)
    assert all(t0.timestamp() <= it["created_utc"] < (t0 + timedelta(days=4)).timestamp() for it in whole)
    # replies to posts from before the window are in it: the window regenerated the days before it
    ids = {it["id"] for it in whole}
    assert any(it.get("parent") and it["parent"] not in ids for it in whole)


def test_default_size_is_about_50k_items_over_30_days(tmp_path: Path, month: list[dict[str, Any]]) -> None:
    # the fixture runs at scale 0.5
    assert 20_000 <= len(month) <= 30_000
    kinds = Counter(it["kind"] for it in month)
    assert kinds["post"] > 2_000 and kinds["comment"] > 10 * kinds["share"] > 0


def test_twelve_communities_with_the_planted_overlap(source: DemoSource) -> None:
    world = source.world
    assert len(world.members) == len(COMMUNITIES) == 12
    names = [c for c, _ in COMMUNITIES]
    sets = [set(m.tolist()) for m in world.members]

    def jaccard(a: str, b: str) -> float:
        x, y = sets[names.index(a)], sets[names.index(b)]
        return len(x & y) / len(x | y)

    planted = {frozenset((a, b)) for a, b, _, _ in PLANTED_OVERLAP}
    others = [
        jaccard(a, b) for i, a in enumerate(names) for b in names[i + 1 :] if frozenset((a, b)) not in planted
    ]
    strong = [jaccard(a, b) for a, b, _, label in PLANTED_OVERLAP if label == "strong"]
    weakest_planted = min(jaccard(a, b) for a, b, _, _ in PLANTED_OVERLAP)
    assert min(strong) > 5 * max(others)
    assert weakest_planted > max(others)


def test_activity_is_heavy_tailed(month: list[dict[str, Any]]) -> None:
    per_user = np.array(sorted(Counter(it["author"] for it in month if it["author"] != "[deleted]").values()))
    top = per_user[-max(1, len(per_user) // 10) :].sum()
    assert top / per_user.sum() > 0.3
    assert per_user.max() > 20 * np.median(per_user)


def test_reply_trees_of_varied_depth(month: list[dict[str, Any]]) -> None:
    parent = {it["id"]: it.get("parent") for it in month}

    def depth(item_id: str) -> int:
        d = 0
        while parent.get(item_id):
            item_id, d = parent[item_id], d + 1
        return d

    depths = Counter(depth(it["id"]) for it in month if it["kind"] == "comment")
    assert depths[1] > depths[2] > depths[3] > 0
    assert max(depths) >= 10  # the back-and-forth chains


def test_texts_carry_emotion_the_scorers_respond_to(source: DemoSource, month: list[dict[str, Any]]) -> None:
    posts = [it for it in month if it["kind"] == "post"][:400]
    scores = Scorer().score_many([text_for_scoring(p["title"], p["body"]) for p in posts])
    for column in ("nrc_anger", "nrc_fear", "nrc_joy", "nrc_sadness", "nrc_surprise", "nrc_trust"):
        assert np.mean(scores[column] > 0) > 0.1, column
    assert np.std(scores["vader_compound"]) > 0.2
    assert np.std(scores["tb_polarity"]) > 0.1


def test_escape_depends_on_the_planted_emotions(source: DemoSource, month: list[dict[str, Any]]) -> None:
    """Fitting the planted model on the simulated outcome recovers the planted log-odds."""
    import statsmodels.api as sm

    posts = [it for it in month if it["kind"] == "post"]
    shared = {it["shared"] for it in month if it["kind"] == "share"}
    scores = Scorer().score_many([text_for_scoring(p["title"], p["body"]) for p in posts])
    escaped = np.array([p["id"] in shared for p in posts], dtype=float)
    assert 0.08 < escaped.mean() < 0.3
    world = source.world
    features = list(PLANTED_EFFECTS) + ["nrc_sadness", "nrc_joy"]
    columns = []
    for feature in features:
        values = np.asarray(scores[feature], dtype=float)
        columns.append((values - values.mean()) / values.std())
    fit = sm.Logit(escaped, sm.add_constant(np.column_stack(columns))).fit(disp=0)
    low, high = fit.conf_int(alpha=0.01).T
    for k, feature in enumerate(features, start=1):
        truth = PLANTED_EFFECTS.get(feature, 0.0)
        # sample SDs differ slightly from the simulator's population SDs; the 99% interval absorbs that
        assert (
            low[k]
            <= truth * np.std(scores[feature]) / world.feature_sd.get(feature, np.std(scores[feature]))
            <= high[k]
        ), feature


def test_shares_go_to_other_communities_and_gather_replies_there(month: list[dict[str, Any]]) -> None:
    by_id = {it["id"]: it for it in month}
    shares = [it for it in month if it["kind"] == "share"]
    assert all(s["community"] != by_id[s["shared"]]["community"] for s in shares if s["shared"] in by_id)
    replies_to_shares = [it for it in month if it.get("parent") in {s["id"] for s in shares}]
    assert replies_to_shares and all(
        r["community"] == by_id[r["parent"]]["community"] for r in replies_to_shares
    )
    # most planted partner pairs receive more shares than chance
    names = [c for c, _ in COMMUNITIES]
    pair_shares: dict[frozenset[str], int] = defaultdict(int)
    for s in shares:
        if s["shared"] in by_id:
            pair_shares[frozenset((by_id[s["shared"]]["community"], s["community"]))] += 1
    planted = [pair_shares[frozenset((a, b))] for a, b, _, _ in PLANTED_OVERLAP]
    all_pairs = [pair_shares[frozenset((a, b))] for i, a in enumerate(names) for b in names[i + 1 :]]
    assert np.median(planted) > np.median(all_pairs)


def test_planted_truth_tables(source: DemoSource) -> None:
    tables = source.planted_tables()
    effects = tables["planted_effects"].to_pylist()
    assert {e["feature"]: e["log_odds_per_sd"] for e in effects} == PLANTED_EFFECTS
    assert all(math.isclose(e["odds_ratio_per_sd"], math.exp(e["log_odds_per_sd"])) for e in effects)
    overlap = tables["planted_overlap"].to_pylist()
    assert len(overlap) == len(PLANTED_OVERLAP)
    assert all(o["community_a"] < o["community_b"] for o in overlap)


def test_normalized_items_pass_validation(tmp_path: Path) -> None:
    from pipeline import lake

    source = make_source(tmp_path, scale=0.05)
    window = Window(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 4, tzinfo=UTC))
    result = lake.ingest(source, source.settings, window)
    assert result.quarantined == 0
    assert result.rows > 200
    assert set(result.by_community["demo"]) <= {c for c, _ in COMMUNITIES}
