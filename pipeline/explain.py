"""Which features predict that an item spreads beyond its origin community.

Runs inside the warehouse build after the marts exist (hook ``after_marts``): reads its input frame, the model
``int_spread_features`` (built from ``fct_item_spread``, ``int_posts`` and ``fct_affect``), from the build database
and writes two tables (see ``docs/affect.md``):

* ``fct_spread_drivers``: one row per fit x term. A logistic regression of ``escaped`` on standardized
  affect features plus controls, fitted overall, per platform and per ISO week; odds ratios per standard
  deviation with 95% confidence intervals from standard errors clustered by origin community; with few
  communities (the usual case) p-values from the wild cluster score bootstrap and t(G - 1) intervals;
  Benjamini-Hochberg q-values across the affect terms of each fit and ``is_driver`` (q < 0.05).
* ``fct_item_drivers``: for the top escaped items of each week, each affect feature's contribution
  ``coef * z`` to the item's linear predictor under the overall fit, ranked, so a report can say "this post
  spread with unusually high anger and surprise".

Nothing here raises on thin or degenerate data: a fit without enough items or events gets status
``insufficient_data``; constant or collinear terms are dropped with a note; perfect separation gives status
``separation`` with the estimates withheld. A fake number is never written.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline import scoring
from pipeline.sqlfiles import comment_on

if TYPE_CHECKING:
    import duckdb

    from pipeline.config import Settings

log = logging.getLogger(__name__)

# Valence once (VADER compound: built for social media text; vader_pos/neu/neg sum to 1 and TextBlob
# polarity measures the same thing), subjectivity, and the eight NRC emotions. Arousal is left out: it is a
# near-function of anger, anticipation, fear, joy and surprise, which are in the model.
AFFECT_FEATURES: tuple[str, ...] = (
    "vader_compound",
    "tb_subjectivity",
    *(f"nrc_{emotion}" for emotion in scoring.EMOTIONS),
)
CONTINUOUS_CONTROLS: tuple[str, ...] = (
    "log_author_prior_items",
    "log_origin_community_authors",
    "log_text_chars",
)
BINARY_CONTROLS: tuple[str, ...] = ("has_link",)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Inference by the number of origin communities G (clusters), see docs/affect.md: below MIN_CLUSTERS nothing
# clustered is usable (HC1 errors, normal reference); below MANY_CLUSTERS cluster-robust errors are too small and a
# normal reference too narrow, so p-values of the affect terms come from the wild cluster score bootstrap and
# intervals use CR1 errors with a t(G - 1) reference; from MANY_CLUSTERS on, CR1 errors with a normal reference
MIN_CLUSTERS = 5
MANY_CLUSTERS = 50
BOOTSTRAP_DRAWS = 999
# a term is called a driver when its Benjamini-Hochberg q-value across the fit's affect terms is below this
DRIVER_Q = 0.05
# a standardized coefficient beyond this (odds ratio > e^15 per SD) only happens under (quasi-)separation
MAX_ABS_COEF = 15.0
# relative smallest singular value below which a column is a linear combination of the others
COLLINEAR_TOL = 1e-7
Z_95 = 1.959963984540054

# --------------------------------------------------------------------------------------------- input frame

# the frame is the model sql/intermediate/int_spread_features.sql, built before this step runs
FRAME_TABLE = "int_spread_features"


def warmup_days(settings: Settings) -> int:
    """Days of lake coverage a root needs before it is used in the fits: the membership window.

    Membership needs a full window of history: before that, engagers look like outsiders and "escaped" is
    partly an artefact. The roots flagged ``fct_item_spread.is_warmup`` (history_days < membership.window_days,
    docs/metrics.md) are therefore left out.
    """
    return settings.membership.window_days


def _table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = con.execute(
        "select count(*) from information_schema.tables"
        " where table_name = ? and table_schema = current_schema()",
        [name],
    ).fetchall()
    return bool(rows[0][0])


def fetch_frame(con: duckdb.DuckDBPyConnection, query: str) -> pd.DataFrame:
    """The result of ``query`` as a DataFrame through Arrow (1.1M roots: 0.45 s against 1.2-1.5 s for DuckDB's
    ``.df()``). Integer columns with NULLs stay integers (pandas ``Int64``), as ``.df()`` keeps them."""
    table = con.sql(query).to_arrow_table()
    frame = table.to_pandas()
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_integer(column.type) and column.null_count:
            frame[name] = column.to_pandas(types_mapper={column.type: pd.Int64Dtype()}.get)
    return frame


def load_frame(con: duckdb.DuckDBPyConnection, settings: Settings) -> pd.DataFrame:
    """One row per cascade root with the outcome, raw affect features and raw controls."""
    frame = fetch_frame(con, f"select * from {FRAME_TABLE} order by root_id")  # row order: reproducible fits
    frame["escaped"] = frame["escaped"].fillna(False).astype(bool)
    frame["has_link"] = frame["has_link"].fillna(False).astype(bool)
    frame["in_warmup"] = frame["in_warmup"].fillna(False).astype(bool)
    frame["log_author_prior_items"] = np.log1p(frame["author_prior_items"].astype(float).clip(lower=0))
    frame["log_origin_community_authors"] = np.log1p(frame["origin_community_authors"].astype(float))
    frame["log_text_chars"] = np.log1p(frame["text_chars"].astype(float))
    for col in AFFECT_FEATURES:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame


# --------------------------------------------------------------------------------------------- one fit


@dataclass
class Term:
    term: str
    term_kind: str  # affect | control
    scale: str  # per_sd | per_unit
    status: str = "ok"
    note: str | None = None
    coef: float | None = None
    std_error: float | None = None
    z_value: float | None = None
    p_value: float | None = None
    feature_mean: float | None = None
    feature_sd: float | None = None
    crit: float = Z_95  # two-sided 97.5% quantile of the reference distribution of the interval
    q_value: float | None = None
    is_driver: bool | None = None
    terms_tested: int | None = None

    @property
    def odds_ratio(self) -> float | None:
        return None if self.coef is None else math.exp(self.coef)

    @property
    def ci(self) -> tuple[float | None, float | None]:
        if self.coef is None or self.std_error is None:
            return None, None
        return math.exp(self.coef - self.crit * self.std_error), math.exp(
            self.coef + self.crit * self.std_error
        )


@dataclass
class Fit:
    scope: str
    key: str
    status: str = "ok"
    note: str | None = None
    n: int = 0
    n_escaped: int = 0
    n_clusters: int = 0
    cov_type: str | None = None
    inference: str | None = None
    pseudo_r2: float | None = None
    intercept: float | None = None
    terms: list[Term] = field(default_factory=list)

    def coef(self, term: str) -> float | None:
        for t in self.terms:
            if t.term == term and t.status == "ok":
                return t.coef
        return None


def _notes(*parts: str | None) -> str | None:
    text = "; ".join(p for p in parts if p)
    return text or None


def fit_logit(
    df: pd.DataFrame,
    scope: str,
    key: str,
    min_n: int,
    min_events: int,
    platform_dummies: bool = True,
    note: str | None = None,
) -> Fit:
    """Logistic regression of ``escaped`` on standardized affect features and controls (rows of ``df``)."""
    fit = Fit(scope=scope, key=key)
    notes: list[str] = [note] if note else []
    terms: dict[str, Term] = {}
    usable, data = _scored_sample(df, terms, notes)
    fit.n, fit.n_escaped = int(len(data)), int(data["escaped"].sum())
    n_other = fit.n - fit.n_escaped
    if not usable or fit.n < min_n or fit.n_escaped < min_events or n_other < min_events:
        fit.status = "insufficient_data"
        need = f"needs n >= {min_n} and >= {min_events} items of each outcome"
        fit.note = _notes(f"n={fit.n}, escaped={fit.n_escaped}: {need}", *notes)
        for col in AFFECT_FEATURES:
            terms.setdefault(col, Term(col, "affect", "per_sd", status="insufficient_data"))
        fit.terms = [terms[col] for col in AFFECT_FEATURES]
        return fit

    columns = _design(data, usable, terms, notes, platform_dummies)
    kept = _drop_collinear(columns, terms)
    y = data["escaped"].to_numpy(dtype=float)
    X = np.column_stack([np.ones(fit.n), *[columns[c] for c in kept]])
    codes = _cluster_codes(data)
    fit.n_clusters = int(codes.max()) + 1
    fit.inference = inference_method(fit.n_clusters)
    cov_type, cov_kwds = ("HC1", None) if fit.inference == "hc1_normal" else ("cluster", {"groups": codes})
    fit.cov_type = cov_type
    if fit.inference == "hc1_normal":
        notes.append(
            f"only {fit.n_clusters} origin communities: heteroskedasticity-robust errors, not clustered"
        )

    result, problem = _fit(y, X, cov_type, cov_kwds)
    if problem is not None:
        fit.status = problem[0]
        fit.note = _notes(problem[1], *notes)
        for name in kept:
            terms[name].status = fit.status
        fit.terms = list(terms.values())
        return fit

    fit.intercept = float(np.asarray(result.params)[0])
    fit.pseudo_r2 = float(result.prsquared)
    _infer(fit, result, y, X, codes, kept, terms)
    fit.note = _notes(*notes)
    fit.terms = list(terms.values())
    _benjamini_hochberg(fit.terms)
    return fit


def _scored_sample(
    df: pd.DataFrame, terms: dict[str, Term], notes: list[str]
) -> tuple[list[str], pd.DataFrame]:
    """The affect features scored in this sample and the rows that have every one of them."""
    usable = []
    for col in AFFECT_FEATURES:
        if df.empty or df[col].notna().any():
            usable.append(col)
        else:
            terms[col] = Term(col, "affect", "per_sd", status="dropped", note="not scored")
    missing = df[usable].isna().any(axis=1) if usable else pd.Series(True, index=df.index)
    if missing.any():
        notes.append(f"{int(missing.sum())} roots without affect scores left out")
    return usable, df.loc[~missing]


def _design(
    data: pd.DataFrame, usable: list[str], terms: dict[str, Term], notes: list[str], platform_dummies: bool
) -> dict[str, np.ndarray]:
    """Standardized continuous columns, then 0/1 indicators (has_link, platform, weekday); constants dropped."""
    columns: dict[str, np.ndarray] = {}
    for col in (*usable, *CONTINUOUS_CONTROLS):
        kind = "affect" if col in AFFECT_FEATURES else "control"
        values = data[col].to_numpy(dtype=float)
        mean, sd = float(values.mean()), float(values.std(ddof=1))
        term = Term(col, kind, "per_sd", feature_mean=mean, feature_sd=sd)
        terms[col] = term
        if not np.isfinite(sd) or sd <= 1e-12 * max(1.0, abs(mean)):
            term.status, term.note = "dropped", "constant in this sample"
            continue
        columns[col] = (values - mean) / sd
    indicators: dict[str, np.ndarray] = {"has_link": data["has_link"].to_numpy(dtype=float)}
    if platform_dummies:
        platforms = data["platform"].fillna("(none)")
        levels = platforms.value_counts()
        if len(levels) > 1:
            notes.append(f"platform reference: {levels.index[0]}")
            for level in sorted(levels.index[1:]):
                indicators[f"platform[{level}]"] = (platforms == level).to_numpy(dtype=float)
    weekday = data["iso_weekday"].fillna(1).astype(int)
    counts = weekday.value_counts()
    if len(counts) > 1:
        notes.append(f"weekday reference: {WEEKDAYS[int(counts.index[0]) - 1]}")
        for day in sorted(counts.index[1:]):
            indicators[f"weekday[{WEEKDAYS[int(day) - 1]}]"] = (weekday == day).to_numpy(dtype=float)
    for name, values in indicators.items():
        term = Term(
            name, "control", "per_unit", feature_mean=float(values.mean()), feature_sd=float(values.std())
        )
        terms[name] = term
        if values.min() == values.max():
            term.status, term.note = "dropped", "constant in this sample"
            continue
        columns[name] = values
    return columns


def _cluster_codes(data: pd.DataFrame) -> np.ndarray:
    """Cluster index per row: the origin community; items without one are their own cluster."""
    groups = data["origin_community"].astype(object).where(data["origin_community"].notna(), None)
    labels = [g if g is not None else f"\x00{i}" for i, g in enumerate(groups.tolist())]
    codes, _ = pd.factorize(pd.Series(labels))
    return np.asarray(codes)


def inference_method(n_clusters: int) -> str:
    """How p-values and intervals are computed for a fit with this many origin communities (docs/affect.md)."""
    if n_clusters < MIN_CLUSTERS:
        return "hc1_normal"
    if n_clusters < MANY_CLUSTERS:
        return "score_bootstrap_webb"
    return "cr1_normal"


def _infer(
    fit: Fit,
    result: Any,
    y: np.ndarray,
    X: np.ndarray,
    codes: np.ndarray,
    kept: list[str],
    terms: dict[str, Term],
) -> None:
    """Estimates, standard errors, intervals and p-values of every kept term, by the fit's inference method."""
    from scipy import stats

    params, bse = np.asarray(result.params, dtype=float), np.asarray(result.bse, dtype=float)
    small = fit.inference == "score_bootstrap_webb"
    dof = fit.n_clusters - 1
    crit = float(stats.t.ppf(0.975, dof)) if small else Z_95
    for i, name in enumerate(kept, start=1):
        term = terms[name]
        term.coef, term.std_error, term.crit = float(params[i]), float(bse[i]), crit
        term.z_value = term.coef / term.std_error
        if not small:
            term.p_value = float(2 * stats.norm.sf(abs(term.z_value)))
        elif term.term_kind == "affect":
            term.p_value = score_bootstrap_pvalue(y, X, i, codes)
        else:
            term.p_value = float(2 * stats.t.sf(abs(term.z_value), dof))


