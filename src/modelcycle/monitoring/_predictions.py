"""Prediction drift: the same tests on a model's outputs instead of its inputs.

A shift in what the model answers is often the first visible sign of a shift in its inputs,
and it can be checked before any label arrives. :func:`prediction_table` turns a model's
answers into columns (``prediction``; and ``score_<class>`` per class for a classifier with
``predict_proba``), which a :class:`DriftDetector` compares like any other data: class labels
as categories, regression outputs and class scores as numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from modelcycle.errors import invalid_value
from modelcycle.monitoring._detector import DriftDetector
from modelcycle.monitoring._io import DataLike, batches
from modelcycle.monitoring._result import DriftSnapshot

__all__ = ["prediction_drift", "prediction_table"]


def prediction_table(model: Any, features: DataLike, chunk_rows: int = 65_536) -> pa.Table:
    """The model's outputs on ``features`` as a table: ``prediction``, plus ``score_<class>``
    for each class when the model has ``predict_proba`` (binary: the positive class only).
    ``model`` is anything with ``predict`` on a pandas DataFrame (scikit-learn, LightGBM,
    a loaded registry model)."""
    if not callable(getattr(model, "predict", None)):
        raise invalid_value("model", type(model).__name__, "has no predict method")
    parts = []
    for batch in batches(features, chunk_rows):
        frame = batch.to_pandas()
        columns: dict[str, Any] = {}
        proba = getattr(model, "predict_proba", None)
        predicted = np.asarray(model.predict(frame))
        if proba is not None:
            scores = np.asarray(proba(frame), float)
            classes = list(getattr(model, "classes_", range(scores.shape[1])))
            columns["prediction"] = pa.array([str(label) for label in predicted.tolist()])
            shown = classes[1:] if len(classes) == 2 else classes
            for index, label in enumerate(shown, start=len(classes) - len(shown)):
                columns[f"score_{label}"] = pa.array(scores[:, index])
        else:
            columns["prediction"] = pa.array(predicted.astype(float))
        parts.append(pa.table(columns))
    return pa.concat_tables(parts)


def prediction_drift(
    model: Any, reference: DataLike, current: DataLike, **params: Any
) -> DriftSnapshot:
    """Drift of the model's outputs on ``current`` features against its outputs on
    ``reference`` features; ``params`` are :class:`DriftDetector` settings."""
    detector = DriftDetector(**params).fit(prediction_table(model, reference))
    return detector.score(prediction_table(model, current))
