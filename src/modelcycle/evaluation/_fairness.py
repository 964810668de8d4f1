"""Fairness: how a model's predictions differ between groups of a sensitive attribute.

:func:`fairness_report` answers "is the model as good, and as generous, for every group?" for
each sensitive attribute (and each pair of them: a model can be fair to women and to older
people and still not to older women). Every number comes from fairlearn (``MetricFrame`` and
its disparity functions) on the given predictions, so it reads as fairlearn documents it:

    binary       per group: count, positives, selection_rate, accuracy, tpr, fpr, precision;
                 demographic parity difference and ratio (selection rates), equalized odds
                 difference and ratio (worst of the TPR and FPR gaps), equal opportunity
                 difference and ratio (TPR), the accuracy gap
    multiclass   per group: count and accuracy, and the accuracy gap; with ``positive`` also
                 every binary number above for that class against the rest (one-vs-rest)
    regression   per group: count, rmse, mae, mean_prediction, mean_target; the rmse and mae
                 gaps (largest minus smallest) and the gap in mean prediction

The positive class is ``positive``, by default the second class in sorted order (as in
scikit-learn). Missing values in a sensitive column form their own group ``"(missing)"``:
rows are never dropped silently. Groups smaller than ``min_group_size`` are listed under
``small_groups`` and left out of the gaps (a group of three makes any gap noise).

:func:`mitigate` makes a new candidate from a fitted binary classifier: fairlearn's
``ThresholdOptimizer`` picks per-group decision thresholds on the rows given (validation rows)
so that the chosen constraint holds; the result is a :class:`FairThresholdClassifier`, called
like any model (``predict(frame)``: the sensitive columns are read from the frame itself).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from modelcycle.errors import invalid_value
from modelcycle.evaluation._metrics import num
from modelcycle.models import Task

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MISSING_GROUP",
    "FairThresholdClassifier",
    "fairness_report",
    "group_labels",
    "mitigate",
]

Constraint = Literal["demographic_parity", "equalized_odds", "true_positive_rate_parity"]
Array = np.ndarray[Any, np.dtype[Any]]

#: The group of rows whose sensitive value is missing.
MISSING_GROUP = "(missing)"
_JOIN = "&"
_CONSTRAINTS = ("demographic_parity", "equalized_odds", "true_positive_rate_parity")


def group_labels(sensitive: pd.DataFrame, columns: Sequence[str]) -> Array:
    """Each row's group as a string: the values of ``columns`` joined by ``&``, a missing
    value as ``"(missing)"``."""
    import pandas as pd

    parts = []
    for name in columns:
        column = sensitive[name]
        parts.append([MISSING_GROUP if pd.isna(v) else str(v) for v in column.tolist()])
    return np.array([_JOIN.join(values) for values in zip(*parts, strict=True)], dtype=object)


def _checked_sensitive(sensitive: Any, rows: int) -> pd.DataFrame:
    import pandas as pd

    frame = sensitive.to_frame() if isinstance(sensitive, pd.Series) else sensitive
    if not isinstance(frame, pd.DataFrame) or frame.shape[1] == 0:
        raise invalid_value("sensitive", type(sensitive).__name__, "give a non-empty DataFrame")
    if len(frame) != rows:
        raise invalid_value("sensitive", f"{len(frame)} rows", f"y_true has {rows} rows")
    checked: pd.DataFrame = frame.reset_index(drop=True)
    return checked


def _attributes(sensitive: pd.DataFrame, intersections: bool) -> dict[str, list[str]]:
    """Report key -> the columns forming its groups: each attribute, then each pair."""
    names = [str(name) for name in sensitive.columns]
    found = {name: [name] for name in names}
    if intersections:
        for a, b in itertools.combinations(names, 2):
            found[f"{a}{_JOIN}{b}"] = [a, b]
    return found


def _positive(y_true: Array, y_pred: Array, positive: Any) -> Any:
    labels = sorted(set(y_true.tolist()) | set(y_pred.tolist()), key=str)
    if positive is None:
        if len(labels) < 2:
            raise invalid_value("y_true", labels, "needs two classes to pick a positive class")
        return labels[1]
    if positive not in labels:
        raise invalid_value("positive", positive, f"not a label of the data: {labels}")
    return positive


def _gap(values: Any) -> float | None:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return num(max(finite) - min(finite)) if len(finite) > 1 else None


def _extreme(groups: Mapping[str, Mapping[str, Any]], metric: str, worst: str) -> str | None:
    scored = {g: m[metric] for g, m in groups.items() if m.get(metric) is not None}
    if not scored:
        return None
    pick = min if worst == "min" else max
    return pick(scored, key=lambda group: float(scored[group]))


def _by_group(frame: Any) -> dict[str, dict[str, Any]]:
    """MetricFrame.by_group as ``{group: {metric: number}}`` (counts as ints)."""
    groups: dict[str, dict[str, Any]] = {}
    for group, row in frame.iterrows():
        values = {str(k): num(v) for k, v in row.items()}
        for key in ("count", "positives"):
            if values.get(key) is not None:
                values[key] = int(values[key])  # type: ignore[arg-type]
        groups[str(group)] = values
    return groups


def _binary_metrics(y_true: Array, y_pred: Array, groups: Array, positive: Any) -> dict[str, Any]:
    """The binary numbers of one attribute (see the module docstring)."""
    from fairlearn import metrics as fm
    from sklearn.metrics import accuracy_score, precision_score

    truth = (y_true == positive).astype(int)
    pred = (y_pred == positive).astype(int)
    per_group = fm.MetricFrame(
        metrics={
            "count": fm.count,
            "positives": lambda t, _p: int(np.sum(t)),
            "selection_rate": fm.selection_rate,
            "accuracy": accuracy_score,
            "tpr": fm.true_positive_rate,
            "fpr": fm.false_positive_rate,
            "precision": lambda t, p: precision_score(t, p, zero_division=np.nan),
        },
        y_true=truth,
        y_pred=pred,
        sensitive_features=groups,
    )
    found = _by_group(per_group.by_group)
    on = {"sensitive_features": groups}
    return {
        "positive": str(positive),
        "groups": found,
        "demographic_parity_difference": num(fm.demographic_parity_difference(truth, pred, **on)),
        "demographic_parity_ratio": num(fm.demographic_parity_ratio(truth, pred, **on)),
        "equalized_odds_difference": num(fm.equalized_odds_difference(truth, pred, **on)),
        "equalized_odds_ratio": num(fm.equalized_odds_ratio(truth, pred, **on)),
        "equal_opportunity_difference": num(fm.equal_opportunity_difference(truth, pred, **on)),
        "equal_opportunity_ratio": num(fm.equal_opportunity_ratio(truth, pred, **on)),
        "accuracy_difference": _gap(g["accuracy"] for g in found.values()),
        "worst_group": _extreme(found, "accuracy", "min"),
    }


def _accuracy_metrics(y_true: Array, y_pred: Array, groups: Array) -> dict[str, Any]:
    from fairlearn import metrics as fm
    from sklearn.metrics import accuracy_score

    per_group = fm.MetricFrame(
        metrics={"count": fm.count, "accuracy": accuracy_score},
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups,
    )
    found = _by_group(per_group.by_group)
    return {
        "groups": found,
        "accuracy_difference": _gap(g["accuracy"] for g in found.values()),
        "worst_group": _extreme(found, "accuracy", "min"),
    }


def _multiclass_metrics(
    y_true: Array, y_pred: Array, groups: Array, positive: Any
) -> dict[str, Any]:
    """Accuracy by group; with ``positive``, also one-vs-rest binary numbers for that class."""
    found = _accuracy_metrics(y_true, y_pred, groups)
    if positive is None:
        note = "multiclass: accuracy by group; give positive= for one-vs-rest rates and gaps"
        return {**found, "positive": None, "note": note}
    binary = _binary_metrics(y_true, y_pred, groups, _positive(y_true, y_pred, positive))
    for group, values in binary["groups"].items():
        values["accuracy"] = found["groups"][group]["accuracy"]  # multiclass accuracy
    note = f"one-vs-rest: {positive} against every other class; accuracy is multiclass"
    return {**binary, **found, "groups": binary["groups"], "note": note}


def _regression_metrics(y_true: Array, y_pred: Array, groups: Array) -> dict[str, Any]:
    from fairlearn import metrics as fm
    from sklearn.metrics import mean_absolute_error, root_mean_squared_error

    per_group = fm.MetricFrame(
        metrics={
            "count": fm.count,
            "rmse": root_mean_squared_error,
            "mae": mean_absolute_error,
            "mean_prediction": fm.mean_prediction,
            "mean_target": lambda t, _p: float(np.mean(t)),
        },
        y_true=y_true.astype(float),
        y_pred=y_pred.astype(float),
        sensitive_features=groups,
    )
    found = _by_group(per_group.by_group)
    return {
        "groups": found,
        "rmse_difference": _gap(g["rmse"] for g in found.values()),
        "mae_difference": _gap(g["mae"] for g in found.values()),
        "mean_prediction_difference": _gap(g["mean_prediction"] for g in found.values()),
        "worst_group": _extreme(found, "rmse", "max"),
    }


def _one_attribute(
    y_true: Array, y_pred: Array, groups: Array, task: Task, positive: Any, min_size: int
) -> dict[str, Any]:
    names, counts = np.unique(groups, return_counts=True)
    small = {str(n): int(c) for n, c in zip(names, counts, strict=True) if c < min_size}
    kept = ~np.isin(groups, list(small))
    if not kept.any():
        return {"groups": {}, "small_groups": small}
    truth, pred, labels = y_true[kept], y_pred[kept], groups[kept]
    if task is Task.REGRESSION:
        found = _regression_metrics(truth, pred, labels)
    elif task is Task.MULTICLASS:
        found = _multiclass_metrics(truth, pred, labels, positive)
    else:
        found = _binary_metrics(truth, pred, labels, positive)
    return {**found, "small_groups": small}


def fairness_report(
    y_true: Any,
    y_pred: Any,
    sensitive: pd.DataFrame,
    *,
    task: str,
    positive: Any = None,
    intersections: bool = True,
    min_group_size: int = 1,
) -> dict[str, Any]:
    """Per-group metrics and fairness gaps for every sensitive attribute (and pair of them).

    Returns ``{attribute: {...}}`` with one key per column of ``sensitive`` and, when there are
    several and ``intersections`` is on, one per pair (``"sex&race"``, groups such as
    ``"female&black"``). Each value holds ``groups`` (``{group: {metric: value}}``),
    ``small_groups`` (``{group: count}`` left out for being under ``min_group_size``) and the
    gaps of the task (see the module docstring); a gap over fewer than two groups is None.

        report = fairness_report(y, model.predict(x), x[["sex"]], task="binary")
        report["sex"]["demographic_parity_difference"]
    """
    kind = Task(task)
    truth = np.asarray(y_true)
    pred = np.asarray(y_pred)
    if truth.shape != pred.shape or truth.ndim != 1:
        raise invalid_value("y_pred", f"shape {pred.shape}", f"y_true has shape {truth.shape}")
    if min_group_size < 1:
        raise invalid_value("min_group_size", min_group_size, "must be at least 1")
    frame = _checked_sensitive(sensitive, len(truth))
    if kind is Task.BINARY:
        positive = _positive(truth, pred, positive)
    report: dict[str, Any] = {}
    for key, columns in _attributes(frame, intersections).items():
        groups = group_labels(frame, columns)
        report[key] = _one_attribute(truth, pred, groups, kind, positive, min_group_size)
    return report


class FairThresholdClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A fitted binary classifier with per-group thresholds chosen by fairlearn.

    ``estimator`` is a fitted pipeline taking raw frames (its ``predict_proba`` column
    ``classes_[1]`` is the positive score); ``sensitive`` names the columns of the input frame
    whose values (joined, missing as ``"(missing)"``) form the groups. ``fit(x, y)`` runs
    fairlearn's ``ThresholdOptimizer(prefit=True, predict_method="predict_proba")`` with
    ``constraint`` on the given rows (use validation rows, not training rows).

    The thresholds are randomised: a row at a group's threshold is positive with some
    probability. The fitted rules are kept as plain numbers (``thresholds_``: group -> rule),
    not as fairlearn objects, so the model saves like any scikit-learn pipeline.
    ``predict_proba`` returns that probability (the chance this classifier says
    ``classes_[1]``, not a calibrated probability of the label). ``predict`` draws from it
    with a uniform number derived from ``seed`` and the values of the columns the model reads,
    so the same row gets the same answer in any batch, any process, whatever other columns
    travel with it. A group not seen in ``fit`` gets the unmitigated model's own decision
    (its probability of ``classes_[1]`` above one half).
    """

    def __init__(
        self,
        estimator: Any,
        *,
        sensitive: Sequence[str],
        constraint: Constraint = "demographic_parity",
        seed: int = 0,
    ) -> None:
        self.estimator = estimator
        self.sensitive = sensitive
        self.constraint = constraint
        self.seed = seed

    def _groups(self, x: pd.DataFrame) -> Array:
        columns = [str(name) for name in self.sensitive]
        for name in columns:
            if name not in getattr(x, "columns", ()):
                why = "the fair-threshold model reads its group from this column of every row"
                raise invalid_value("sensitive column", name, why)
        return group_labels(x, columns)

    def fit(self, x: pd.DataFrame, y: Any) -> FairThresholdClassifier:
        """Choose the per-group thresholds on rows ``x`` with labels ``y``."""
        from fairlearn.postprocessing import ThresholdOptimizer

        if self.constraint not in _CONSTRAINTS:
            raise invalid_value("constraint", self.constraint, f"choose one of {_CONSTRAINTS}")
        if not self.sensitive:
            raise invalid_value("sensitive", self.sensitive, "name at least one column")
        classes = np.asarray(self.estimator.classes_)
        if len(classes) != 2:
            raise invalid_value("estimator", f"{len(classes)} classes", "needs a binary model")
        groups = self._groups(x)
        optimizer = ThresholdOptimizer(
            estimator=self.estimator,
            constraints=self.constraint,
            prefit=True,
            predict_method="predict_proba",
        )
        labels = (np.asarray(y) == classes[1]).astype(int)
        optimizer.fit(x, labels, sensitive_features=groups)
        rules = optimizer.interpolated_thresholder_.interpolation_dict
        self.thresholds_ = {str(group): _rule(rule) for group, rule in rules.items()}
        self.classes_ = classes
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Per row, the probability of answering each class (columns in ``classes_`` order)."""
        check_is_fitted(self)
        groups = self._groups(x)
        scores = np.asarray(self.estimator.predict_proba(x), dtype=np.float64)[:, 1]
        positive = (scores > 0.5).astype(np.float64)  # unseen groups: the model's own decision
        for group, rule in self.thresholds_.items():
            mask = groups == group
            positive[mask] = _chance(rule, scores[mask])
        return np.column_stack([1.0 - positive, positive])

    def predict(self, x: pd.DataFrame) -> Array:
        """Each row's class: ``classes_[1]`` with the probability of :meth:`predict_proba`."""
        positive = self.predict_proba(x)[:, 1]
        read = [*getattr(self.estimator, "feature_names_in_", []), *self.sensitive]
        columns = list(dict.fromkeys(c for c in read if c in x.columns)) or list(x.columns)
        draws = _row_uniforms(x[columns], self.seed)
        chosen: Array = np.where(draws < positive, *self.classes_[::-1])
        return chosen