def _logit_mle(y: np.ndarray, X: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Maximum likelihood of a logit by Newton's method (the restricted fits of the score bootstrap)."""
    beta = np.zeros(X.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(X @ beta)))
        hessian = X.T @ (X * (p * (1 - p))[:, None])
        step = np.linalg.lstsq(hessian, X.T @ (y - p), rcond=None)[0]
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def webb_weights(draws: int, clusters: int, rng: np.random.Generator) -> np.ndarray:
    """Webb's six-point weights: ±sqrt(1/2), ±1, ±sqrt(3/2) with probability 1/6 each (mean 0, variance 1)."""
    points = np.array([-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)])
    return points[rng.integers(0, 6, size=(draws, clusters))]


def score_bootstrap_pvalue(
    y: np.ndarray, X: np.ndarray, j: int, codes: np.ndarray, draws: int = BOOTSTRAP_DRAWS, seed: int = 0
) -> float:
    """Two-sided p-value of beta_j = 0 by the wild cluster score bootstrap (Kline & Santos 2012), Webb weights.

    The model is fitted under the null (column j left out); each cluster's score contribution to the efficient
    score of beta_j, a_g = h' S_g with h = H^-1 e_j, is then flipped by a random weight per cluster. The
    statistic |sum a_g| / sqrt(sum a_g^2) is compared with its bootstrap distribution. No refit per draw.
    """
    restricted = np.delete(X, j, axis=1)
    beta = _logit_mle(y, restricted)
    p = 1 / (1 + np.exp(-(restricted @ beta)))
    hessian = X.T @ (X * (p * (1 - p))[:, None])
    h = np.linalg.lstsq(hessian, np.eye(X.shape[1])[j], rcond=None)[0]
    contributions = np.bincount(codes, weights=(X @ h) * (y - p))
    spread = math.sqrt(float((contributions**2).sum()))
    if not spread > 0:
        return 1.0
    observed = abs(contributions.sum()) / spread
    weights = webb_weights(draws, len(contributions), np.random.default_rng(seed))
    boot = np.abs(weights @ contributions) / np.sqrt((weights**2) @ (contributions**2))
    return float((1 + np.sum(boot >= observed - 1e-12)) / (draws + 1))


