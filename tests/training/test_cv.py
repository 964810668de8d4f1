"""Cross-validation on both metadata backends: folds as child runs, mean and std per metric."""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from modelcycle.data import SplitSpec
from modelcycle.errors import InvalidValueError
from modelcycle.models import Task
from modelcycle.tracking import Client
from modelcycle.training import CVSpec, TrainData, TrainSpec, cross_validate, make_folds
from modelcycle.training._cv import FoldJob
from modelcycle.types import RunStatus


def test_each_fold_is_a_child_run_and_mean_and_std_equal_numpy_over_them(
    client: Client, cancer_data: TrainData
) -> None:
    spec = TrainSpec(cv=CVSpec(folds=4, method="stratified"))
    result = cross_validate(client, "linear", {"C": 0.3}, cancer_data, spec, experiment="cv")
    children = client.runs.list(parent=result.run_id, order_by=["name asc"])
    assert [run.name for run in children] == ["fold-0", "fold-1", "fold-2", "fold-3"]
    assert all(run.status is RunStatus.FINISHED for run in children)
    parent = client.runs.show(result.run_id)
    for metric in ("roc_auc", "log_loss", "accuracy", "f1"):
        values = np.array([run.metrics[f"val_{metric}"] for run in children])
        assert parent.metrics[f"cv_{metric}_mean"] == pytest.approx(np.mean(values))
        assert parent.metrics[f"cv_{metric}_std"] == pytest.approx(np.std(values))
    assert result.value == pytest.approx(parent.metrics["cv_roc_auc_mean"])
    assert parent.params["cv_folds"] == "4" and parent.params["cv_method"] == "stratified"
    assert sum(fold.validation_rows for fold in result.folds) == len(cancer_data.splits.train)


def test_stratified_folds_keep_the_class_shares(wine_data: TrainData) -> None:
    labels = wine_data.frame["target"].iloc[wine_data.splits.train].to_numpy()
    shares = np.bincount(labels) / len(labels)
    folds = make_folds(wine_data, CVSpec(folds=3, method="stratified"), Task.MULTICLASS, 0)
    for _, check in folds:
        assert np.abs(np.bincount(labels[check]) / len(check) - shares).max() < 0.05


def test_group_folds_never_split_an_island(client: Client, penguins: pd.DataFrame) -> None:
    columns = ["island", "bill_length_mm", "flipper_length_mm", "body_mass_g", "sex"]
    frame = penguins[columns].dropna(subset=["sex"]).reset_index(drop=True)
    data = TrainData.from_frame(frame, "sex", SplitSpec(seed=3))
    cv = CVSpec(folds=3, method="group", group="island")
    islands = frame["island"].iloc[data.splits.train].to_numpy()
    for fit, check in make_folds(data, cv, Task.MULTICLASS, 3):
        assert not set(islands[fit]) & set(islands[check])
        assert len(set(islands[check])) == 1  # three islands, three folds
    result = cross_validate(client, "linear", {}, data, TrainSpec(cv=cv))
    assert len(result.folds) == 3 and result.objective == "roc_auc"
    assert all(0.5 < fold.metrics["roc_auc"] <= 1.0 for fold in result.folds)


def test_without_cv_in_the_spec_the_folds_of_the_data_split_are_used(
    client: Client, diabetes: pd.DataFrame
) -> None:
    data = TrainData.from_frame(diabetes, "target", SplitSpec(folds=3, seed=5))
    result = cross_validate(client, "linear", {"alpha": 1.0}, data, TrainSpec())
    assert [len(f.metrics) for f in result.folds] == [3, 3, 3]
    assert set(result.mean) == {"rmse", "mae", "r2"}
    assert client.runs.show(result.run_id).params["cv_method"] == "split:random"


def test_folds_run_through_an_executor_shaped_map_with_the_same_results(
    client: Client, cancer_data: TrainData
) -> None:
    spec = TrainSpec(cv=CVSpec(folds=3, method="stratified"))
    sequential = cross_validate(client, "linear", {}, cancer_data, spec)
    with ThreadPoolExecutor(max_workers=3) as pool:
        threaded = cross_validate(client, "linear", {}, cancer_data, spec, map_fn=pool.map)
    assert threaded.mean == sequential.mean and threaded.std == sequential.std
    assert len(client.runs.list(parent=threaded.run_id)) == 3


@pytest.mark.slow
def test_folds_run_in_other_processes_open_their_own_client(
    client: Client, cancer_data: TrainData
) -> None:
    spec = TrainSpec(cv=CVSpec(folds=2, method="stratified"))
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as pool:
        result = cross_validate(client, "linear", {}, cancer_data, spec, map_fn=pool.map)
    children = client.runs.list(parent=result.run_id)
    assert len(children) == 2 and all(run.status is RunStatus.FINISHED for run in children)
    expected = cross_validate(client, "linear", {}, cancer_data, spec)
    assert result.mean == pytest.approx(expected.mean)


def test_a_fold_job_pickles_without_its_client(client: Client, cancer_data: TrainData) -> None:
    urls = {"store_url": client.store_url, "artifacts_url": client.artifacts_url}
    job = FoldJob(0, "linear", {}, cancer_data, TrainSpec(), "r", "default", **urls, client=client)
    copy = pickle.loads(pickle.dumps(job))
    assert copy.client is None and copy.store_url == client.store_url
    assert copy.data.frame.equals(cancer_data.frame)


def test_cv_settings_that_cannot_apply_are_refused_before_any_run(
    client: Client, cancer_data: TrainData, diabetes: pd.DataFrame
) -> None:
    regression = TrainData.from_frame(diabetes, "target", SplitSpec())
    with pytest.raises(InvalidValueError, match=r"train\.cv\.method.*classification"):
        cross_validate(client, "linear", {}, regression, TrainSpec(cv=CVSpec(method="stratified")))
    with pytest.raises(InvalidValueError, match=r"train\.cv\.group.*no such column"):
        cv = CVSpec(method="group", group="hospital")
        cross_validate(client, "linear", {}, cancer_data, TrainSpec(cv=cv))
    with pytest.raises(InvalidValueError, match=r"train\.cv.*give train\.cv, or folds"):
        cross_validate(client, "linear", {}, cancer_data, TrainSpec())
    assert client.runs.list() == []
