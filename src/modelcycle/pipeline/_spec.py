"""The pipeline spec: ``PIPELINE.yaml`` as validated pydantic models, loaded through one path.

    version: 1
    name: penguins
    data: {...}            # see modelcycle.data.DataSpec
    model:                 # optional: train after the data stage
      constraints: {interpretable: false, max_latency_us_per_row: 50}
      tune: {trials: 20}
      cv: {folds: 5, method: stratified}
    evaluation:            # the best candidate's exam on the test rows, and its gates
      sensitive: [sex]
      gates: ["roc_auc >= 0.85", "fairness.sex.demographic_parity_difference <= 0.1"]
    registry: {name: churn, alias: champion}   # a version when the gates pass
    retrain:               # when to retrain and how a challenger wins (modelcycle.loop)
      when: {drift: {share: 0.5}, data_volume: 200}

``load_spec`` reads YAML and reports the first problem as ``FILE:LINE: key.path: why``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from modelcycle._yamlspec import load_model
from modelcycle.data._spec import DataSpec
from modelcycle.evaluation._spec import EvaluationSpec
from modelcycle.loop._spec import RetrainSpec
from modelcycle.models._selection import Constraints
from modelcycle.pipeline._register import RegisterSpec
from modelcycle.training._spec import TrainSpec

__all__ = ["ModelSpec", "PipelineSpec", "load_spec"]


class ModelSpec(TrainSpec):
    """The ``model:`` section: how candidates are chosen (constraints, or named in
    ``candidates``) and how they are trained, tuned and cross-validated."""

    constraints: Constraints = Field(default_factory=Constraints)

    def train_spec(self) -> TrainSpec:
        """The training part alone."""
        return TrainSpec.model_validate(self.model_dump(exclude={"constraints"}))


class PipelineSpec(BaseModel):
    """A whole pipeline: its name, its data stage, (optionally) its model stage and the
    evaluation of the model it trains."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    name: str = "pipeline"
    description: str = ""
    data: DataSpec = Field(default_factory=DataSpec)
    model: ModelSpec | None = None
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    registry: RegisterSpec | None = None
    retrain: RetrainSpec | None = None


def load_spec(path: str | Path) -> PipelineSpec:
    """Load and validate ``PIPELINE.yaml``; errors name the file, line and key."""
    return load_model(PipelineSpec, path)
