"""The drift statistics, computed from two sketches (reference, current) of one column.

Numeric columns: two-sample Kolmogorov-Smirnov (statistic and scipy's asymptotic p-value,
``ks_2samp(method="asymp")``), Wasserstein distance normalized by the reference's standard
deviation (as Evidently does), and the population stability index on the reference's deciles.
Categorical columns: chi-squared goodness of fit of the current counts against the reference
shares (scipy's ``chisquare``, with Cohen's w as its effect size), Jensen-Shannon distance
(natural log, scipy's ``jensenshannon``) and PSI on the categories.

Both CDFs are step functions over the union of the two sketches' items, so KS and Wasserstein
are the exact values for the distributions the sketches hold (exact data below KLL's size;
see :mod:`._sketch` for the error past it). Every function returns plain floats.

scipy is imported only for the exact small-sample KS distribution: the chi-squared tail and the
large-sample Kolmogorov tail come from :mod:`._pvalues` (the same values, without scipy's
60 MB of imports in a check over large data).
"""

from __future__ import annotations

import math

import numpy as np

from modelcycle.monitoring._pvalues import chi2_sf, kolmogorov_sf
from modelcycle.monitoring._sketch import CategorySketch, NumericSketch

__all__ = ["CategoryScores", "NumericScores", "category_scores", "numeric_scores"]

_FLOOR = 1e-4  # PSI share floor (Evidently's, for empty bins)
_NEW_CATEGORY = 0.5  # pseudo-count of a category the reference never saw
_EXACT_KS_N = 10_000
NumericScores = dict[str, float]
CategoryScores = dict[str, float]


def _steps(ref: NumericSketch, cur: NumericSketch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points where either CDF jumps, and both CDFs (share <= point) at them."""
    ref_x, ref_w = ref.distribution()
    cur_x, cur_w = cur.distribution()
    xs = np.union1d(ref_x, cur_x)
    return xs, _cdf(ref_x, ref_w, xs), _cdf(cur_x, cur_w, xs)


def _cdf(items: np.ndarray, weights: np.ndarray, at: np.ndarray) -> np.ndarray:
    cumulative = np.concatenate([[0.0], np.cumsum(weights)])
    shares: np.ndarray = cumulative[np.searchsorted(items, at, side="right")] / cumulative[-1]
    return shares


def ks_p_value(statistic: float, n_ref: int, n_cur: int) -> float:
    """Two-sided asymptotic p-value of a two-sample KS statistic, as scipy's ``ks_2samp`` with
    ``method="asymp"``: the one-sample distribution at ``n = round(m n / (m + n))``. Past
    ``n = 10,000`` its limit, the Kolmogorov distribution at ``D sqrt(n)``, is used instead
    (relative difference ~1% there, and shrinking): scipy's exact one-sample tail takes up to
    0.4 s per call at n = 500,000, which made 160 columns of a million rows take 40 s."""
    en = n_ref * n_cur / (n_ref + n_cur)
    if en > _EXACT_KS_N:
        return kolmogorov_sf(statistic * math.sqrt(en))
    from scipy import stats  # only small samples: see the module docstring

    return float(np.clip(stats.kstwo.sf(statistic, round(en)), 0.0, 1.0))


def _psi(ref_shares: np.ndarray, cur_shares: np.ndarray) -> float:
    ref = np.clip(ref_shares, _FLOOR, None)
    cur = np.clip(cur_shares, _FLOOR, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def numeric_scores(ref: NumericSketch, cur: NumericSketch) -> NumericScores:
    """KS statistic and p-value, normalized Wasserstein distance and PSI of ``cur`` against
    ``ref`` (both non-empty)."""
    xs, ref_cdf, cur_cdf = _steps(ref, cur)
    gaps = np.abs(ref_cdf - cur_cdf)
    ks = float(gaps.max()) if gaps.size else 0.0
    wasserstein = float(np.dot(gaps[:-1], np.diff(xs))) if xs.size > 1 else 0.0
    ref_x, ref_w = ref.distribution()
    deciles = _quantiles(ref_x, ref_w, np.linspace(0.1, 0.9, 9))
    edges = np.unique(deciles)
    cur_x, cur_w = cur.distribution()
    ref_shares = np.diff(np.concatenate([[0.0], _cdf(ref_x, ref_w, edges), [1.0]]))
    cur_shares = np.diff(np.concatenate([[0.0], _cdf(cur_x, cur_w, edges), [1.0]]))
    return {
        "ks_statistic": ks,
        "ks_p_value": ks_p_value(ks, ref.n, cur.n),
        "wasserstein": wasserstein,
        "wasserstein_normed": wasserstein / max(ref.std, 0.001),
        "psi": _psi(ref_shares, cur_shares),
        "mean_shift_std": (cur.mean - ref.mean) / max(ref.std, 0.001),
    }


def _quantiles(items: np.ndarray, weights: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """The smallest item with at least a share q of the weight at or below it."""
    cumulative = np.cumsum(weights) / weights.sum()
    at = np.searchsorted(cumulative, qs - 1e-12, side="left")
    return items[np.minimum(at, items.size - 1)]


def _aligned(ref: dict[str, int], cur: dict[str, int]) -> tuple[list[str], np.ndarray, np.ndarray]:
    labels = sorted(set(ref) | set(cur))
    return (
        labels,
        np.array([ref.get(label, 0) for label in labels], float),
        np.array([cur.get(label, 0) for label in labels], float),
    )


def chisquare(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Pearson's chi-squared of ``cur_counts`` against the reference shares scaled to the
    current total, and its p-value (``k - 1`` degrees of freedom). A category the reference
    never saw is expected at half a reference observation, so the statistic stays finite
    while a new category still weighs heavily."""
    scale = cur_counts.sum() / ref_counts.sum()
    expected = np.where(ref_counts > 0, ref_counts, _NEW_CATEGORY) * scale
    statistic = float(np.sum((cur_counts - expected) ** 2 / expected))
    dof = max(cur_counts.size - 1, 1)
    return statistic, chi2_sf(statistic, dof)


def jensenshannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log, in [0, sqrt(ln 2)]) of two count vectors."""
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log(a[mask] / m[mask])))

    return math.sqrt(max((kl(p) + kl(q)) / 2, 0.0))


def category_scores(
    ref: CategorySketch | NumericSketch, cur: CategorySketch | NumericSketch
) -> CategoryScores:
    """Chi-squared (statistic, p-value, Cohen's w), Jensen-Shannon distance and PSI of the
    current category counts against the reference's (numeric columns with few distinct values
    are compared on their exact value counts)."""
    _, ref_counts, cur_counts = _aligned(_frequencies(ref), _frequencies(cur))
    statistic, p_value = chisquare(ref_counts, cur_counts)
    return {
        "chisquare_statistic": statistic,
        "chisquare_p_value": p_value,
        "cohen_w": math.sqrt(statistic / cur_counts.sum()),
        "jensenshannon": jensenshannon(ref_counts, cur_counts),
        "psi": _psi(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()),
    }


def _frequencies(sketch: CategorySketch | NumericSketch) -> dict[str, int]:
    if isinstance(sketch, CategorySketch):
        return sketch.frequencies()
    items, weights = sketch.distribution()
    return {repr(float(x)): int(w) for x, w in zip(items, weights, strict=True)}