def _benjamini_hochberg(terms: list[Term]) -> None:
    """q-values (Benjamini-Hochberg) across the fit's affect terms with a p-value; a driver needs q < 0.05."""
    tested = [t for t in terms if t.term_kind == "affect" and t.p_value is not None]
    m = len(tested)
    running = 1.0
    for rank, t in sorted(enumerate(sorted(tested, key=lambda t: t.p_value or 0.0), start=1), reverse=True):
        assert t.p_value is not None
        running = min(running, t.p_value * m / rank)
        t.q_value = running
    for t in tested:
        t.terms_tested = m
        t.is_driver = t.q_value is not None and t.q_value < DRIVER_Q


def _drop_collinear(columns: dict[str, np.ndarray], terms: dict[str, Term]) -> list[str]:
    """Keep columns in order (affect first, then controls) unless one is a linear combination of the earlier.

    One QR decomposition of [1, columns...] in that order: |R_jj| is the norm of what column j adds to the
    span of the columns before it, so a tiny |R_jj| / ||x_j|| marks a linear combination of earlier ones.
    """
    names = list(columns)
    if not names:
        return []
    X = np.column_stack([np.ones(len(columns[names[0]])), *[columns[c] for c in names]])
    unit = X / np.linalg.norm(X, axis=0)
    r = np.abs(np.diag(np.linalg.qr(unit, mode="r")))
    kept = []
    for j, name in enumerate(names, start=1):
        if r[j] < COLLINEAR_TOL:
            terms[name].status = "dropped"
            terms[name].note = "collinear with other terms"
        else:
            kept.append(name)
    return kept


