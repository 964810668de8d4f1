"""Uncertainty: bootstrap intervals, fold summaries and paired comparisons on real models."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from scipy.stats import binomtest
from sklearn import metrics as sk
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import cross_val_predict, cross_validate, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelcycle.errors import InvalidValueError
from modelcycle.evaluation._metrics import classification_metrics, regression_metrics
from modelcycle.evaluation._uncertainty import (
    METRICS_BY_TASK,
    bootstrap,
    bootstrap_ci,
    cv_summary,
    paired_comparison,
)
from modelcycle.models import Task

Split = tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]
Fn = Callable[[np.ndarray], float]


def _split(frame: pd.DataFrame, stratify: bool) -> Split:
    x, y = frame.drop(columns=["target"]), frame["target"]
    x_fit, x_test, y_fit, y_test = train_test_split(
        x, y, test_size=0.4, random_state=7, stratify=y if stratify else None
    )
    return x_fit, x_test, y_fit, y_test


@pytest.fixture(scope="module")
def cancer() -> Split:
    return _split(load_breast_cancer(as_frame=True).frame, stratify=True)


@pytest.fixture(scope="module")
def cancer_models(cancer: Split) -> dict[str, Any]:
    """Three classifiers of breast cancer: a good linear one, LightGBM and a majority guess."""
    x, _, y, _ = cancer
    return {
        "linear": make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y),
        "lightgbm": LGBMClassifier(n_estimators=40, verbose=-1, random_state=0).fit(x, y),
        "dummy": DummyClassifier(strategy="prior").fit(x, y),
    }


def _classification_fns(y: np.ndarray, pred: np.ndarray, proba: np.ndarray) -> dict[str, Fn]:
    """The headline metrics of a resample, straight from scikit-learn (the reference)."""
    classes = np.unique(y)
    onehot = (y[:, None] == classes[None, :]).astype(float)

    def macro_ap(i: np.ndarray) -> float:
        return float(
            np.mean([sk.average_precision_score(onehot[i, c], proba[i, c]) for c in classes])
        )

    fns: dict[str, Fn] = {
        "accuracy": lambda i: sk.accuracy_score(y[i], pred[i]),
        "balanced_accuracy": lambda i: sk.balanced_accuracy_score(y[i], pred[i]),
        "f1_macro": lambda i: sk.f1_score(y[i], pred[i], average="macro"),
        "log_loss": lambda i: sk.log_loss(y[i], proba[i], labels=classes),
    }
    if len(classes) == 2:
        return fns | {
            "f1": lambda i: sk.f1_score(y[i], pred[i]),
            "roc_auc": lambda i: sk.roc_auc_score(y[i], proba[i, 1]),
            "pr_auc": lambda i: sk.average_precision_score(y[i], proba[i, 1]),
            "brier": lambda i: sk.brier_score_loss(y[i], proba[i, 1]),
        }
    return fns | {
        "roc_auc": lambda i: sk.roc_auc_score(y[i], proba[i], multi_class="ovr"),
        "pr_auc": macro_ap,
        "brier": lambda i: sk.brier_score_loss(y[i], proba[i], labels=classes),
    }


def _same_intervals(fast: dict[str, Any], reference: dict[str, Any]) -> None:
    assert fast.keys() == reference.keys()
    for name, interval in fast.items():
        for key in ("value", "low", "high", "std"):
            assert interval[key] == pytest.approx(reference[name][key], rel=1e-9), (name, key)
        assert (interval["resamples"], interval["dropped"]) == (
            reference[name]["resamples"],
            reference[name]["dropped"],
        )


def test_binary_intervals_equal_scikit_learn_on_the_same_resamples(
    cancer: Split, cancer_models: dict[str, Any]
) -> None:
    _, x, _, y = cancer
    model = cancer_models["linear"]
    truth, pred, proba = y.to_numpy(), model.predict(x), model.predict_proba(x)
    names = list(METRICS_BY_TASK["binary"])
    fast = bootstrap_ci(truth, pred, proba, model.classes_, "binary", names, resamples=60, seed=5)
    reference = bootstrap(_classification_fns(truth, pred, proba), len(truth), resamples=60, seed=5)
    _same_intervals(fast, {name: reference[name] for name in names})
    point = classification_metrics(truth, pred, proba, model.classes_)
    for name in names:
        assert fast[name]["value"] == pytest.approx(point[name])
        assert fast[name]["low"] <= point[name] <= fast[name]["high"]
    assert json.loads(json.dumps(fast, allow_nan=False)) == fast


def test_multiclass_intervals_equal_scikit_learn_on_the_same_resamples() -> None:
    x_fit, x, y_fit, y = _split(load_wine(as_frame=True).frame, stratify=True)
    model = LGBMClassifier(n_estimators=30, verbose=-1, random_state=0).fit(x_fit, y_fit)
    truth, pred, proba = (
        y.to_numpy(),
        np.asarray(model.predict(x)),
        np.asarray(model.predict_proba(x)),
    )
    names = list(METRICS_BY_TASK["multiclass"])
    fast = bootstrap_ci(truth, pred, proba, model.classes_, Task.MULTICLASS, names, resamples=40)
    reference = bootstrap(_classification_fns(truth, pred, proba), len(truth), resamples=40)
    _same_intervals(fast, {name: reference[name] for name in names})
    point = classification_metrics(truth, pred, proba, model.classes_)
    assert {name: fast[name]["value"] for name in names} == pytest.approx(
        {name: point[name] for name in names}
    )


def test_regression_intervals_equal_scikit_learn_on_the_same_resamples() -> None:
    x_fit, x, y_fit, y = _split(load_diabetes(as_frame=True).frame, stratify=False)
    truth, pred = y.to_numpy(), Ridge(alpha=0.1).fit(x_fit, y_fit).predict(x)
    fns: dict[str, Fn] = {
        "rmse": lambda i: sk.root_mean_squared_error(truth[i], pred[i]),
        "mae": lambda i: sk.mean_absolute_error(truth[i], pred[i]),
        "r2": lambda i: sk.r2_score(truth[i], pred[i]),
        "mape": lambda i: sk.mean_absolute_percentage_error(truth[i], pred[i]),
    }
    names = list(fns)
    fast = bootstrap_ci(truth, pred, None, None, "regression", names, resamples=80, seed=2)
    _same_intervals(fast, bootstrap(fns, len(truth), resamples=80, seed=2))
    point = regression_metrics(truth, pred)
    assert {n: fast[n]["value"] for n in names} == pytest.approx({n: point[n] for n in names})


def test_intervals_narrow_when_rows_grow(cancer_models: dict[str, Any]) -> None:
    x, y = load_breast_cancer(return_X_y=True)
    proba = cross_val_predict(cancer_models["linear"], x, y, cv=5, method="predict_proba")
    pred = proba.argmax(axis=1)

    def width(rows: int, name: str) -> float:
        got = bootstrap_ci(y[:rows], pred[:rows], proba[:rows], [0, 1], "binary", [name])
        return float(got[name]["high"] - got[name]["low"])

    for name in ("accuracy", "log_loss", "roc_auc"):
        assert width(len(y), name) < width(120, name)


def test_intervals_are_reproducible_from_the_seed(
    cancer: Split, cancer_models: dict[str, Any]
) -> None:
    _, x, _, y = cancer
    model = cancer_models["lightgbm"]
    args = (y, model.predict(x), model.predict_proba(x), model.classes_, "binary")
    names = ["accuracy", "roc_auc", "brier"]
    first = bootstrap_ci(*args, names, resamples=200, seed=11)
    assert bootstrap_ci(*args, names, resamples=200, seed=11) == first
    other = bootstrap_ci(*args, names, resamples=200, seed=12)
    assert other["roc_auc"]["value"] == first["roc_auc"]["value"]
    assert (other["roc_auc"]["low"], other["roc_auc"]["high"]) != (
        first["roc_auc"]["low"],
        first["roc_auc"]["high"],
    )
    wider = bootstrap_ci(*args, ["accuracy"], resamples=200, seed=11, confidence=0.99)
    assert wider["accuracy"]["low"] <= first["accuracy"]["low"]
    assert wider["accuracy"]["high"] >= first["accuracy"]["high"]


def test_resamples_where_a_metric_is_undefined_are_dropped_and_counted(
    cancer: Split, cancer_models: dict[str, Any]
) -> None:
    _, x, _, y = cancer
    rows = np.r_[np.flatnonzero(y.to_numpy() == 0)[:14], np.flatnonzero(y.to_numpy() == 1)[:1]]
    model = cancer_models["linear"]
    truth, proba = y.to_numpy()[rows], model.predict_proba(x.iloc[rows])
    pred = model.predict(x.iloc[rows])
    names = ["roc_auc", "accuracy"]
    got = bootstrap_ci(truth, pred, proba, model.classes_, "binary", names, resamples=300)
    assert got["roc_auc"]["dropped"] > 0  # resamples without the one positive row
    assert got["roc_auc"]["resamples"] + got["roc_auc"]["dropped"] == 300
    assert got["accuracy"]["dropped"] == 0

    def roc_auc(i: np.ndarray) -> float:
        one_class = len(np.unique(truth[i])) < 2
        return math.nan if one_class else float(sk.roc_auc_score(truth[i], proba[i, 1]))

    reference = bootstrap({"roc_auc": roc_auc}, len(truth), resamples=300)
    assert got["roc_auc"]["dropped"] == reference["roc_auc"]["dropped"]


def test_bootstrap_refuses_metrics_it_cannot_compute(cancer: Split) -> None:
    _, _, _, y = cancer
    with pytest.raises(InvalidValueError, match="'rmse' for metric: not a binary metric"):
        bootstrap_ci(y, y, None, [0, 1], "binary", ["rmse"])
    with pytest.raises(InvalidValueError, match="roc_auc needs predicted probabilities"):
        bootstrap_ci(y, y, None, [0, 1], "binary", ["roc_auc"])
    with pytest.raises(InvalidValueError, match="for task: choose one of binary"):
        bootstrap_ci(y, y, None, [0, 1], "ranking", ["accuracy"])
    with pytest.raises(InvalidValueError, match="confidence: must be between 0 and 1"):
        bootstrap_ci(y, y, None, [0, 1], "binary", ["accuracy"], confidence=95)


def test_cv_summary_has_the_population_std_training_logs() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression())
    scores = cross_validate(model, x, y, cv=5, scoring=["roc_auc", "accuracy"])
    folds = [
        {"roc_auc": scores["test_roc_auc"][i], "accuracy": scores["test_accuracy"][i]}
        for i in range(5)
    ]
    got = cv_summary(folds)
    assert list(got) == ["roc_auc", "accuracy"]
    assert got["roc_auc"]["mean"] == pytest.approx(np.mean(scores["test_roc_auc"]))
    assert got["roc_auc"]["std"] == pytest.approx(np.std(scores["test_roc_auc"], ddof=0))
    assert got["accuracy"]["n"] == 5
    folds[1]["roc_auc"] = math.nan  # a fold where the metric was undefined
    kept = np.delete(scores["test_roc_auc"], 1)
    assert cv_summary(folds)["roc_auc"] == pytest.approx(
        {"mean": np.mean(kept), "std": np.std(kept), "n": 4}
    )
    assert cv_summary([{"r2": None}]) == {"r2": {"mean": None, "std": None, "n": 0}}


def test_a_clearly_better_model_wins_by_the_exact_mcnemar_test(
    cancer: Split, cancer_models: dict[str, Any]
) -> None:
    _, x, _, y = cancer
    dummy, good = cancer_models["dummy"].predict(x), cancer_models["lightgbm"].predict(x)
    got = paired_comparison(y, dummy, good, task="binary", metric="accuracy")
    assert got["better"] == "b" and got["test"] == "mcnemar_exact"
    assert got["difference"] == pytest.approx(
        sk.accuracy_score(y, good) - sk.accuracy_score(y, dummy)
    )
    assert 0 < got["low"] <= got["difference"] <= got["high"]
    only_good = int(np.sum((good == y) & (dummy != y)))
    discordant = only_good + int(np.sum((good != y) & (dummy == y)))
    assert got["p_value"] == pytest.approx(binomtest(only_good, discordant, 0.5).pvalue)
    assert json.loads(json.dumps(got, allow_nan=False)) == got


def test_a_lower_is_better_metric_is_sign_adjusted(
    cancer: Split, cancer_models: dict[str, Any]
) -> None:
    _, x, _, y = cancer
    good, dummy = cancer_models["lightgbm"], cancer_models["dummy"]
    got = paired_comparison(
        y,
        good.predict(x),
        dummy.predict(x),
        task="binary",
        metric="log_loss",
        proba_a=good.predict_proba(x),
        proba_b=dummy.predict_proba(x),
        classes=good.classes_,
    )
    assert got["b"] > got["a"]  # the guess has the higher loss ...
    assert got["difference"] == pytest.approx(got["a"] - got["b"]) and got["difference"] < 0
    assert got["better"] == "a" and got["high"] < 0  # ... so A, the real model, is better
    assert got["test"] == "paired_bootstrap" and got["p_value"] < 0.05


def test_a_model_against_itself_is_neither_better(
    cancer: Split, cancer_models: dict[str, Any]
) -> None:
    _, x, _, y = cancer
    model = cancer_models["linear"]
    pred, proba = model.predict(x), model.predict_proba(x)
    for metric in ("accuracy", "roc_auc"):
        got = paired_comparison(
            y,
            pred,
            pred,
            task="binary",
            metric=metric,
            proba_a=proba,
            proba_b=proba,
            classes=model.classes_,
            resamples=200,
        )
        assert got["better"] == "neither"
        assert (got["difference"], got["low"], got["high"], got["p_value"]) == (0, 0, 0, 1)


def test_regression_comparison_on_rmse() -> None:
    x_fit, x, y_fit, y = _split(load_diabetes(as_frame=True).frame, stratify=False)
    ridge = Ridge(alpha=0.1).fit(x_fit, y_fit).predict(x)
    mean = DummyRegressor().fit(x_fit, y_fit).predict(x)
    got = paired_comparison(y, mean, ridge, task="regression", metric="rmse", seed=3)
    expected = sk.root_mean_squared_error(y, mean) - sk.root_mean_squared_error(y, ridge)
    assert got["difference"] == pytest.approx(expected)
    assert got["better"] == "b" and got["direction"] == "minimize"
