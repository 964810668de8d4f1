"""Metric kernels: each headline metric as a weighted sum over rows.

A resample of ``n`` rows is a vector of counts (how often each row was drawn); a kernel turns a
matrix of such counts, one resample per row, into the metric's value on each resample with a
few matrix products, so many resamples are evaluated at once. Rank metrics (ROC-AUC, average
precision) sort the rows once and only re-weight per resample. The values equal scikit-learn's
metric functions on the resampled rows (``tests/evaluation/test_uncertainty.py``). Written by
hand because no library evaluates weighted resamples of these metrics in bulk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from modelcycle.errors import invalid_value

__all__ = [
    "METRICS_BY_TASK",
    "Array",
    "FloatArray",
    "IndexArray",
    "Kernel",
    "Rows",
    "metric_kernels",
    "task_name",
]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IndexArray = np.ndarray[Any, np.dtype[np.intp]]
Array = np.ndarray[Any, np.dtype[Any]]
#: counts of each row in each resample, shape (resamples, rows) -> values, shape (resamples,)
Kernel = Callable[[FloatArray], FloatArray]

_CLASSIFICATION = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "pr_auc")
#: The metrics :func:`bootstrap_ci` and :func:`paired_comparison` compute, by task.
METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    "binary": ("f1", *_CLASSIFICATION, "log_loss", "brier"),
    "multiclass": (*_CLASSIFICATION, "log_loss", "brier"),
    "regression": ("rmse", "mae", "r2", "mape"),
}
_PROBA = frozenset({"roc_auc", "pr_auc", "log_loss", "brier"})


class Rows:
    """One model's predictions on the evaluated rows, as the arrays the kernels weight."""

    def __init__(self, y_true: Any, y_pred: Any, proba: Any, classes: Any, task: str) -> None:
        self.y = np.asarray(y_true)
        self.pred = np.asarray(y_pred)
        if self.y.ndim != 1 or len(self.y) == 0 or self.pred.shape != self.y.shape:
            why = f"y_true and y_pred need the same non-empty 1-d shape, not {self.y.shape}"
            raise invalid_value("y_pred", f"shape {self.pred.shape}", why)
        self.task = task
        if task == "regression":
            finite = np.isfinite(self.y.astype(np.float64)) & np.isfinite(self.pred.astype(float))
            if not finite.all():
                why = "regression needs finite values"
                raise invalid_value("y_true/y_pred", "NaN or infinity", why)
            return
        if proba is not None and classes is None:
            raise invalid_value("classes", None, "needed with proba: the order of its columns")
        seen = np.unique(np.concatenate([self.y, self.pred]))
        self.classes = seen if classes is None else np.asarray(classes)
        self.labels = np.unique(np.concatenate([seen, self.classes]))
        self.true_hot = (self.y[:, None] == self.labels[None, :]).astype(np.float64)
        self.pred_hot = (self.pred[:, None] == self.labels[None, :]).astype(np.float64)
        self.onehot = self.y[:, None] == self.classes[None, :]  # against proba's columns
        self.known = bool(self.onehot.any(axis=1).all())
        if task == "binary" and len(self.classes) != 2:
            why = "a binary task needs exactly two classes (the positive one second)"
            raise invalid_value("classes", [str(c) for c in self.classes], why)
        self._rankings: dict[int, _Ranking] = {}
        self.proba: FloatArray | None = None
        if proba is not None:
            self.proba = np.asarray(proba, dtype=np.float64)
            if self.proba.shape != (len(self.y), len(self.classes)):
                why = f"expected ({len(self.y)}, {len(self.classes)}), one column per class"
                raise invalid_value("proba", f"shape {self.proba.shape}", why)

    def ranking(self, column: int) -> _Ranking:
        """The (cached) ranking of the rows by ``proba[:, column]``, one class against the rest."""
        if column not in self._rankings:
            proba = self.probabilities()
            self._rankings[column] = _Ranking(self.onehot[:, column], proba[:, column])
        return self._rankings[column]

    def probabilities(self) -> FloatArray:
        """The predicted probabilities, which the probability metrics cannot do without."""
        if self.proba is None:
            raise invalid_value("proba", None, "this metric needs predicted probabilities")
        return self.proba


def _mean_of(per_row: FloatArray) -> Kernel:
    return lambda w: (w @ per_row) / w.sum(axis=1)


def _nan(w: FloatArray) -> FloatArray:
    return np.full(len(w), np.nan)


def _ratio(top: FloatArray, bottom: FloatArray, empty: float) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), empty)


def _balanced_accuracy(r: Rows) -> Kernel:
    hits = r.true_hot * r.pred_hot

    def kernel(w: FloatArray) -> FloatArray:
        support = w @ r.true_hot
        recall = _ratio(w @ hits, support, 0.0)
        present = support > 0
        mean: FloatArray = (recall * present).sum(axis=1) / present.sum(axis=1)
        return mean

    return kernel


def _f1_macro(r: Rows) -> Kernel:
    hits = r.true_hot * r.pred_hot

    def kernel(w: FloatArray) -> FloatArray:
        tp, true, predicted = w @ hits, w @ r.true_hot, w @ r.pred_hot
        present = (true + predicted) > 0  # scikit-learn's labels: those in y_true or y_pred
        f1 = _ratio(2 * tp, true + predicted, 0.0)  # 2tp / (2tp + fp + fn)
        mean: FloatArray = (f1 * present).sum(axis=1) / present.sum(axis=1)
        return mean

    return kernel


def _f1_binary(r: Rows) -> Kernel:
    positive = r.classes[1]
    truth = (r.y == positive).astype(np.float64)
    pred = (r.pred == positive).astype(np.float64)
    hits = truth * pred
    return lambda w: _ratio(2 * (w @ hits), w @ truth + w @ pred, 0.0)


