"""Uncertainty of evaluation metrics: bootstrap intervals, fold summaries, paired comparisons.

A test-set metric is an estimate from a finite sample of rows; before a gate or a promotion
trusts "0.91 beats 0.90", it needs to know how much the number would move on other rows.

    bootstrap          any statistics of row indices, resampled together (the general tool)
    bootstrap_ci       intervals for the headline metrics of one model's predictions (fast)
    cv_summary         mean and standard deviation of a metric over cross-validation folds
    paired_comparison  two models scored on the same rows: is the difference real?

**Resampling.** Every resample draws ``n`` row indices with replacement from one seeded
``numpy.random.Generator`` (``integers(0, n, size=n)`` per resample) and every metric is
evaluated on the same resampled rows, so intervals of different metrics (and the two sides of
a paired comparison) come from the same resamples. The same seed gives the same intervals.

**Intervals** are percentile intervals: the ``(1 - confidence) / 2`` and ``(1 + confidence)
/ 2`` quantiles of the resampled values (BCa would need a jackknife of ``n`` evaluations per
metric, too slow for rank metrics on large test sets). Resamples on which a metric is
undefined (ROC-AUC of a resample holding one class) are dropped and counted.

**Speed.** :func:`bootstrap_ci` and :func:`paired_comparison` turn each resample into row
counts (``bincount`` of its indices) and evaluate the metrics as weighted sums over rows,
many resamples at once as matrix products; rank metrics (ROC-AUC, average precision) sort the
rows once and only re-weight per resample. Their values equal scikit-learn's metric functions
on the resampled rows (tests check this against :func:`bootstrap` with scikit-learn).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from modelcycle.errors import invalid_value
from modelcycle.evaluation._kernels import (
    METRICS_BY_TASK,
    Array,
    FloatArray,
    IndexArray,
    Kernel,
    Rows,
    metric_kernels,
    task_name,
)
from modelcycle.evaluation._metrics import direction, num

__all__ = ["METRICS_BY_TASK", "bootstrap", "bootstrap_ci", "cv_summary", "paired_comparison"]

_CHUNK_CELLS = 500_000  # resamples x rows evaluated at once: 4 MB of counts stay in cache


def _check(resamples: int, confidence: float) -> None:
    if resamples < 1:
        raise invalid_value("resamples", resamples, "must be at least 1")
    if not 0.0 < confidence < 1.0:
        raise invalid_value("confidence", confidence, "must be between 0 and 1")


def _resampled(
    kernels: Mapping[str, Kernel], rows: int, resamples: int, seed: int
) -> dict[str, FloatArray]:
    """Every kernel's value on each of ``resamples`` seeded resamples of ``rows`` rows."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, _CHUNK_CELLS // rows))
    parts: dict[str, list[FloatArray]] = {name: [] for name in kernels}
    done = 0
    while done < resamples:
        size = min(chunk, resamples - done)
        # the same numbers as ``size`` draws of ``integers(0, rows, size=rows)`` in turn
        indices = rng.integers(0, rows, size=(size, rows))
        offsets = (np.arange(size) * rows)[:, None]
        counts = np.bincount((indices + offsets).ravel(), minlength=size * rows)
        weights = counts.reshape(size, rows).astype(np.float64)
        for name, kernel in kernels.items():
            parts[name].append(kernel(weights))
        done += size
    return {name: np.concatenate(values) for name, values in parts.items()}


def _interval(point: float, values: FloatArray, confidence: float) -> dict[str, Any]:
    valid = values[np.isfinite(values)]
    out: dict[str, Any] = {"value": num(point), "low": None, "high": None, "std": None}
    out |= {"resamples": int(valid.size), "dropped": int(values.size - valid.size)}
    out["confidence"] = confidence
    if valid.size:
        low, high = np.quantile(valid, [(1 - confidence) / 2, (1 + confidence) / 2])
        out |= {"low": num(low), "high": num(high)}
        out["std"] = num(valid.std(ddof=1)) if valid.size > 1 else None
    return out


