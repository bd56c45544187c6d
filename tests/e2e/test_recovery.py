"""The whole chain, checked against planted truth: demo text → affect scores → cascades and spread → regression.

The demo simulator plants effects of ripple's own standardized affect scores on the chance that a post is shared into
another community (docs/sources/demo.md). If tokenization, scoring, the cascade and membership models, the `escaped`
rule or the regression were wrong, the fitted odds ratios would miss the planted ones.
"""

from __future__ import annotations

import math

import duckdb
import pytest

from pipeline.config import load_settings
from pipeline.run import run_nightly
from pipeline.sources.demo import PLANTED_EFFECTS

SEEDS = (42, 7, 2026)
NOT_PLANTED = ("nrc_anticipation", "nrc_disgust", "nrc_fear", "nrc_joy", "nrc_sadness", "vader_compound")


@pytest.fixture(scope="module")
def fits(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, dict]]:
    results: dict[int, dict[str, dict]] = {}
    for seed in SEEDS:
        data = tmp_path_factory.mktemp(f"recovery{seed}")
        settings = load_settings(data_dir=data, overrides={"demo": {"seed": seed, "scale": 0.45}})
        # 90 days of membership warm-up (left out of the fits) and five settled weeks after it
        run_nightly(settings, since="2026-05-29", until="2026-10-01")
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
        rows = con.sql(
            "select term, odds_ratio_per_sd, ci_low, ci_high, p_value, is_driver, status, n, n_escaped "
            "from fct_spread_drivers where fit_scope = 'overall'"
        )
        columns = rows.columns
        results[seed] = {r[0]: dict(zip(columns, r, strict=True)) for r in rows.fetchall()}
        con.close()
    return results


@pytest.mark.slow
def test_fits_have_enough_data(fits: dict[int, dict[str, dict]]) -> None:
    for seed, terms in fits.items():
        row = terms["nrc_anger"]
        assert row["status"] == "ok", (seed, row)
        assert row["n"] > 1_500 and 0.08 < row["n_escaped"] / row["n"] < 0.35, (seed, row)


@pytest.mark.slow
@pytest.mark.parametrize("feature", sorted(PLANTED_EFFECTS))
def test_planted_drivers_are_recovered(fits: dict[int, dict[str, dict]], feature: str) -> None:
    planted = math.exp(PLANTED_EFFECTS[feature])
    covered = 0
    for seed, terms in fits.items():
        row = terms[feature]
        # the planted sign, in every seed
        assert (row["odds_ratio_per_sd"] > 1) == (planted > 1), (seed, feature, row)
        covered += row["ci_low"] <= planted <= row["ci_high"]
    # a 95% interval covers the truth in most seeds
    assert covered >= len(SEEDS) - 1, (feature, planted, {s: fits[s][feature] for s in fits})


@pytest.mark.slow
@pytest.mark.parametrize("feature", NOT_PLANTED)
def test_emotions_without_an_effect_are_not_significant(
    fits: dict[int, dict[str, dict]], feature: str
) -> None:
    significant = [seed for seed, terms in fits.items() if terms[feature]["p_value"] < 0.01]
    assert len(significant) <= 1, (feature, {s: fits[s][feature] for s in fits})
    # called a driver (Benjamini-Hochberg q < 0.05 over the ten terms, bootstrap p-values) in at most one seed
    drivers = [seed for seed, terms in fits.items() if terms[feature]["is_driver"]]
    assert len(drivers) <= 1, (feature, {s: fits[s][feature] for s in fits})
