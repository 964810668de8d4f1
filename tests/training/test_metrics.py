"""Validation metrics by task: the same numbers as scikit-learn, the objective and its direction."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

from modelcycle.errors import InvalidValueError
from modelcycle.models import Task, get_family
from modelcycle.training import METRICS, infer_task, metric_names, objective, score
from modelcycle.training._metrics import iteration_value


def _xy(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return frame.drop(columns=["target"]), frame["target"]


def test_binary_metrics_equal_scikit_learn_with_the_second_class_positive(
    breast_cancer: pd.DataFrame,
) -> None:
    x, y = _xy(breast_cancer)
    model = LogisticRegression(max_iter=5000).fit(x[:400], y[:400])
    got = score(Task.BINARY, model, x[400:], y[400:])
    proba = model.predict_proba(x[400:])
    assert list(got) == ["roc_auc", "log_loss", "accuracy", "f1"]
    assert got["roc_auc"] == pytest.approx(roc_auc_score(y[400:], proba[:, 1]))
    assert got["log_loss"] == pytest.approx(log_loss(y[400:], proba))
    assert got["f1"] == pytest.approx(f1_score(y[400:], model.predict(x[400:]), pos_label=1))


def test_multiclass_metrics_use_macro_f1_and_every_class_in_log_loss(wine: pd.DataFrame) -> None:
    x, y = _xy(wine)
    model = LogisticRegression(max_iter=5000).fit(x, y)
    only_two_classes = y < 2  # validation rows may miss a class; log loss still knows all three
    got = score(Task.MULTICLASS, model, x[only_two_classes], y[only_two_classes])
    pred = model.predict(x[only_two_classes])
    proba = model.predict_proba(x[only_two_classes])
    assert got["f1_macro"] == pytest.approx(f1_score(y[only_two_classes], pred, average="macro"))
    assert got["log_loss"] == pytest.approx(log_loss(y[only_two_classes], proba, labels=[0, 1, 2]))


def test_regression_metrics_equal_scikit_learn(diabetes: pd.DataFrame) -> None:
    x, y = _xy(diabetes)
    model = LinearRegression().fit(x[:300], y[:300])
    got = score(Task.REGRESSION, model, x[300:], y[300:])
    pred = model.predict(x[300:])
    assert got["rmse"] == pytest.approx(root_mean_squared_error(y[300:], pred))
    assert got["r2"] == pytest.approx(r2_score(y[300:], pred))
    assert got["mae"] == pytest.approx(float(np.mean(np.abs(y[300:] - pred))))


@pytest.mark.parametrize("task", [Task.BINARY, Task.MULTICLASS])
def test_labels_taken_from_the_probabilities_score_as_predict_does(
    task: Task, breast_cancer: pd.DataFrame, wine: pd.DataFrame
) -> None:
    x, y = _xy(breast_cancer if task is Task.BINARY else wine)
    family = get_family("lightgbm")
    model = family.fit(family.build(task, {"n_estimators": 20}, seed=0), x[::2], y[::2])
    held_x, held_y = x[1::2], y[1::2]
    assert family.labels_from_proba
    once = score(task, model, held_x, held_y, labels_from_proba=True)
    assert once == score(task, model, held_x, held_y)
    assert once["accuracy"] == pytest.approx(accuracy_score(held_y, model.predict(held_x)))


def test_roc_auc_on_a_single_class_is_nan_not_a_warning(breast_cancer: pd.DataFrame) -> None:
    x, y = _xy(breast_cancer)
    model = LogisticRegression(max_iter=5000).fit(x, y)
    one_class = y == 1
    assert math.isnan(score(Task.BINARY, model, x[one_class], y[one_class])["roc_auc"])


def test_each_task_has_an_objective_with_a_direction() -> None:
    assert (objective(Task.BINARY).name, objective(Task.BINARY).direction) == (
        "roc_auc",
        "maximize",
    )
    assert objective(Task.MULTICLASS).name == "log_loss"
    assert objective(Task.REGRESSION).direction == "minimize"
    assert objective(Task.MULTICLASS, "accuracy").direction == "maximize"
    assert metric_names(Task.REGRESSION) == ["rmse", "mae", "r2"]
    assert {m.direction for m in METRICS.values()} == {"maximize", "minimize"}


def test_a_metric_of_another_task_is_refused_naming_the_choices() -> None:
    with pytest.raises(
        InvalidValueError,
        match=r"'rmse' for train\.metric: not a binary metric; choose one of roc_auc",
    ):
        objective(Task.BINARY, "rmse")


def test_the_task_is_inferred_from_the_target(
    breast_cancer: pd.DataFrame, wine: pd.DataFrame, diabetes: pd.DataFrame
) -> None:
    assert infer_task(breast_cancer["target"]) is Task.BINARY
    assert infer_task(wine["target"]) is Task.MULTICLASS
    assert infer_task(diabetes["target"]) is Task.REGRESSION
    assert infer_task(pd.Series(["yes", "no", "yes"])) is Task.BINARY
    with pytest.raises(InvalidValueError, match="at least two distinct values"):
        infer_task(pd.Series([1, 1, 1]))


def test_iteration_values_prefer_the_objective_and_else_flip_a_loss_into_its_direction() -> None:
    auc = objective(Task.BINARY)
    assert iteration_value({"val_loss": 0.3, "val_roc_auc": 0.9}, auc) == 0.9
    assert iteration_value({"train_loss": 0.2, "val_log_loss": 0.3}, auc) == -0.3
    assert iteration_value({"val_loss": 0.4}, objective(Task.REGRESSION)) == 0.4
    assert iteration_value({"train_loss": 0.2}, auc) is None
