"""Calibration of the spread explanation: how often a feature with no effect is called a driver.

Synthetic roots in a dozen origin communities (the usual case: a few subreddits, the demo's 12). The outcome has a
community intercept and three planted affect effects (log-odds per SD, as in the demo); the other seven affect
features have none. Every feature shares a community component, so the clusters matter. Each seed is fitted with
``pipeline.explain.fit_logit`` exactly as the build does, and the script reports:

* the share of (fit, null feature) pairs called a driver (``is_driver``: Benjamini-Hochberg q < 0.05), target at
  most about 5 %, and the share with a raw p < 0.05;
* the same for the unclustered normal-reference test that ripple used before (plain logit), for comparison;
* the coverage of the planted effects by the 95 % intervals and how often they are found (``is_driver``).

    PYTHONPATH=. .venv/bin/python bench/calibration.py --seeds 200 --n 3000

``tests/unit/test_explain.py`` runs a small version (a few seeds).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import numpy as np
import pandas as pd

from pipeline.explain import AFFECT_FEATURES, fit_logit

PLANTED = {"nrc_anger": 0.60, "nrc_surprise": 0.45, "nrc_trust": -0.35}


def calibration_frame(
    seed: int,
    n: int = 3000,
    communities: int = 12,
    community_sd: float = 0.3,
    feature_community_sd: float = 0.5,
    intercept: float = -1.5,
) -> pd.DataFrame:
    """One fit's roots: escape log-odds = intercept + community effect + sum(beta * z) of the planted features."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, communities, n)
    frame = pd.DataFrame({"origin_community": [f"c/{k}" for k in codes], "platform": "demo"})
    logit = intercept + rng.normal(0, community_sd, communities)[codes]
    for feature in AFFECT_FEATURES:
        raw = feature_community_sd * rng.normal(size=communities)[codes] + rng.normal(size=n)
        frame[feature] = raw
        z = (raw - raw.mean()) / raw.std(ddof=1)
        logit += PLANTED.get(feature, 0.0) * z
    frame["escaped"] = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame["log_author_prior_items"] = np.log1p(rng.poisson(3, n))
    frame["log_origin_community_authors"] = np.log1p(rng.integers(50, 500, communities))[codes]
    frame["log_text_chars"] = np.log1p(rng.integers(10, 2000, n))
    frame["has_link"] = rng.random(n) < 0.3
    frame["iso_weekday"] = rng.integers(1, 8, n)
    return frame


def naive_pvalues(frame: pd.DataFrame) -> dict[str, float]:
    """p-values of the affect terms from a plain logit with a normal reference (no clustering)."""
    import statsmodels.api as sm

    X = frame[list(AFFECT_FEATURES)].to_numpy(dtype=float)
    X = sm.add_constant((X - X.mean(axis=0)) / X.std(axis=0, ddof=1))
    result = sm.Logit(frame["escaped"].to_numpy(dtype=float), X).fit(disp=0)
    return dict(zip(AFFECT_FEATURES, np.asarray(result.pvalues)[1:], strict=True))


def calibrate(seeds: int, n: int = 3000, first_seed: int = 0, **design: Any) -> dict[str, Any]:
    """Fit every seed; shares of null features called drivers and coverage of the planted effects."""
    null_terms = [f for f in AFFECT_FEATURES if f not in PLANTED]
    driver_calls = raw_calls = naive_calls = fits = 0
    covered = dict.fromkeys(PLANTED, 0)
    found = dict.fromkeys(PLANTED, 0)
    methods: set[str] = set()
    for seed in range(first_seed, first_seed + seeds):
        frame = calibration_frame(seed, n=n, **design)
        fit = fit_logit(frame, "overall", "all", min_n=200, min_events=20, platform_dummies=False)
        if fit.status != "ok":
            continue
        fits += 1
        methods.add(str(fit.inference))
        terms = {t.term: t for t in fit.terms}
        driver_calls += sum(bool(terms[f].is_driver) for f in null_terms)
        raw_calls += sum((terms[f].p_value or 1.0) < 0.05 for f in null_terms)
        naive = naive_pvalues(frame)
        naive_calls += sum(naive[f] < 0.05 for f in null_terms)
        for feature, beta in PLANTED.items():
            low, high = terms[feature].ci
            covered[feature] += low is not None and high is not None and low <= math.exp(beta) <= high
            found[feature] += bool(terms[feature].is_driver)
    tests = max(1, fits * len(null_terms))
    return {
        "fits": fits,
        "inference": sorted(methods),
        "null_driver_share": driver_calls / tests,
        "null_p05_share": raw_calls / tests,
        "naive_null_p05_share": naive_calls / tests,
        "planted_coverage": {f: c / max(1, fits) for f, c in covered.items()},
        "planted_found": {f: c / max(1, fits) for f, c in found.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--n", type=int, default=3000, help="roots per fit")
    parser.add_argument("--communities", type=int, default=12)
    parser.add_argument(
        "--community-sd", type=float, default=0.3, help="SD of the community escape intercept"
    )
    parser.add_argument(
        "--feature-community-sd", type=float, default=0.5, help="community component of features"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    result = calibrate(
        args.seeds,
        n=args.n,
        communities=args.communities,
        community_sd=args.community_sd,
        feature_community_sd=args.feature_community_sd,
    )
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
