"""What ``modelcycle run`` reports: each step (cache state, time, outputs) and the outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PipelineResult", "StepReport"]


@dataclass
class StepReport:
    """One step of a pipeline run: was it a cache hit, how long it took, what it produced."""

    name: str
    cache: str
    seconds: float
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineResult:
    """What ``modelcycle run`` did."""

    run_id: str
    dataset_version: str
    steps: list[StepReport]
    selection: dict[str, Any]
    candidates: list[dict[str, Any]]
    best: dict[str, Any] | None
    evaluation: dict[str, Any] | None = None
    registered: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "run_id": self.run_id,
            "dataset_version": self.dataset_version,
            "steps": [vars(step) for step in self.steps],
            "selection": self.selection,
            "candidates": self.candidates,
            "best": self.best,
            "evaluation": self.evaluation,
            "registered": self.registered,
        }
