"""Prediction drift on a real model's outputs, and multivariate drift with a domain classifier."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from modelcycle.errors import InvalidValueError
from modelcycle.monitoring import DriftDetector, prediction_drift, prediction_table


@pytest.fixture(scope="module")
def classifier(cancer: pa.Table) -> object:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    target = load_breast_cancer().target
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
        cancer.to_pandas(), target
    )


def test_prediction_table_has_labels_and_scores(classifier: object, cancer: pa.Table) -> None:
    table = prediction_table(classifier, cancer)
    assert table.column_names == ["prediction", "score_1"]
    assert set(table.column("prediction").to_pylist()) == {"0", "1"}


def test_prediction_drift_follows_shifted_inputs(
    classifier: object, cancer: pa.Table, seed: int
) -> None:
    order = np.random.default_rng(seed).permutation(cancer.num_rows)  # the file is not shuffled
    reference, current = cancer.take(order[:300]), cancer.take(order[300:])
    calm = prediction_drift(classifier, reference, current)
    assert calm.drifted == []
    bigger = current
    for name in ("worst radius", "worst perimeter", "worst area", "worst concave points"):
        scaled = pa.array(current.column(name).to_numpy() * 1.5)  # larger, more malignant-looking
        bigger = bigger.set_column(current.schema.get_field_index(name), name, scaled)
    moved = prediction_drift(classifier, reference, bigger)
    assert set(moved.drifted) == {"prediction", "score_1"}
    assert moved["prediction"].kind == "categorical"


def test_prediction_drift_refuses_an_object_without_predict(cancer: pa.Table) -> None:
    with pytest.raises(InvalidValueError, match="has no predict method"):
        prediction_table(object(), cancer)


def test_domain_classifier_sees_a_change_the_columns_hide(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, 3_000)
    reference = pa.table({"x": x, "y": rng.normal(0, 1, 3_000)})
    x2 = rng.normal(0, 1, 3_000)
    current = pa.table({"x": x2, "y": x2 + rng.normal(0, 0.05, 3_000)})  # same marginals
    detector = DriftDetector(multivariate=True, sample_rows=2_000, seed=seed).fit(reference)
    snapshot = detector.score(current)
    assert snapshot.drifted == []
    assert snapshot.multivariate is not None and snapshot.multivariate.drifted
    assert snapshot.multivariate.roc_auc > 0.8
    calm = detector.score(pa.table({"x": rng.normal(0, 1, 3_000), "y": rng.normal(0, 1, 3_000)}))
    assert calm.multivariate is not None and not calm.multivariate.drifted
    stored = DriftDetector.from_dict(detector.to_dict())
    assert stored.reference_sample_ is not None
    assert stored.reference_sample_.table().num_rows == 2_000