def _rule(interpolation: Any) -> dict[str, Any]:
    """One group's randomised threshold from fairlearn as plain numbers (a model file can
    hold them): with probability ``p0`` apply ``operation0``, else ``operation1``; then, with
    probability ``p_ignore``, answer ``constant`` instead."""
    return {
        "p0": float(interpolation.p0),
        "operation0": [
            interpolation.operation0.operator,
            float(interpolation.operation0.threshold),
        ],
        "p1": float(interpolation.p1),
        "operation1": [
            interpolation.operation1.operator,
            float(interpolation.operation1.threshold),
        ],
        "p_ignore": float(interpolation.get("p_ignore", 0.0)),
        "constant": float(interpolation.get("prediction_constant", 0.0)),
    }


def _chance(rule: Mapping[str, Any], scores: Array) -> Array:
    """The probability of answering positive under one group's rule (see :func:`_rule`)."""

    def apply(operation: Sequence[Any]) -> Array:
        operator, threshold = operation
        above: Array = scores > threshold if operator == ">" else scores < threshold
        return above.astype(np.float64)

    chance = rule["p0"] * apply(rule["operation0"]) + rule["p1"] * apply(rule["operation1"])
    p_ignore, constant = float(rule["p_ignore"]), float(rule["constant"])
    mixed: Array = (1.0 - p_ignore) * chance + p_ignore * constant
    return mixed


