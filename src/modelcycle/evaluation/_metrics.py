"""Evaluation metrics by task: the numbers a model version is judged and documented by.

Every number comes from scikit-learn's own metric function on the model's predictions, so it
means what the scikit-learn documentation says it means; this module chooses the arguments
(positive class, labels, averages, zero division) once and returns JSON-ready dicts (plain
floats, ints, strings and lists; NaN and infinity become None).

    classification_metrics  accuracy, balanced accuracy, precision/recall/F1 (micro, macro,
                            weighted, per class; binary: of classes[1]); with probabilities
                            ROC-AUC, PR-AUC (average precision), log loss, Brier score
    classification_curves   ROC, precision-recall and calibration curves, downsampled
    confusion               the confusion matrix, rows = true class, columns = predicted
    select_threshold        the decision threshold reaching a target precision or recall
    regression_metrics      RMSE, MAE, R2, MAPE, median and max error, residual analysis
    perplexity              exp(-mean log-likelihood) of language-model tokens

As in scikit-learn and in training, the positive class of a binary model is its second class
(``classes[1]``). A metric undefined on the given rows (ROC-AUC when one class is absent, R2 on
one row, MAPE with a zero target) is None, never a warning.

:func:`direction` says whether higher or lower is better for every metric named here: it reads
training's metric table (``modelcycle.training.METRICS``) and adds the metrics only evaluation
computes, so there is one place per metric that knows its direction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.errors import invalid_value

if TYPE_CHECKING:
    from modelcycle.training._metrics import Direction

__all__ = [
    "classification_curves",
    "classification_metrics",
    "confusion",
    "direction",
    "perplexity",
    "perplexity_from_proba",
    "regression_metrics",
    "select_threshold",
]

Array = np.ndarray[Any, np.dtype[Any]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]

#: Directions of the metrics training does not define (training's table holds the rest).
_EVALUATION_DIRECTIONS: dict[str, Direction] = {
    "balanced_accuracy": "maximize",
    "pr_auc": "maximize",
    "brier": "minimize",
    "mape": "minimize",
    "median_absolute_error": "minimize",
    "max_error": "minimize",
    "perplexity": "minimize",
    **{
        f"{m}_{a}": "maximize" for m in ("precision", "recall", "f1") for a in ("micro", "weighted")
    },
    "precision_macro": "maximize",
    "recall_macro": "maximize",
    "precision": "maximize",
    "recall": "maximize",
}

_QUANTILES = {
    "p01": 0.01,
    "p05": 0.05,
    "p25": 0.25,
    "p50": 0.5,
    "p75": 0.75,
    "p95": 0.95,
    "p99": 0.99,
}


def direction(metric: str) -> Direction:
    """``"maximize"`` or ``"minimize"``: whether a higher value of ``metric`` is better.

    >>> direction("log_loss")
    'minimize'
    """
    from modelcycle.training._metrics import METRICS

    table = {**{name: m.direction for name, m in METRICS.items()}, **_EVALUATION_DIRECTIONS}
    if metric not in table:
        raise invalid_value("metric", metric, f"unknown metric; known: {', '.join(sorted(table))}")
    return table[metric]


def num(value: Any) -> float | None:
    """``value`` as a JSON number: a Python float, or None when it is NaN or infinite."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _labels(values: Any, field: str, rows: int | None = None) -> Array:
    array = np.asarray(values)
    if array.ndim != 1 or len(array) == 0:
        raise invalid_value(field, f"shape {array.shape}", "needs a non-empty 1-d array")
    if rows is not None and len(array) != rows:
        raise invalid_value(field, f"{len(array)} rows", f"y_true has {rows} rows")
    return array


def _probabilities(proba: Any, rows: int, classes: Array) -> FloatArray:
    array = np.asarray(proba, dtype=np.float64)
    if array.shape != (rows, len(classes)):
        why = f"expected (rows, classes) = ({rows}, {len(classes)}), one column per class"
        raise invalid_value("proba", f"shape {array.shape}", why)
    return array


def _classes(classes: Any, y_true: Array, y_pred: Array | None, proba: Any) -> Array:
    if classes is not None:
        return np.asarray(classes)
    if proba is not None:
        raise invalid_value("classes", None, "needed with proba: the order of its columns")
    seen = [y_true] if y_pred is None else [y_true, y_pred]
    return np.unique(np.concatenate(seen))


def _averages(y_true: Array, y_pred: Array) -> dict[str, float | None]:
    from sklearn.metrics import precision_recall_fscore_support

    out: dict[str, float | None] = {}
    for average in ("micro", "macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, average=average, zero_division=0
        )
        out |= {
            f"precision_{average}": num(p),
            f"recall_{average}": num(r),
            f"f1_{average}": num(f),
        }
    return out


