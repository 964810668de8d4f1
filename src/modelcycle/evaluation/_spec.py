"""The evaluation section of the pipeline spec: what the final exam measures and its gates.

    evaluation:
      enabled: true                  # false: modelcycle run stops after training
      split: test                    # the rows evaluated: test (default) or validation
      sensitive: [sex, race]         # fairness per attribute and per pair of attributes
      positive: "yes"                # the positive class (default: the second class, sorted)
      bootstrap: {resamples: 1000, confidence: 0.95}
      threshold: {target_precision: 0.9}   # or target_recall; omitted: no threshold search
      explain: {permutation_repeats: 5, max_rows: 2000, shap: true, partial_dependence: 3}
      robustness: {noise: 0.1, missing: 0.1, swap: 0.1, slices: 5, min_slice: 30}
      system: {latency_calls: 100}
      mitigation: {method: threshold_optimizer, constraint: demographic_parity}
      gates:
        - roc_auc >= 0.85
        - fairness.sex.demographic_parity_difference <= 0.1
        - latency.p99_ms <= 5
        - better_than: champion

A gate is ``NAME OP NUMBER`` (``>=``, ``>``, ``<=``, ``<``, ``==``) over the names that
:func:`modelcycle.evaluation.gate_values` lists for an evaluation (headline metrics such as
``roc_auc``, ``ci.roc_auc.low``, ``latency.p99_ms``, ``size_mb``, ``fairness.ATTR.METRIC``,
``robustness.noise.change``), or ``better_than: REF``: the model must beat the reference
(``champion``, or ``run:RUN_ID``) on the objective by a paired comparison on the same rows.
Everything is validated once, here; a malformed gate is an error naming its index and line.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "BootstrapSpec",
    "EvaluationSpec",
    "ExplainSpec",
    "Gate",
    "MitigationSpec",
    "RobustnessSpec",
    "SystemSpec",
    "ThresholdSpec",
    "parse_gate",
]

Op = Literal[">=", ">", "<=", "<", "=="]
_GATE = re.compile(
    r"^\s*([A-Za-z_][\w.&\-]*)\s*(>=|<=|==|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


class Gate(BaseModel):
    """One quality gate: ``metric op threshold``, or ``better_than`` a reference model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str | None = None
    op: Op | None = None
    threshold: float | None = Field(default=None, allow_inf_nan=False)
    better_than: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: object) -> object:
        return _gate_fields(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_kind(self) -> Gate:
        comparing = (self.metric, self.op, self.threshold)
        if self.better_than is not None:
            if any(part is not None for part in comparing):
                raise ValueError(
                    "a gate is either 'NAME OP NUMBER' or 'better_than: REF', not both"
                )
            if self.better_than != "champion" and not self.better_than.startswith("run:"):
                raise ValueError(
                    f"better_than takes 'champion' or 'run:RUN_ID', got {self.better_than!r}"
                )
        elif any(part is None for part in comparing):
            raise ValueError("a gate needs a metric, an operator and a threshold")
        return self

    def __str__(self) -> str:
        if self.better_than is not None:
            return f"better_than: {self.better_than}"
        return f"{self.metric} {self.op} {self.threshold:g}"

    def holds(self, value: float) -> bool:
        """Whether ``value`` passes this (comparison) gate."""
        threshold = float(self.threshold if self.threshold is not None else "nan")
        return {
            ">=": value >= threshold,
            ">": value > threshold,
            "<=": value <= threshold,
            "<": value < threshold,
            "==": value == threshold,
        }[self.op or "=="]


def _gate_fields(text: str) -> dict[str, object]:
    stripped = text.strip()
    if stripped.startswith("better_than"):
        _, _, ref = stripped.partition(":")
        return {"better_than": ref.strip()}
    match = _GATE.match(stripped)
    if match is None:
        raise ValueError(
            f"cannot read gate {text!r}: write NAME OP NUMBER (e.g. 'roc_auc >= 0.85') "
            "or 'better_than: champion'"
        )
    metric, op, number = match.groups()
    return {"metric": metric, "op": op, "threshold": float(number)}


def parse_gate(text: str) -> Gate:
    """A gate from its written form: ``"roc_auc >= 0.85"`` or ``"better_than: champion"``.

    >>> parse_gate("latency.p99_ms <= 5").threshold
    5.0
    """
    return Gate.model_validate(text)


class BootstrapSpec(BaseModel):
    """Bootstrap confidence intervals for the headline metrics (0 resamples: none)."""

    model_config = ConfigDict(extra="forbid")

    resamples: int = Field(default=1000, ge=0, le=100_000)
    confidence: float = Field(default=0.95, gt=0, lt=1)


class ThresholdSpec(BaseModel):
    """A decision threshold chosen for a target precision or a target recall (binary only)."""

    model_config = ConfigDict(extra="forbid")

    target_precision: float | None = Field(default=None, gt=0, le=1)
    target_recall: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> ThresholdSpec:
        if (self.target_precision is None) == (self.target_recall is None):
            raise ValueError("give exactly one of target_precision and target_recall")
        return self


class ExplainSpec(BaseModel):
    """Global and local explanations: permutation importance, SHAP, partial dependence."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    permutation_repeats: int = Field(default=5, ge=1, le=100)
    max_rows: int = Field(default=2000, ge=10)
    shap: bool = True
    shap_rows: int = Field(default=500, ge=10)
    partial_dependence: int = Field(default=3, ge=0, le=20)


class RobustnessSpec(BaseModel):
    """Metric change under perturbations, and the worst one-feature slices."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    noise: float = Field(default=0.1, ge=0)
    missing: float = Field(default=0.1, ge=0, lt=1)
    swap: float = Field(default=0.1, ge=0, le=1)
    slices: int = Field(default=5, ge=0)
    min_slice: int = Field(default=30, ge=1)


class SystemSpec(BaseModel):
    """Latency, throughput, size and memory measurements."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    latency_calls: int = Field(default=100, ge=1, le=100_000)
    batch_rows: int = Field(default=1000, ge=1)


class MitigationSpec(BaseModel):
    """A fairness mitigation that yields a new candidate (fairlearn's ThresholdOptimizer,
    fitted on the validation rows), evaluated like any other."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["threshold_optimizer"] = "threshold_optimizer"
    constraint: Literal["demographic_parity", "equalized_odds", "true_positive_rate_parity"] = (
        "demographic_parity"
    )


class EvaluationSpec(BaseModel):
    """The ``evaluation:`` section (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    split: Literal["test", "validation"] = "test"
    sensitive: list[str] = Field(default_factory=list)
    intersections: bool = True
    positive: str | int | bool | None = None
    bootstrap: BootstrapSpec = Field(default_factory=BootstrapSpec)
    threshold: ThresholdSpec | None = None
    explain: ExplainSpec = Field(default_factory=ExplainSpec)
    robustness: RobustnessSpec = Field(default_factory=RobustnessSpec)
    system: SystemSpec = Field(default_factory=SystemSpec)
    mitigation: MitigationSpec | None = None
    gates: list[Gate] = Field(default_factory=list)
    seed: int = 0

    @model_validator(mode="after")
    def _mitigation_needs_attributes(self) -> EvaluationSpec:
        if self.mitigation is not None and not self.sensitive:
            raise ValueError("mitigation needs at least one sensitive attribute in 'sensitive'")
        return self
