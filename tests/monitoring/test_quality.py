"""Quality per window: evaluation metrics on labelled traffic, degradation only outside the
version's bootstrap interval."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.monitoring.deployed import cancer_split

from modelcycle.errors import InvalidValueError
from modelcycle.monitoring._quality import quality_snapshot, window_metrics


@pytest.fixture(scope="module")
def scored() -> tuple[pd.DataFrame, dict[str, Any]]:
    """Held-out breast-cancer rows as labelled_frame gives them, and the evaluation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelcycle.evaluation import EvaluationSpec, evaluate

    train, test = cancer_split()
    x, y = train.drop(columns=["target"]), train["target"]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    features = test.drop(columns=["target"])
    spec = EvaluationSpec.model_validate({"bootstrap": {"resamples": 200}})
    evaluation = evaluate(model, features, test["target"], task="binary", spec=spec).to_dict()
    proba = model.predict_proba(features)
    frame = features.assign(
        prediction=model.predict(features),
        proba_0=proba[:, 0],
        proba_1=proba[:, 1],
        label=test["target"],
    )
    return frame, evaluation


def test_traffic_like_the_test_set_is_not_degraded(scored: tuple[pd.DataFrame, Any]) -> None:
    frame, evaluation = scored
    snapshot = quality_snapshot(frame, task="binary", classes=[0, 1], evaluation=evaluation)
    assert snapshot["labelled_rows"] == 169 and snapshot["judged"]
    assert snapshot["degraded"] == []
    accuracy = snapshot["compared"]["accuracy"]
    assert accuracy["window"] == pytest.approx(evaluation["metrics"]["accuracy"])
    assert accuracy["low"] <= accuracy["window"] <= accuracy["high"]


def test_labels_that_disagree_more_degrade_the_headline_metrics(
    scored: tuple[pd.DataFrame, Any], seed: int
) -> None:
    frame, evaluation = scored
    worse = frame.copy()
    flip = np.random.default_rng(seed).random(len(worse)) < 0.25
    worse.loc[flip, "label"] = 1 - worse.loc[flip, "label"]
    snapshot = quality_snapshot(worse, task="binary", classes=[0, 1], evaluation=evaluation)
    assert {"accuracy", "roc_auc"} <= set(snapshot["degraded"])
    assert snapshot["compared"]["accuracy"]["drop"] > 0.1


def test_a_small_window_gets_metrics_but_no_verdict(scored: tuple[pd.DataFrame, Any]) -> None:
    frame, evaluation = scored
    few = frame.iloc[:20].copy()
    few["label"] = 1 - few["label"]
    snapshot = quality_snapshot(few, task="binary", classes=[0, 1], evaluation=evaluation)
    assert snapshot["metrics"]["accuracy"] < 0.2
    assert not snapshot["judged"] and snapshot["degraded"] == []


def test_regression_windows_use_regression_metrics() -> None:
    frame = pd.DataFrame({"label": [1.0, 2.0, 3.0, 4.0], "prediction": [1.0, 2.5, 3.0, 5.0]})
    intervals = {"rmse": {"value": 0.1, "low": 0.05, "high": 0.2}}
    snapshot = quality_snapshot(
        frame, task="regression", classes=None, evaluation={"intervals": intervals}, min_labels=2
    )
    assert snapshot["metrics"]["mae"] == pytest.approx(0.375)
    assert snapshot["degraded"] == ["rmse"]  # rmse 0.56 is above the interval: worse


def test_a_frame_without_labels_is_refused() -> None:
    with pytest.raises(InvalidValueError, match="no label column"):
        window_metrics(pd.DataFrame({"prediction": [1]}), "binary", [0, 1])