def _per_class(y_true: Array, y_pred: Array, classes: Array) -> dict[str, dict[str, Any]]:
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, average=None, zero_division=0
    )
    return {
        str(c): {"precision": num(p[i]), "recall": num(r[i]), "f1": num(f[i]), "support": int(s[i])}
        for i, c in enumerate(classes)
    }


def _probability_metrics(y_true: Array, proba: FloatArray, classes: Array) -> dict[str, Any]:
    from sklearn.metrics import (
        average_precision_score,
        brier_score_loss,
        log_loss,
        roc_auc_score,
    )

    onehot = y_true[:, None] == classes[None, :]
    known = bool(onehot.any(axis=1).all())  # every true label is one of the model's classes
    positives = bool(onehot.any(axis=0).all())  # every class has a row: precision defined
    both = positives and bool((~onehot).any(axis=0).all())  # ... and a row of another class
    out: dict[str, Any] = {"roc_auc": None, "pr_auc": None, "log_loss": None, "brier": None}
    if known:
        out["log_loss"] = num(log_loss(y_true, proba, labels=classes))
    if len(classes) == 2:
        positive = onehot[:, 1]
        if both:
            out["roc_auc"] = num(roc_auc_score(positive, proba[:, 1]))
        if positive.any():
            out["pr_auc"] = num(average_precision_score(positive, proba[:, 1]))
        out["brier"] = num(brier_score_loss(positive, proba[:, 1], pos_label=True))
        return out
    if known and both:
        out["roc_auc"] = num(roc_auc_score(y_true, proba, multi_class="ovr", labels=classes))
    if positives:
        out["pr_auc"] = num(average_precision_score(onehot, proba, average="macro"))
    if known:
        out["brier"] = num(brier_score_loss(y_true, proba, labels=classes))
    return out