def _row_uniforms(x: pd.DataFrame, seed: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A number in [0, 1) per row, a function of the row's values and ``seed`` only."""
    import pandas as pd

    hashed = pd.util.hash_pandas_object(x, index=False).to_numpy(dtype=np.uint64)
    z = hashed + np.uint64(seed * 0x9E3779B97F4A7C15 % 2**64)  # then the splitmix64 finaliser
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    uniforms: np.ndarray[Any, np.dtype[np.float64]] = (z >> np.uint64(11)) / float(1 << 53)
    return uniforms


def mitigate(
    pipeline: Any,
    x: pd.DataFrame,
    y: Any,
    sensitive: list[str],
    *,
    constraint: Constraint = "demographic_parity",
    seed: int = 0,
) -> FairThresholdClassifier:
    """A new candidate: ``pipeline`` with per-group thresholds fitted on rows ``x``, ``y``.

    ``constraint`` is ``demographic_parity`` (equal selection rates), ``equalized_odds``
    (equal TPR and FPR) or ``true_positive_rate_parity`` (equal opportunity). Pass validation
    rows; evaluate the result on test rows like any other candidate.

        fair = mitigate(result.pipeline, x_val, y_val, ["sex"])
        fair.predict(x_test)
    """
    wrapper = FairThresholdClassifier(
        pipeline, sensitive=list(sensitive), constraint=constraint, seed=seed
    )
    return wrapper.fit(x, y)
