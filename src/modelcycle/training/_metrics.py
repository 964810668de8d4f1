"""Validation metrics by task, and which one is "the" objective.

Training, cross-validation and tuning all score a fitted model the same way, with
scikit-learn's metric functions, so a number means the same thing in every run:

    task        metrics (objective first)         objective direction
    binary      roc_auc, log_loss, accuracy, f1   roc_auc     maximize
    multiclass  log_loss, accuracy, f1_macro      log_loss    minimize
    regression  rmse, mae, r2                     rmse        minimize

The multiclass objective is log loss rather than accuracy: on small validation sets accuracy
ties between most candidates, which leaves a tuner nothing to choose by. For binary tasks the
positive class is the estimator's second class (``classes_[1]``), as in scikit-learn.

A metric that is undefined on the given rows (ROC-AUC with one class present, log loss of an
estimator without probabilities or on a class it never saw) is NaN, never a warning: runs
store NaN as it is.

:func:`iteration_value` reads the per-iteration metrics that families report (``val_log_loss``,
``val_roc_auc`` ...) and turns them into one number in the objective's direction, for early
stopping bookkeeping and pruning.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from modelcycle.errors import invalid_value
from modelcycle.models import Task

__all__ = [
    "METRICS",
    "Direction",
    "Metric",
    "infer_task",
    "iteration_value",
    "metric_names",
    "objective",
    "score",
]

Direction = Literal["maximize", "minimize"]
_Scorer = Callable[[Any, Any, Any, Any], float]

#: Integer targets with at most this many distinct values are class labels.
MAX_INTEGER_CLASSES = 20


@dataclass(frozen=True)
class Metric:
    """A named validation metric: its direction and whether it reads probabilities."""

    name: str
    direction: Direction
    uses_proba: bool
    compute: _Scorer  # (y_true, y_pred, proba, classes) -> value

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b`` (NaN is never better)."""
        if math.isnan(a):
            return False
        if math.isnan(b):
            return True
        return a > b if self.direction == "maximize" else a < b


def _roc_auc(y: Any, _pred: Any, proba: Any, classes: Any) -> float:
    from sklearn.metrics import roc_auc_score

    positive = np.asarray(y) == classes[1]
    if proba is None or positive.all() or not positive.any():
        return math.nan
    return float(roc_auc_score(positive, proba[:, 1]))


def _log_loss(y: Any, _pred: Any, proba: Any, classes: Any) -> float:
    from sklearn.metrics import log_loss

    if proba is None or not np.isin(y, classes).all():
        return math.nan  # a class the model never saw: the loss is unbounded
    return float(log_loss(y, proba, labels=classes))


def _accuracy(y: Any, pred: Any, _proba: Any, _classes: Any) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y, pred))


def _f1(y: Any, pred: Any, _proba: Any, classes: Any) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, pred, pos_label=classes[1], zero_division=0))


def _f1_macro(y: Any, pred: Any, _proba: Any, _classes: Any) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, pred, average="macro", zero_division=0))


def _rmse(y: Any, pred: Any, _proba: Any, _classes: Any) -> float:
    from sklearn.metrics import root_mean_squared_error

    return float(root_mean_squared_error(y, pred))


def _mae(y: Any, pred: Any, _proba: Any, _classes: Any) -> float:
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(y, pred))


def _r2(y: Any, pred: Any, _proba: Any, _classes: Any) -> float:
    from sklearn.metrics import r2_score

    if len(y) < 2:
        return math.nan
    return float(r2_score(y, pred))


#: Every metric by name.
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", "maximize", True, _roc_auc),
        Metric("log_loss", "minimize", True, _log_loss),
        Metric("accuracy", "maximize", False, _accuracy),
        Metric("f1", "maximize", False, _f1),
        Metric("f1_macro", "maximize", False, _f1_macro),
        Metric("rmse", "minimize", False, _rmse),
        Metric("mae", "minimize", False, _mae),
        Metric("r2", "maximize", False, _r2),
    )
}

_BY_TASK: dict[Task, tuple[str, ...]] = {
    Task.BINARY: ("roc_auc", "log_loss", "accuracy", "f1"),
    Task.MULTICLASS: ("log_loss", "accuracy", "f1_macro"),
    Task.REGRESSION: ("rmse", "mae", "r2"),
}


def metric_names(task: Task) -> list[str]:
    """The metrics computed for ``task``, the default objective first."""
    return list(_BY_TASK[Task(task)])


def objective(task: Task, metric: str | None = None) -> Metric:
    """The metric to optimise for ``task``: ``metric`` when given (it must suit the task),
    else the task's default (see the module docstring)."""
    names = _BY_TASK[Task(task)]
    chosen = names[0] if metric is None else metric
    if chosen not in names:
        why = f"not a {Task(task).value} metric; choose one of {', '.join(names)}"
        raise invalid_value("train.metric", chosen, why)
    return METRICS[chosen]


def infer_task(y: Any) -> Task:
    """The task a target implies: floats are regression; booleans, strings and integers with
    at most 20 distinct values are classification (binary with two classes)."""
    import pandas as pd

    labels = pd.Series(y).dropna()
    if labels.nunique() < 2:
        raise invalid_value("target", labels.nunique(), "needs at least two distinct values")
    numeric = pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels)
    if numeric and (pd.api.types.is_float_dtype(labels) or labels.nunique() > MAX_INTEGER_CLASSES):
        return Task.REGRESSION
    return Task.BINARY if labels.nunique() == 2 else Task.MULTICLASS


def score(
    task: Task, estimator: Any, x: Any, y: Any, *, labels_from_proba: bool = False
) -> dict[str, float]:
    """Every metric of ``task`` for the fitted ``estimator`` on rows ``x`` with labels ``y``.

    ``labels_from_proba`` says the estimator's predicted class is always the most probable
    one (:attr:`ModelFamily.labels_from_proba`): the labels are then taken from the one
    ``predict_proba`` call rather than predicted a second time.
    """
    names = _BY_TASK[Task(task)]
    proba, classes = None, None
    if Task(task).is_classification:
        classes = np.asarray(estimator.classes_)
        if any(METRICS[n].uses_proba for n in names) and hasattr(estimator, "predict_proba"):
            proba = np.asarray(estimator.predict_proba(x))
    if labels_from_proba and proba is not None and classes is not None:
        pred = classes[proba.argmax(axis=1)]
    else:
        pred = estimator.predict(x)
    y_true = np.asarray(y)
    return {name: METRICS[name].compute(y_true, pred, proba, classes) for name in names}


def iteration_value(metrics: Mapping[str, float], goal: Metric) -> float | None:
    """One number from an iteration's metrics, comparable in ``goal``'s direction.

    Prefers the objective itself (``val_<name>``, then ``<name>``); else the first other
    known validation metric (``val_<metric>``, then ``val_loss``), its sign flipped when its
    direction is the opposite of ``goal``'s. None when the iteration reports no validation
    metric: then that iteration neither counts for the best iteration nor for pruning.
    """
    for key in (f"val_{goal.name}", goal.name):
        if key in metrics:
            return float(metrics[key])
    candidates = [(f"val_{name}", m.direction) for name, m in METRICS.items()]
    for key, direction in [*candidates, ("val_loss", "minimize")]:
        if key in metrics:
            value = float(metrics[key])
            return value if direction == goal.direction else -value
    return None
