"""A deployed model for the monitoring tests: trained in the test's store, registered with its
training profile and evaluation, and synthetic prediction-log traffic from real rows."""

from __future__ import annotations

import dataclasses
import functools
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.tracking import Client
from modelcycle.types import FeedbackRecord, PredictionRecord

#: The time the synthetic traffic starts (whole hours, so hourly windows align).
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)


@dataclasses.dataclass(frozen=True)
class Deployed:
    """A registered version, the fitted model it serves and the rows it was tested on."""

    ref: str
    model: Any
    test: pd.DataFrame


def cancer_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """breast_cancer: 400 training rows, 169 held out (seeded)."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    order = np.random.default_rng(3).permutation(len(frame))
    return frame.iloc[order[:400]], frame.iloc[order[400:]].reset_index(drop=True)


@functools.cache
def _profile() -> dict[str, Any]:
    """The training rows' profile (computed once: the split is seeded)."""
    import pyarrow as pa

    from modelcycle.data import profile_table

    features = cancer_split()[0].drop(columns=["target"])
    return profile_table(pa.Table.from_pandas(features, preserve_index=False)).to_dict()


_EVALUATIONS: dict[str, dict[str, Any]] = {}


def _evaluation(model: Any) -> dict[str, Any]:
    """The evaluation on the held-out rows with 200 bootstrap resamples; computed once, as
    every store trains the same seeded model (its predictions are checked to agree)."""
    from modelcycle.evaluation import EvaluationSpec, evaluate

    test = cancer_split()[1]
    x, y = test.drop(columns=["target"]), test["target"]
    key = repr(model.predict_proba(x).round(12).tolist())
    if key not in _EVALUATIONS:
        spec = EvaluationSpec.model_validate({"bootstrap": {"resamples": 200}})
        _EVALUATIONS[key] = evaluate(model, x, y, task="binary", spec=spec).to_dict()
    return _EVALUATIONS[key]


def deploy(client: Client, name: str = "cancer") -> Deployed:
    """Train a linear model on breast_cancer in ``client``'s store and register it as a new
    version of ``name`` with the dataset version (and profile) it learned from and its
    evaluation (bootstrap intervals) on the held-out rows."""
    import pyarrow as pa

    from modelcycle.data import SplitSpec
    from modelcycle.data._versions import content_digest, create_version
    from modelcycle.models._persist import save_model
    from modelcycle.registry import Registry, signature_of
    from modelcycle.training import TrainData, TrainSpec, train_candidate

    train, test = cancer_split()
    data = TrainData.from_frame(train, "target", SplitSpec(method="stratified", seed=7))
    result = train_candidate(client, "linear", {"C": 1.0}, data, TrainSpec())
    features = train.drop(columns=["target"])
    save_model(
        client,
        result.run_id,
        result.pipeline,
        family="linear",
        task="binary",
        target="target",
        features=list(features.columns),
        classes=[0, 1],
    )
    table = pa.Table.from_pandas(features, preserve_index=False)
    dataset = create_version(
        client,
        "cancer-train",
        table,
        input_digest=content_digest(table),
        steps={},
        schema={},
        lineage={},
        profile=_profile(),
    )
    evaluation = _evaluation(result.pipeline)
    signature = signature_of(
        features, {c: "numeric" for c in features}, task="binary", classes=[0, 1]
    )
    version = Registry(client).register(
        name, run_id=result.run_id, signature=signature, evaluation=evaluation, dataset=dataset
    )
    return Deployed(version.ref, result.pipeline, test)


def traffic(
    model: Any,
    rows: pd.DataFrame,
    *,
    version: int = 1,
    start: datetime = T0,
    every: timedelta = timedelta(minutes=1),
    per_request: int = 5,
    latency_ms: float = 2.0,
    name: str = "cancer",
    prefix: str = "r",
) -> list[PredictionRecord]:
    """Prediction-log records of ``model`` answering ``rows``, ``per_request`` rows a request."""
    records = []
    for i, first in enumerate(range(0, len(rows), per_request)):
        chunk = rows.iloc[first : first + per_request]
        proba = model.predict_proba(chunk)
        records.append(
            PredictionRecord(
                request_id=f"{prefix}{version}-{i}",
                model=name,
                version=version,
                time=start + i * every,
                latency_ms=latency_ms + (i % 10),
                n_rows=len(chunk),
                inputs={c: chunk[c].tolist() for c in chunk.columns},
                outputs={"predict": model.predict(chunk).tolist(), "predict_proba": proba.tolist()},
                shadow=False,
                sample_rate=1.0,
            )
        )
    return records


def labels(
    records: list[PredictionRecord],
    truth: pd.Series,
    *,
    flip: float = 0.0,
    seed: int = 0,
    received: datetime = T0 + timedelta(days=2),
) -> list[FeedbackRecord]:
    """Ground-truth feedback for every logged row of ``records`` (``truth`` in row order);
    ``flip`` is the share of labels replaced by the other class (a degraded model)."""
    rng = np.random.default_rng(seed)
    values = truth.to_numpy().copy()
    flipped = rng.random(len(values)) < flip
    values[flipped] = 1 - values[flipped]
    found, i = [], 0
    for record in records:
        for j in range(record.n_rows):
            found.append(
                FeedbackRecord(
                    row_id=f"{record.request_id}:{j}",
                    request_id=record.request_id,
                    model=record.model,
                    version=record.version,
                    kind="label",
                    value=int(values[i]),
                    source="tests",
                    received_at=received,
                )
            )
            i += 1
    return found