def bootstrap(
    metric_fns: Mapping[str, Callable[[IndexArray], float]],
    n_rows: int,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Percentile bootstrap intervals of any statistics of row indices.

    Each ``metric_fns[name](indices)`` computes one number from the rows at ``indices`` (for
    example ``lambda i: f1_score(y[i], pred[i])``) and returns NaN where it is undefined; its
    point value is computed on all rows. The resamples are those of :func:`bootstrap_ci` with
    the same seed. Returns ``{name: {value, low, high, std, resamples, dropped,
    confidence}}``. One Python call per resample and metric: for the headline metrics of a
    model, :func:`bootstrap_ci` is much faster.
    """
    _check(resamples, confidence)
    if n_rows < 1:
        raise invalid_value("n_rows", n_rows, "needs at least one row")
    rng = np.random.default_rng(seed)
    values = {name: np.empty(resamples) for name in metric_fns}
    for i in range(resamples):
        indices = rng.integers(0, n_rows, size=n_rows)
        for name, fn in metric_fns.items():
            values[name][i] = fn(indices)
    everything = np.arange(n_rows)
    return {
        name: _interval(float(fn(everything)), values[name], confidence)
        for name, fn in metric_fns.items()
    }


def bootstrap_ci(
    y_true: Any,
    y_pred: Any,
    proba: Any,
    classes: Any,
    task: str,
    metrics: Sequence[str],
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Bootstrap intervals of a model's headline metrics on the evaluated rows.

    ``task`` is ``"binary"``, ``"multiclass"`` or ``"regression"``; ``metrics`` are names from
    :data:`METRICS_BY_TASK` (the probability metrics need ``proba``, columns in the order of
    ``classes``). Each value is the metric as :func:`classification_metrics` or
    :func:`regression_metrics` computes it. Returns ``{metric: {value, low, high, std,
    resamples, dropped, confidence}}``: ``resamples`` counts the resamples on which the metric
    was defined, ``dropped`` the others; ``std`` is the bootstrap standard error.

    1000 resamples of five metrics on 20,000 rows take about a second (rank metrics of a
    multiclass model cost one ranking per class); lower ``resamples`` for quicker, rougher
    intervals.
    """
    _check(resamples, confidence)
    rows = Rows(y_true, y_pred, proba, classes, task_name(task))
    kernels = metric_kernels(rows, metrics)
    values = _resampled(kernels, len(rows.y), resamples, seed)
    everything = np.ones((1, len(rows.y)))
    return {
        name: _interval(float(kernel(everything)[0]), values[name], confidence)
        for name, kernel in kernels.items()
    }


def cv_summary(folds: Sequence[Mapping[str, float | None]]) -> dict[str, dict[str, Any]]:
    """Mean and standard deviation of each metric over cross-validation folds.

    ``folds`` holds one ``{metric: value}`` per fold. The standard deviation is the population
    one (``numpy.std``, ``ddof=0``), as training logs ``cv_<metric>_std``. Folds where a metric
    is missing or undefined (None, NaN) are left out of that metric; ``n`` counts the folds
    used. Returns ``{metric: {mean, std, n}}`` (mean and std None when no fold has a value).
    """
    names = list(dict.fromkeys(name for fold in folds for name in fold))
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        raw = [fold.get(name) for fold in folds]
        if any(v is not None and not isinstance(v, (int, float)) for v in raw):
            raise invalid_value(f"folds.{name}", raw, "fold metrics must be numbers")
        values = np.array([v for v in raw if v is not None and math.isfinite(v)], dtype=float)
        found = values.size > 0
        out[name] = {
            "mean": num(values.mean()) if found else None,
            "std": num(values.std()) if found else None,
            "n": int(values.size),
        }
    return out


def _mcnemar(y: Array, pred_a: Array, pred_b: Array) -> float:
    """Exact McNemar test: two-sided binomial test on the rows only one model gets right."""
    from scipy.stats import binomtest

    right_a, right_b = y == pred_a, y == pred_b
    only_b = int((right_b & ~right_a).sum())
    discordant = only_b + int((right_a & ~right_b).sum())
    return 1.0 if discordant == 0 else float(binomtest(only_b, discordant, 0.5).pvalue)


def paired_comparison(
    y_true: Any,
    pred_a: Any,
    pred_b: Any,
    *,
    task: str,
    metric: str,
    proba_a: Any = None,
    proba_b: Any = None,
    classes: Any = None,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Model A against model B on the same rows: which one is better on ``metric``?

    ``difference`` is B's value minus A's, with the sign turned for metrics where lower is
    better, so a positive difference always means B is better. ``low`` and ``high`` bound it
    by a paired bootstrap (both models scored on the same resampled rows), and ``better`` is
    ``"b"`` when the interval lies above 0, ``"a"`` below 0, ``"neither"`` when it holds 0.
    ``p_value`` is that of the exact McNemar test for accuracy on classification
    (``test: "mcnemar_exact"``), otherwise the two-sided paired-bootstrap p-value ``2 *
    min(P(d <= 0), P(d >= 0))`` (``test: "paired_bootstrap"``).

    Returns ``{metric, direction, a, b, difference, low, high, p_value, test, better,
    resamples, dropped, confidence}``.
    """
    _check(resamples, confidence)
    kind = task_name(task)
    side_a = Rows(y_true, pred_a, proba_a, classes, kind)
    side_b = Rows(y_true, pred_b, proba_b, classes, kind)
    kernel_a, kernel_b = (
        metric_kernels(side_a, [metric])[metric],
        metric_kernels(side_b, [metric])[metric],
    )
    sign = 1.0 if direction(metric) == "maximize" else -1.0

    def difference(w: FloatArray) -> FloatArray:
        return sign * (kernel_b(w) - kernel_a(w))

    everything = np.ones((1, len(side_a.y)))
    a, b = float(kernel_a(everything)[0]), float(kernel_b(everything)[0])
    values = _resampled({"d": difference}, len(side_a.y), resamples, seed)["d"]
    summary = _interval(sign * (b - a), values, confidence)
    valid = values[np.isfinite(values)]
    if metric == "accuracy":
        test, p_value = "mcnemar_exact", _mcnemar(side_a.y, side_a.pred, side_b.pred)
    else:
        test = "paired_bootstrap"
        tail = min(np.mean(valid <= 0), np.mean(valid >= 0)) if valid.size else math.nan
        p_value = min(1.0, 2 * float(tail))
    low, high = summary["low"], summary["high"]
    better = "neither"
    if low is not None and low > 0:
        better = "b"
    elif high is not None and high < 0:
        better = "a"
    return {
        "metric": metric,
        "direction": direction(metric),
        "a": num(a),
        "b": num(b),
        "difference": summary["value"],
        "low": low,
        "high": high,
        "p_value": num(p_value),
        "test": test,
        "better": better,
        "resamples": summary["resamples"],
        "dropped": summary["dropped"],
        "confidence": confidence,
    }