def classification_metrics(
    y_true: Any, y_pred: Any, proba: Any = None, classes: Any = None
) -> dict[str, Any]:
    """Every classification metric of predictions ``y_pred`` (and ``proba``) against ``y_true``.

    ``classes`` is the model's ``classes_`` (the column order of ``proba``; inferred from the
    labels when there is no ``proba``). Precision, recall and F1 count a zero division as 0;
    their averages run over the labels present in ``y_true`` or ``y_pred`` (scikit-learn's
    default), ``per_class`` over every class. Balanced accuracy is the mean recall over the
    classes present in ``y_true`` (scikit-learn's ``balanced_accuracy_score``). Binary models
    also get ``precision``, ``recall`` and ``f1`` of the positive class ``classes[1]``.

    With ``proba``: ``roc_auc`` (binary: of ``proba[:, 1]``; multiclass: one-vs-rest, macro),
    ``pr_auc`` (average precision; multiclass: macro over one-vs-rest), ``log_loss`` and
    ``brier``: binary, scikit-learn's ``brier_score_loss`` (mean squared error of the positive
    probability); multiclass, the mean over rows of the summed squared differences between the
    probability row and the one-hot true class (range 0 to 2). ROC-AUC is None when a class is
    absent from ``y_true`` or alone in it, PR-AUC when a class has no row; log loss and
    multiclass Brier when ``y_true`` has a label the model does not know.
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support, recall_score

    truth = _labels(y_true, "y_true")
    pred = _labels(y_pred, "y_pred", len(truth))
    labels = _classes(classes, truth, pred, proba)
    present = np.unique(truth)
    out: dict[str, Any] = {
        "accuracy": num(accuracy_score(truth, pred)),
        # recall averaged over the classes of y_true == balanced accuracy, without the
        # warning scikit-learn gives when y_pred has a class y_true lacks
        "balanced_accuracy": num(
            recall_score(truth, pred, labels=present, average="macro", zero_division=0)
        ),
        **_averages(truth, pred),
    }
    if len(labels) == 2:
        p, r, f, _ = precision_recall_fscore_support(
            truth, pred, labels=labels[1:], average=None, zero_division=0
        )
        out |= {"precision": num(p[0]), "recall": num(r[0]), "f1": num(f[0])}
    out["per_class"] = _per_class(truth, pred, labels)
    if proba is not None:
        out |= _probability_metrics(truth, _probabilities(proba, len(truth), labels), labels)
    return out


def confusion(y_true: Any, y_pred: Any, classes: Any) -> dict[str, Any]:
    """The confusion matrix over ``classes``: ``matrix[i][j]`` counts rows of true class
    ``labels[i]`` predicted as ``labels[j]``."""
    from sklearn.metrics import confusion_matrix

    truth = _labels(y_true, "y_true")
    labels = np.asarray(classes)
    matrix = confusion_matrix(truth, _labels(y_pred, "y_pred", len(truth)), labels=labels)
    return {"labels": [str(c) for c in labels], "matrix": matrix.astype(int).tolist()}


def _downsample(max_points: int, *columns: Array) -> list[list[float | None]]:
    """At most ``max_points`` evenly spaced points of parallel columns, endpoints kept."""
    size = len(columns[0])
    keep = np.arange(size)
    if size > max_points:
        keep = np.unique(np.round(np.linspace(0, size - 1, max_points)).astype(np.intp))
    return [[num(v) for v in column[keep]] for column in columns]


def _binary_curves(
    positive: Array, score: FloatArray, max_points: int
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any]]:
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve, roc_curve

    roc = pr = None
    if positive.any() and not positive.all():
        fpr, tpr, cuts = roc_curve(positive, score)
        columns = _downsample(max_points, fpr, tpr, cuts)
        roc = dict(zip(("fpr", "tpr", "thresholds"), columns, strict=True))
        precision, recall, cuts = precision_recall_curve(positive, score)
        cuts = np.append(cuts, np.nan)  # the last point (recall 0) has no threshold
        columns = _downsample(max_points, precision, recall, cuts)
        pr = dict(zip(("precision", "recall", "thresholds"), columns, strict=True))
    prob_true, prob_pred = calibration_curve(positive, score, n_bins=10, pos_label=True)
    counts = np.bincount(np.searchsorted(np.linspace(0, 1, 11)[1:-1], score), minlength=10)
    calibration = {
        "prob_pred": [num(v) for v in prob_pred],
        "prob_true": [num(v) for v in prob_true],
        "counts": [int(c) for c in counts[counts > 0]],
    }
    return roc, pr, calibration


def classification_curves(
    y_true: Any, proba: Any, classes: Any, *, max_points: int = 200
) -> dict[str, Any]:
    """ROC, precision-recall and calibration curves of predicted probabilities.

    Binary models: the curves of the positive class ``classes[1]``, as
    ``{"roc": {fpr, tpr, thresholds}, "pr": {precision, recall, thresholds},
    "calibration": {prob_pred, prob_true, counts}}``. Multiclass models: the same per class
    (one-vs-rest), keyed by ``str(class)``. ROC and PR curves are None for a class absent from
    (or alone in) ``y_true``. Thresholds beyond the scores (ROC's first, PR's last) are None.

    Calibration uses scikit-learn's ``calibration_curve`` with 10 uniform bins; ``counts`` are
    the rows in each non-empty bin. ROC and PR curves keep at most ``max_points`` evenly spaced
    points, first and last included, so reports stay small.
    """
    if max_points < 2:
        raise invalid_value("max_points", max_points, "needs at least 2 (the two endpoints)")
    truth = _labels(y_true, "y_true")
    labels = np.asarray(classes)
    scores = _probabilities(proba, len(truth), labels)
    if len(labels) == 2:
        roc, pr, calibration = _binary_curves(truth == labels[1], scores[:, 1], max_points)
        return {"roc": roc, "pr": pr, "calibration": calibration}
    out: dict[str, Any] = {"roc": {}, "pr": {}, "calibration": {}}
    for column, label in enumerate(labels):
        curves = _binary_curves(truth == label, scores[:, column], max_points)
        for key, curve in zip(("roc", "pr", "calibration"), curves, strict=True):
            out[key][str(label)] = curve
    return out


def select_threshold(
    y_true: Any,
    scores: Any,
    positive: Any,
    *,
    target_precision: float | None = None,
    target_recall: float | None = None,
) -> dict[str, Any]:
    """The decision threshold (predict ``positive`` when ``score >= threshold``) that reaches
    exactly one target.

    For ``target_precision``: the lowest threshold whose precision is at least the target,
    which has the highest recall among those. For ``target_recall``: the highest threshold
    whose recall is at least the target. Candidates are the distinct scores (scikit-learn's
    ``precision_recall_curve``). Returns ``{threshold, precision, recall, goal, target,
    achievable}``; when no threshold reaches the target, ``achievable`` is False and
    threshold, precision and recall are None.
    """
    from sklearn.metrics import precision_recall_curve

    if (target_precision is None) == (target_recall is None):
        raise invalid_value("target", None, "give exactly one of target_precision, target_recall")
    goal, target = (
        ("precision", target_precision)
        if target_precision is not None
        else ("recall", target_recall)
    )
    if target is None or not 0.0 < target <= 1.0:
        raise invalid_value(f"target_{goal}", target, "must be in (0, 1]")
    truth = _labels(y_true, "y_true")
    score = np.asarray(_labels(scores, "scores", len(truth)), dtype=np.float64)
    is_positive = truth == positive
    if not is_positive.any():
        raise invalid_value("positive", positive, "no row of y_true has this label")
    precision, recall, cuts = precision_recall_curve(is_positive, score)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    ok = np.flatnonzero((precision if goal == "precision" else recall) >= target)
    out: dict[str, Any] = {"goal": goal, "target": float(target), "achievable": ok.size > 0}
    if ok.size == 0:
        return out | {"threshold": None, "precision": None, "recall": None}
    best = ok[np.argmin(cuts[ok])] if goal == "precision" else ok[np.argmax(cuts[ok])]
    return out | {
        "threshold": float(cuts[best]),
        "precision": float(precision[best]),
        "recall": float(recall[best]),
    }


def _residuals(pred: FloatArray, residual: FloatArray, bins: int, seed: int) -> dict[str, Any]:
    counts, edges = np.histogram(residual, bins=bins)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(len(residual), size=min(500, len(residual)), replace=False))
    return {
        "mean": num(residual.mean()),
        "std": num(residual.std()),
        "quantiles": {k: num(np.quantile(residual, q)) for k, q in _QUANTILES.items()},
        "histogram": {"edges": [num(e) for e in edges], "counts": counts.astype(int).tolist()},
        "sample": {
            "predicted": [num(v) for v in pred[sample]],
            "residual": [num(v) for v in residual[sample]],
        },
    }


def regression_metrics(
    y_true: Any, y_pred: Any, *, bins: int = 30, seed: int = 0
) -> dict[str, Any]:
    """Regression metrics of ``y_pred`` against ``y_true`` and an analysis of the residuals.

    ``rmse``, ``mae``, ``r2`` (None on fewer than two rows), ``mape`` (scikit-learn's
    ``mean_absolute_percentage_error``, a fraction, not a percentage; None when a true value is
    0, where it divides by machine epsilon and returns a meaningless huge number),
    ``median_absolute_error``, ``max_error``, and ``residuals`` (``y_true - y_pred``): mean,
    standard deviation (population), quantiles, a ``bins``-bin histogram and a seeded sample
    of at most 500 (predicted, residual) points for a scatter plot.
    """
    from sklearn import metrics

    truth = np.asarray(_labels(y_true, "y_true"), dtype=np.float64)
    pred = np.asarray(_labels(y_pred, "y_pred", len(truth)), dtype=np.float64)
    if not (np.isfinite(truth).all() and np.isfinite(pred).all()):
        raise invalid_value("y_true/y_pred", "NaN or infinity", "regression needs finite values")
    has_zero = bool((truth == 0).any())
    return {
        "rmse": num(metrics.root_mean_squared_error(truth, pred)),
        "mae": num(metrics.mean_absolute_error(truth, pred)),
        "r2": num(metrics.r2_score(truth, pred)) if len(truth) > 1 else None,
        "mape": None if has_zero else num(metrics.mean_absolute_percentage_error(truth, pred)),
        "median_absolute_error": num(metrics.median_absolute_error(truth, pred)),
        "max_error": num(metrics.max_error(truth, pred)),
        "residuals": _residuals(pred, truth - pred, bins, seed),
    }


def perplexity(token_log_likelihoods: Sequence[float] | Any) -> float:
    """``exp(-mean(log p))`` of the natural-log likelihoods a language model gave the true
    tokens (any shape; flattened): the effective number of equally likely choices per token.
    Infinite when a token had probability 0."""
    values = np.asarray(token_log_likelihoods, dtype=np.float64).ravel()
    if values.size == 0:
        raise invalid_value("token_log_likelihoods", "empty", "needs at least one token")
    if np.isnan(values).any() or (values > 1e-9).any():
        raise invalid_value("token_log_likelihoods", "values", "log-probabilities are <= 0")
    with np.errstate(over="ignore"):
        return float(np.exp(-values.mean()))


def perplexity_from_proba(y_true: Any, proba: Any, classes: Any) -> float:
    """The per-row perplexity of a classifier's predictive distribution: ``exp(log_loss)``."""
    from sklearn.metrics import log_loss

    truth = _labels(y_true, "y_true")
    labels = np.asarray(classes)
    return float(
        math.exp(log_loss(truth, _probabilities(proba, len(truth), labels), labels=labels))
    )
