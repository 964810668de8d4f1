"""Tracked training of one candidate, on both metadata backends.

What users rely on: every iteration's metrics are a series in the run, early stopping ends
the fit, class weights change it, the same seed gives the same metrics, and the preprocessor
learns from the training rows only.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelcycle.data import SplitSpec
from modelcycle.errors import InvalidValueError
from modelcycle.models import ModelFamily, Task
from modelcycle.tracking import Client
from modelcycle.training import TrainData, TrainSpec, train_candidate
from modelcycle.types import RunStatus


def test_every_iteration_is_logged_as_a_series_with_the_iteration_as_step(
    client: Client, cancer_data: TrainData, epochs_family: ModelFamily
) -> None:
    spec = TrainSpec(early_stopping_rounds=None)
    result = train_candidate(client, epochs_family, {"epochs": 12}, cancer_data, spec)
    for key in ("train_loss", "val_log_loss", "val_accuracy"):
        points = client.runs.history(result.run_id, key)
        assert [p.step for p in points][:12] == list(range(12)), key
    losses = [p.value for p in client.runs.history(result.run_id, "train_loss")]
    assert losses[-1] < losses[0]  # it learned
    run = client.runs.show(result.run_id)
    assert run.metrics["iterations"] == 12 == result.iterations
    assert run.metrics["val_roc_auc"] == pytest.approx(result.metrics["roc_auc"])
    assert run.params["epochs"] == "12" and run.tags["family"] == "test_epochs_sgd"
    assert run.status is RunStatus.FINISHED


def test_lightgbm_logs_validation_every_round_and_the_training_loss_every_kth(
    client: Client, cancer_data: TrainData
) -> None:
    def trained(every: int | None) -> tuple[str, dict[str, float]]:
        spec = TrainSpec(early_stopping_rounds=None, train_loss_every=every)
        result = train_candidate(client, "lightgbm", {"n_estimators": 12}, cancer_data, spec)
        return result.run_id, result.metrics

    def steps(run_id: str, key: str) -> list[int]:
        return [p.step for p in client.runs.history(run_id, key)]

    sparse, sparse_metrics = trained(5)
    assert steps(sparse, "val_loss") == list(range(1, 13))
    assert steps(sparse, "train_loss") == [1, 5, 10]
    dense, dense_metrics = trained(1)
    assert steps(dense, "train_loss") == list(range(1, 13))
    losses = {p.step: p.value for p in client.runs.history(dense, "train_loss")}
    assert [p.value for p in client.runs.history(sparse, "train_loss")] == [
        losses[1],
        losses[5],
        losses[10],
    ]
    none, none_metrics = trained(None)
    assert steps(none, "train_loss") == []
    assert sparse_metrics == dense_metrics == none_metrics  # measuring never changes the model
    assert TrainSpec().train_loss_every == 10


def test_early_stopping_stops_the_fit_and_records_the_best_iteration(
    client: Client, wine_data: TrainData, epochs_family: ModelFamily
) -> None:
    params = {"epochs": 300, "eta0": 0.5}  # a large step: the validation loss soon stalls
    result = train_candidate(
        client, epochs_family, params, wine_data, TrainSpec(early_stopping_rounds=3)
    )
    series = [p.value for p in client.runs.history(result.run_id, "val_log_loss")]
    iterations = series[: result.iterations]
    assert result.iterations < 300
    assert result.best_iteration == int(np.argmin(iterations))
    assert result.iterations == result.best_iteration + 3 + 1  # three rounds without progress
    assert client.runs.show(result.run_id).metrics["best_iteration"] == result.best_iteration


def test_the_same_seed_gives_the_same_metrics_and_another_seed_other_ones(
    client: Client, wine_data: TrainData, epochs_family: ModelFamily
) -> None:
    def metrics(seed: int) -> dict[str, float]:
        spec = TrainSpec(seed=seed, early_stopping_rounds=None)
        return train_candidate(client, epochs_family, {"epochs": 5}, wine_data, spec).metrics

    first, again, other = metrics(3), metrics(3), metrics(4)
    assert first == again
    assert first["log_loss"] != other["log_loss"]


def test_class_weights_shift_the_fit_towards_the_minority_class(
    client: Client, breast_cancer: pd.DataFrame, seed: int
) -> None:
    malignant = breast_cancer.assign(target=1 - breast_cancer["target"])  # 1 = malignant
    rare = pd.concat([malignant[malignant.target == 0], malignant[malignant.target == 1][:40]])
    data = TrainData.from_frame(rare, "target", SplitSpec(method="stratified", seed=seed))
    params = {"C": 0.01}  # strong regularisation: the class prior weighs on the fit
    plain = train_candidate(client, "linear", params, data, TrainSpec())
    weighted = train_candidate(client, "linear", params, data, TrainSpec(class_weights=True))
    x_val, _ = data.rows("validation")
    assert weighted.pipeline[-1].intercept_[0] > plain.pipeline[-1].intercept_[0] + 0.5
    flagged = {
        "plain": int(plain.pipeline.predict(x_val).sum()),
        "weighted": int(weighted.pipeline.predict(x_val).sum()),
    }
    assert flagged["weighted"] > flagged["plain"]
    assert client.runs.show(weighted.run_id).params["class_weights"] == "True"


def test_the_preprocessor_learns_from_the_training_rows_only(
    client: Client, diabetes: pd.DataFrame, seed: int
) -> None:
    data = TrainData.from_frame(diabetes, "target", SplitSpec(seed=seed))
    result = train_candidate(client, "linear", {"alpha": 0.1}, data, TrainSpec())
    assert result.task is Task.REGRESSION and result.objective == "rmse"
    scaler = result.pipeline["preprocess"].named_transformers_["numeric_standard"]["scale"]
    train_means = diabetes.drop(columns="target").iloc[data.splits.train].mean()
    np.testing.assert_allclose(scaler.mean_, train_means.to_numpy())
    x_test = diabetes.drop(columns="target").iloc[data.splits.test]
    assert result.pipeline.predict(x_test).shape == (len(x_test),)  # raw rows in, predictions out
    path = client.runs.download(result.run_id, "preprocessing_plan.json", "plan.json")
    plan = json.loads(path.read_text())
    assert plan["target"] == "drop: the target" and plan["bmi"] == "numeric_standard"


def test_a_candidate_trains_into_a_child_run_or_into_a_given_run(
    client: Client, cancer_data: TrainData
) -> None:
    with client.start_run("selection", name="candidates") as parent:
        child = train_candidate(client, "linear", {}, cancer_data, TrainSpec(), parent=parent)
        inside = train_candidate(parent, "linear", {"C": 2.0}, cancer_data, TrainSpec())
    assert inside.run_id == parent.run_id
    shown = client.runs.show(child.run_id)
    assert shown.parent_run_id == parent.run_id and shown.experiment_name == "selection"
    assert client.runs.show(parent.run_id).params["C"] == "2.0"


def test_a_failing_fit_ends_its_run_failed_with_the_error(
    client: Client, cancer_data: TrainData
) -> None:
    with pytest.raises(
        InvalidValueError, match=r"\[.bogus.\] for hyperparameters of linear: not accepted"
    ):
        train_candidate(client, "linear", {"bogus": 1}, cancer_data, TrainSpec(), experiment="x")
    (run,) = client.runs.list(experiment="x")
    assert run.status is RunStatus.FAILED and "bogus" in (run.error or "")


def test_training_refuses_missing_validation_rows_and_unsuited_settings(
    client: Client,
    breast_cancer: pd.DataFrame,
    diabetes: pd.DataFrame,
    epochs_family: ModelFamily,
    seed: int,
) -> None:
    no_validation = SplitSpec(train=0.8, validation=0.0, test=0.2, seed=seed)
    data = TrainData.from_frame(breast_cancer, "target", no_validation)
    with pytest.raises(InvalidValueError, match=r"split\.validation.*give a fraction > 0"):
        train_candidate(client, "linear", {}, data, TrainSpec())
    regression = TrainData.from_frame(diabetes, "target", SplitSpec(seed=seed))
    with pytest.raises(InvalidValueError, match=r"train\.class_weights.*classification"):
        train_candidate(client, "linear", {}, regression, TrainSpec(class_weights=True))
    with pytest.raises(InvalidValueError, match=r"test_epochs_sgd.*regression unsupported"):
        train_candidate(client, epochs_family, {}, regression, TrainSpec())
    assert client.runs.list() == []


def test_a_progress_bar_can_be_shown(
    client: Client, wine_data: TrainData, epochs_family: ModelFamily
) -> None:
    result = train_candidate(
        client, epochs_family, {"epochs": 3}, wine_data, TrainSpec(), progress=True
    )
    assert result.iterations == 3 and result.to_dict()["task"] == "multiclass"