def _fit(y: np.ndarray, X: np.ndarray, cov_type: str, cov_kwds: dict[str, Any] | None) -> tuple[Any, Any]:
    """Fit; return (result, None) or (None, (status, note)) for separation and numerical failure."""
    import statsmodels.api as sm
    from statsmodels.tools import sm_exceptions

    separation = (sm_exceptions.PerfectSeparationError, sm_exceptions.PerfectSeparationWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error", sm_exceptions.PerfectSeparationWarning)
        warnings.simplefilter("ignore", sm_exceptions.ConvergenceWarning)
        warnings.simplefilter("ignore", sm_exceptions.HessianInversionWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            model = sm.Logit(y, X)
            kwargs: dict[str, Any] = {"cov_type": cov_type}
            if cov_kwds:
                kwargs["cov_kwds"] = cov_kwds
            result = model.fit(method="newton", maxiter=100, disp=0, **kwargs)
        except separation:
            return None, ("separation", "outcome perfectly predicted by the terms: estimates withheld")
        except (np.linalg.LinAlgError, ValueError) as exc:
            return None, ("failed", f"fit failed: {exc}")
    params = np.asarray(result.params, dtype=float)
    bse = np.asarray(result.bse, dtype=float)
    if np.any(np.abs(params[1:]) > MAX_ABS_COEF):
        return None, ("separation", "quasi-complete separation (diverging coefficients): estimates withheld")
    if not result.mle_retvals.get("converged", True):
        return None, ("failed", "maximum likelihood did not converge: estimates withheld")
    if not (np.all(np.isfinite(params)) and np.all(np.isfinite(bse))):
        return None, ("failed", "non-finite estimates or standard errors: estimates withheld")
    return result, None


# --------------------------------------------------------------------------------------------- all fits


def fit_all(frame: pd.DataFrame, settings: Settings) -> list[Fit]:
    """Overall, per platform (when more than one) and per ISO week."""
    min_n = settings.explain.min_n
    min_events = settings.explain.min_events
    weeks = sorted(frame["iso_week"].dropna().unique().tolist())
    warm = frame["in_warmup"].to_numpy(dtype=bool) if "in_warmup" in frame else np.zeros(len(frame), bool)

    def note_for(mask: np.ndarray) -> str | None:
        k = int((mask & warm).sum())
        days = warmup_days(settings)
        return (
            f"{k} roots of the membership warm-up (less than {days} days of history) left out" if k else None
        )

    everything = np.ones(len(frame), bool)
    used = frame[~warm]
    fits = [fit_logit(used, "overall", "all", min_n, min_events, note=note_for(everything))]
    platforms = sorted(frame["platform"].dropna().unique().tolist())
    if len(platforms) > 1:
        for platform in platforms:
            mask = (frame["platform"] == platform).to_numpy()
            sub = frame[mask & ~warm]
            fits.append(
                fit_logit(
                    sub, "platform", platform, min_n, min_events, platform_dummies=False, note=note_for(mask)
                )
            )
    for week in weeks:
        mask = (frame["iso_week"] == week).to_numpy()
        fits.append(fit_logit(frame[mask & ~warm], "week", week, min_n, min_events, note=note_for(mask)))
    return fits


def item_drivers(frame: pd.DataFrame, overall: Fit, top_items: int) -> pd.DataFrame:
    """Affect contributions ``coef * z`` for the top escaped items of each week under the overall fit."""
    columns = [
        "root_id",
        "iso_week",
        "platform",
        "item_rank",
        "feature",
        "value",
        "z",
        "coef",
        "contribution",
        "rank",
        "fit_scope",
        "fit_key",
    ]
    if overall.status != "ok":
        return pd.DataFrame(columns=columns)
    features = [t for t in overall.terms if t.term_kind == "affect" and t.status == "ok"]
    escaped = frame[frame["escaped"] & ~frame["in_warmup"]].copy()
    escaped = escaped.dropna(subset=[t.term for t in features])
    if escaped.empty or not features:
        return pd.DataFrame(columns=columns)
    escaped = escaped.sort_values(
        ["iso_week", "outsider_engagers", "communities_reached", "size", "root_id"],
        ascending=[True, False, False, False, True],
    )
    escaped["item_rank"] = escaped.groupby("iso_week").cumcount() + 1
    top = escaped[escaped["item_rank"] <= top_items]
    rows = []
    for t in features:
        assert t.feature_mean is not None and t.feature_sd is not None and t.coef is not None
        z = (top[t.term].to_numpy(dtype=float) - t.feature_mean) / t.feature_sd
        rows.append(
            pd.DataFrame(
                {
                    "root_id": top["root_id"].to_numpy(),
                    "iso_week": top["iso_week"].to_numpy(),
                    "platform": top["platform"].to_numpy(),
                    "item_rank": top["item_rank"].to_numpy(),
                    "feature": t.term,
                    "value": top[t.term].to_numpy(dtype=float),
                    "z": z,
                    "coef": t.coef,
                    "contribution": t.coef * z,
                }
            )
        )
    out = pd.concat(rows, ignore_index=True)
    out["rank"] = out.groupby("root_id")["contribution"].rank(method="first", ascending=False).astype("int64")
    out["fit_scope"], out["fit_key"] = overall.scope, overall.key
    return out.sort_values(["iso_week", "item_rank", "rank"])[columns].reset_index(drop=True)


def drivers_frame(fits: list[Fit], fitted_at: datetime) -> pd.DataFrame:
    rows = []
    for fit in fits:
        for t in fit.terms:
            ci_low, ci_high = t.ci
            rows.append(
                {
                    "fit_scope": fit.scope,
                    "fit_key": fit.key,
                    "term": t.term,
                    "term_kind": t.term_kind,
                    "scale": t.scale,
                    "coef": t.coef,
                    "odds_ratio_per_sd": t.odds_ratio,
                    "ci_low": ci_low,
                    "ci_high": ci_high,
                    "std_error": t.std_error,
                    "z_value": t.z_value,
                    "p_value": t.p_value,
                    "q_value": t.q_value,
                    "is_driver": t.is_driver,
                    "terms_tested": t.terms_tested,
                    "inference": fit.inference,
                    "feature_mean": t.feature_mean,
                    "feature_sd": t.feature_sd,
                    "n": fit.n,
                    "n_escaped": fit.n_escaped,
                    "n_clusters": fit.n_clusters,
                    "cov_type": fit.cov_type,
                    "pseudo_r2": fit.pseudo_r2,
                    "status": t.status if fit.status == "ok" else fit.status,
                    "note": _notes(t.note, fit.note) if fit.status == "ok" else _notes(fit.note, t.note),
                    "fitted_at": fitted_at,
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------- tables

DRIVERS_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("fit_scope", "varchar", "overall, platform or week"),
    ("fit_key", "varchar", "'all' for the overall fit, the platform, or the ISO week (YYYY-Www)"),
    ("term", "varchar", "model term: an affect feature, a control, or an indicator such as weekday[sat]"),
    ("term_kind", "varchar", "affect or control"),
    (
        "scale",
        "varchar",
        "per_sd: continuous term standardized in this fit's sample; per_unit: 0/1 indicator",
    ),
    ("coef", "double", "log-odds of escaping per SD (per_sd) or for the indicator (per_unit)"),
    (
        "odds_ratio_per_sd",
        "double",
        "exp(coef): odds ratio of escaping per SD of the term (per unit for 0/1)",
    ),
    (
        "ci_low",
        "double",
        "lower bound of the 95% confidence interval of the odds ratio: exp(coef - c * std_error), c the 97.5% "
        "quantile of t(n_clusters - 1) (score_bootstrap_webb) or of the normal",
    ),
    ("ci_high", "double", "upper bound of the 95% confidence interval of the odds ratio"),
    (
        "std_error",
        "double",
        "standard error of coef (CR1, clustered by origin community, when cov_type = cluster)",
    ),
    ("z_value", "double", "coef / std_error"),
    (
        "p_value",
        "double",
        "two-sided p-value of coef = 0 by the fit's inference method (score bootstrap for affect terms when "
        "there are 5 to 49 origin communities; t(G-1) or normal reference otherwise)",
    ),
    (
        "q_value",
        "double",
        "Benjamini-Hochberg q-value of p_value across the fit's affect terms with a p-value (terms_tested)",
    ),
    ("is_driver", "boolean", "affect term with q_value < 0.05: the only terms a report may call drivers"),
    ("terms_tested", "bigint", "affect terms of the fit that entered the Benjamini-Hochberg correction"),
    (
        "inference",
        "varchar",
        "score_bootstrap_webb (5-49 origin communities: wild cluster score bootstrap, Webb weights, 999 draws; "
        "CIs from CR1 errors with t(G-1)), cr1_normal (50 or more: CR1 errors, normal reference) or hc1_normal "
        "(fewer than 5: not clustered)",
    ),
    ("feature_mean", "double", "mean of the raw term in the fit's sample (z = (value - mean) / sd)"),
    ("feature_sd", "double", "standard deviation of the raw term in the fit's sample"),
    ("n", "bigint", "cascade roots in the fit (roots without affect scores are left out)"),
    ("n_escaped", "bigint", "roots in the fit that escaped their origin community"),
    ("n_clusters", "bigint", "origin communities (clusters of the standard errors)"),
    (
        "cov_type",
        "varchar",
        "cluster (CR1, by origin community) or HC1 when there are fewer than 5 communities",
    ),
    ("pseudo_r2", "double", "McFadden pseudo R-squared of the fit"),
    (
        "status",
        "varchar",
        "ok, dropped (constant/collinear/not scored), insufficient_data, separation or failed",
    ),
    ("note", "varchar", "why a term or fit has no estimate, references of indicators, left-out rows"),
    ("fitted_at", "timestamptz", "when the model was fitted"),
)

ITEM_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("root_id", "varchar", "post_id of the cascade root (fct_item_spread.root_id)"),
    ("iso_week", "varchar", "ISO week of the root (YYYY-Www)"),
    ("platform", "varchar", "platform of the root"),
    (
        "item_rank",
        "bigint",
        "rank of the item among the week's escaped roots by outsider engagers, reach, size",
    ),
    ("feature", "varchar", "affect feature"),
    ("value", "double", "the root's raw affect score"),
    ("z", "double", "(value - mean) / sd with the overall fit's mean and sd"),
    ("coef", "double", "log-odds per SD of the feature in the overall fit"),
    ("contribution", "double", "coef * z: the feature's push on the item's log-odds of escaping"),
    ("rank", "bigint", "1 = the feature that pushed this item most towards escaping"),
    ("fit_scope", "varchar", "scope of the fit whose coefficients are used (overall)"),
    ("fit_key", "varchar", "key of that fit"),
)

DRIVERS_COMMENT = (
    "Grain: one row per fit x term. Logistic regression of escaped (fct_item_spread) on standardized affect "
    "features of the root (fct_affect) with controls (log author prior items, log origin community authors, "
    "log text length, has link, platform, weekday); per-SD odds ratios with 95% CIs, standard errors "
    "clustered by origin community, small-sample inference (column inference), Benjamini-Hochberg q-values "
    "and is_driver. Fitted overall, per platform and per ISO week; see docs/affect.md."
)
ITEMS_COMMENT = (
    "Grain: one row per top escaped root x affect feature. Each affect feature's contribution coef * z to "
    "the root's log-odds of escaping under the overall fit of fct_spread_drivers; rank 1 pushes most."
)


def _write(
    con: duckdb.DuckDBPyConnection,
    name: str,
    spec: tuple[tuple[str, str, str], ...],
    df: pd.DataFrame,
    comment: str,
) -> None:
    ddl = ", ".join(f"{col} {typ}" for col, typ, _ in spec)
    con.execute(f"create or replace table {name} ({ddl})")
    if len(df):
        view = f"_{name}_rows"
        con.register(view, df[[c for c, _, _ in spec]])
        try:
            con.execute(f"insert into {name} by name select * from {view}")
        finally:
            con.unregister(view)
    comment_on(con, name, comment, {col: text for col, _, text in spec})


def explain(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, Any]:
    """Fit the spread models on the build database and write fct_spread_drivers and fct_item_drivers."""
    fitted_at = datetime.now(UTC)
    started = time.perf_counter()
    if _table_exists(con, FRAME_TABLE):
        frame = load_frame(con, settings)
        log.debug("explain: %d roots loaded in %.2fs", len(frame), time.perf_counter() - started)
    else:
        log.warning("%s is missing: spread drivers are empty", FRAME_TABLE)
        frame = pd.DataFrame(
            columns=[
                "root_id",
                "platform",
                "origin_community",
                "iso_week",
                "escaped",
                "iso_weekday",
                "size",
                "outsider_engagers",
                "communities_reached",
                "has_link",
                "in_warmup",
                *AFFECT_FEATURES,
                *CONTINUOUS_CONTROLS,
            ]
        )
        frame[["escaped", "has_link", "in_warmup"]] = frame[["escaped", "has_link", "in_warmup"]].astype(bool)
    started = time.perf_counter()
    fits = fit_all(frame, settings)
    log.debug("explain: %d fits in %.2fs", len(fits), time.perf_counter() - started)
    drivers = drivers_frame(fits, fitted_at)
    top_items = settings.report.top_items
    items = item_drivers(frame, fits[0], top_items)
    _write(con, "fct_spread_drivers", DRIVERS_COLUMNS, drivers, DRIVERS_COMMENT)
    _write(con, "fct_item_drivers", ITEM_COLUMNS, items, ITEMS_COMMENT)
    statuses: dict[str, int] = {}
    for fit in fits:
        statuses[fit.status] = statuses.get(fit.status, 0) + 1
    overall = fits[0]
    return {
        "roots": int(len(frame)),
        "fits": len(fits),
        "fit_status": statuses,
        "overall_status": overall.status,
        "overall_n": overall.n,
        "overall_n_escaped": overall.n_escaped,
        "driver_rows": int(len(drivers)),
        "item_driver_rows": int(len(items)),
    }
