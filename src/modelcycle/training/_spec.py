"""The training section of the pipeline spec: candidates, objective, tuning, cross-validation.

    task: binary                 # binary | multiclass | regression; omitted: from the target
    metric: roc_auc              # omitted: the task's objective (see ``_metrics``)
    early_stopping_rounds: 20    # null: never stop early
    train_loss_every: 10         # training loss at iteration 1 and every 10th (1: every one)
    class_weights: true          # weight rows inversely to their class frequency
    seed: 42
    candidates:
      - family: linear
        params: {C: 1.0}
      - family: lightgbm
        params: {n_estimators: 500}
        search_space:            # replaces these hyperparameters' default ranges
          num_leaves: {type: int, low: 8, high: 128, log: true}
          boosting_type: {type: categorical, choices: [gbdt, dart]}
    tune: {trials: 50, timeout_s: 600, sampler: tpe, pruner: median, n_jobs: 2}
    cv: {folds: 5, method: stratified}

Validation metrics are logged at every iteration. The training loss costs a pass over every
training row when a family measures it apart from training (LightGBM's, for one: about as
much as a boosting round on a small tree), so it is measured at the first iteration and every
``train_loss_every``-th one (``1``: every iteration; ``null``: never). Families that get it for
free (the neural ones: the epoch's mean batch loss) report it every epoch whatever the setting.

Everything is validated once, here, with pydantic; unknown keys are errors. Checks that need
the data (does the metric suit the inferred task? is the group column there?) run when
training starts and name the key at fault the same way.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelcycle.training._metrics import METRICS

__all__ = ["CVSpec", "CandidateSpec", "ParamSpace", "TrainSpec", "TuneSpec"]

Choice = str | int | float | bool | None


class ParamSpace(BaseModel):
    """The search range of one hyperparameter, as data (an Optuna distribution).

    ``float`` and ``int`` need ``low`` < ``high`` (``log`` for a log scale, which needs
    ``low`` > 0; ``step`` for a grid); ``categorical`` needs ``choices``.
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["float", "int", "categorical"]
    low: float | None = Field(default=None, allow_inf_nan=False)
    high: float | None = Field(default=None, allow_inf_nan=False)
    log: bool = False
    step: float | None = Field(default=None, gt=0)
    choices: list[Choice] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ParamSpace:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical range needs a non-empty list of choices")
            if self.low is not None or self.high is not None or self.log or self.step:
                raise ValueError("a categorical range takes choices only, not low/high/log/step")
            return self
        if self.choices is not None:
            raise ValueError(f"an {self.type} range takes low and high, not choices")
        if self.low is None or self.high is None:
            raise ValueError(f"an {self.type} range needs low and high")
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError("a log-scale range needs low > 0")
        if self.log and self.step is not None:
            raise ValueError("a range is either log-scale or stepped, not both")
        if self.type == "int":
            for name in ("low", "high", "step"):
                value = getattr(self, name)
                if value is not None and not float(value).is_integer():
                    raise ValueError(f"an int range needs a whole {name}, got {value:g}")
        return self


class CandidateSpec(BaseModel):
    """One model family to train: fixed hyperparameters and, for tuning, range overrides.

    ``params`` are never searched; ``search_space`` replaces the family's default range for
    the hyperparameters it names (and adds ranges for new ones); every other hyperparameter
    keeps the family's default range.
    """

    model_config = ConfigDict(extra="forbid")

    family: str
    params: dict[str, Any] = Field(default_factory=dict)
    search_space: dict[str, ParamSpace] | None = None

    @field_validator("family")
    @classmethod
    def _known_family(cls, name: str) -> str:
        from modelcycle.models import get_family

        get_family(name)  # an unknown name lists the known ones
        return name


class TuneSpec(BaseModel):
    """Hyperparameter search with Optuna: the trial budget, sampler, pruner and workers.

    ``trials`` is the study's total of finished (complete or pruned) trials: a study resumed
    after a crash only runs the missing ones. ``study_name`` defaults to one derived from the
    experiment, the candidate and the data, so rerunning the same work resumes its study.
    """

    model_config = ConfigDict(extra="forbid")

    trials: int = 20
    timeout_s: float | None = Field(default=None, gt=0)
    sampler: Literal["tpe", "random"] = "tpe"
    pruner: Literal["median", "none"] = "median"
    n_jobs: int = Field(default=1, ge=1)
    study_name: str | None = Field(default=None, min_length=1, max_length=512)
    start: list[dict[str, Any]] = Field(default_factory=list)
    """Hyperparameters tried first when the study is new (a retrain starts from its
    champion's); names outside the search space are ignored by Optuna."""

    @field_validator("trials")
    @classmethod
    def _positive(cls, trials: int) -> int:
        if trials < 1:
            raise ValueError("must be a positive integer")
        return trials


class CVSpec(BaseModel):
    """k-fold cross-validation over the training rows.

    ``kfold`` shuffles rows, ``stratified`` keeps every fold's class shares (classification
    only), ``group`` keeps each value of the ``group`` column inside one fold.
    """

    model_config = ConfigDict(extra="forbid")

    folds: int = Field(default=5, ge=2)
    method: Literal["kfold", "stratified", "group"] = "kfold"
    group: str | None = None

    @model_validator(mode="after")
    def _group_column(self) -> CVSpec:
        if self.method == "group" and self.group is None:
            raise ValueError("method 'group' needs the 'group' column")
        if self.group is not None and self.method != "group":
            raise ValueError("'group' is used by method 'group' only")
        return self


class TrainSpec(BaseModel):
    """How candidates are trained, tuned and cross-validated (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["binary", "multiclass", "regression"] | None = None
    candidates: list[CandidateSpec] = Field(default_factory=list)
    metric: str | None = None
    early_stopping_rounds: int | None = Field(default=20, ge=1)
    train_loss_every: int | None = Field(default=10, ge=1)
    class_weights: bool = False
    seed: int = 42
    tune: TuneSpec | None = None
    cv: CVSpec | None = None

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str | None) -> str | None:
        if metric is not None and metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
        return metric

    @model_validator(mode="after")
    def _suits_task(self) -> TrainSpec:
        from modelcycle.models import Task
        from modelcycle.training._metrics import metric_names

        if self.task is None:
            return self
        if self.metric is not None and self.metric not in metric_names(Task(self.task)):
            known = ", ".join(metric_names(Task(self.task)))
            raise ValueError(f"metric {self.metric!r} does not suit task {self.task}: {known}")
        if self.class_weights and self.task == "regression":
            raise ValueError("class_weights needs a classification task")
        if self.cv is not None and self.cv.method == "stratified" and self.task == "regression":
            raise ValueError("cv method 'stratified' needs a classification task")
        return self