class _Ranking:
    """One score column sorted once; per resample, the positive and negative weight at or
    above each distinct score (cumulative, highest score first), shared by ROC-AUC and
    average precision of the same column."""

    def __init__(self, positive: Array, score: FloatArray) -> None:
        self.order = np.argsort(-score, kind="stable")
        ranked = score[self.order]
        self.ends = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])  # last of a tie
        self.positive = positive[self.order].astype(np.float64)
        self._last: tuple[FloatArray, tuple[FloatArray, FloatArray]] | None = None

    def cumulative(self, w: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(tp, fp)``, each of shape (resamples, distinct scores)."""
        if self._last is not None and self._last[0] is w:
            return self._last[1]
        ranked = w[:, self.order]
        tp = np.cumsum(ranked * self.positive, axis=1)[:, self.ends]
        fp = np.cumsum(ranked, axis=1)[:, self.ends] - tp
        self._last = (w, (tp, fp))
        return tp, fp


def _roc_auc(ranking: _Ranking) -> Kernel:
    def kernel(w: FloatArray) -> FloatArray:
        tp, fp = ranking.cumulative(w)
        p, n = np.diff(tp, axis=1, prepend=0.0), np.diff(fp, axis=1, prepend=0.0)
        # each negative wins over the positives scored higher, half over those tied
        wins = (n * (tp - 0.5 * p)).sum(axis=1)
        return _ratio(wins, tp[:, -1] * fp[:, -1], np.nan)

    return kernel


def _average_precision(ranking: _Ranking) -> Kernel:
    def kernel(w: FloatArray) -> FloatArray:
        tp, fp = ranking.cumulative(w)
        p = np.diff(tp, axis=1, prepend=0.0)  # recall gained at each threshold, times P
        return _ratio((p * _ratio(tp, tp + fp, 0.0)).sum(axis=1), tp[:, -1], np.nan)

    return kernel


def _rank_metric(r: Rows, name: str) -> Kernel:
    build = _roc_auc if name == "roc_auc" else _average_precision
    if len(r.classes) == 2:
        return build(r.ranking(1))
    if name == "roc_auc" and not r.known:
        return _nan  # scikit-learn refuses labels outside the model's classes
    per_class = [build(r.ranking(c)) for c in range(len(r.classes))]
    # macro average; NaN (undefined) as soon as one class is absent from the resample
    return lambda w: np.mean([kernel(w) for kernel in per_class], axis=0)


def _log_loss(r: Rows) -> Kernel:
    proba = r.probabilities()
    if not r.known:
        return _nan
    eps = np.finfo(np.float64).eps
    chosen = np.clip(proba, eps, 1 - eps)[r.onehot]  # scikit-learn's clipping
    return _mean_of(-np.log(chosen))


def _brier(r: Rows) -> Kernel:
    proba = r.probabilities()
    if len(r.classes) == 2:
        return _mean_of((r.onehot[:, 1] - proba[:, 1]) ** 2)
    if not r.known:
        return _nan
    return _mean_of(((r.onehot - proba) ** 2).sum(axis=1))


def _classification(r: Rows, name: str) -> Kernel:
    if name == "accuracy":
        return _mean_of((r.y == r.pred).astype(np.float64))
    if name == "balanced_accuracy":
        return _balanced_accuracy(r)
    if name == "f1":
        return _f1_binary(r)
    if name == "f1_macro":
        return _f1_macro(r)
    if name in ("roc_auc", "pr_auc"):
        return _rank_metric(r, name)
    return _log_loss(r) if name == "log_loss" else _brier(r)


def _r2(y: FloatArray, error: FloatArray) -> Kernel:
    centred = y - y.mean()  # shifts nothing, keeps the sums of squares well conditioned

    def kernel(w: FloatArray) -> FloatArray:
        total = w @ centred**2 - (w @ centred) ** 2 / w.sum(axis=1)
        residual = w @ error**2
        # scikit-learn's convention for a constant target: 1 when perfect, else 0
        constant = np.where(residual == 0, 1.0, 0.0)
        return np.where(total > 0, 1 - _ratio(residual, total, 0.0), constant)

    return kernel


def _regression(r: Rows, name: str) -> Kernel:
    y, pred = r.y.astype(np.float64), r.pred.astype(np.float64)
    error = y - pred
    if name == "rmse":
        squared = _mean_of(error**2)
        return lambda w: np.sqrt(squared(w))
    if name == "mae":
        return _mean_of(np.abs(error))
    if name == "r2":
        return _r2(y, error)
    if (y == 0).any():
        return _nan  # MAPE divides by the target (see regression_metrics)
    return _mean_of(np.abs(error) / np.abs(y))


def task_name(task: Any) -> str:
    name = str(getattr(task, "value", task))
    if name not in METRICS_BY_TASK:
        raise invalid_value("task", name, f"choose one of {', '.join(METRICS_BY_TASK)}")
    return name


def metric_kernels(rows: Rows, names: Sequence[str]) -> dict[str, Kernel]:
    """One kernel per metric name, checked against the task and the probabilities."""
    known = METRICS_BY_TASK[rows.task]
    out: dict[str, Kernel] = {}
    for name in names:
        if name not in known:
            why = f"not a {rows.task} metric here; choose from {', '.join(known)}"
            raise invalid_value("metric", name, why)
        if name in _PROBA and rows.proba is None:
            raise invalid_value("proba", None, f"{name} needs predicted probabilities")
        if rows.task == "regression":
            out[name] = _regression(rows, name)
        else:
            out[name] = _classification(rows, name)
    return out
