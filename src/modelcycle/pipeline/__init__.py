"""Orchestration: the declarative pipeline spec (YAML <-> pydantic) and its runner."""

from modelcycle.pipeline._runner import (
    PipelineResult,
    StepReport,
    explain_selection,
    plan_selection,
    run_pipeline,
)
from modelcycle.pipeline._spec import ModelSpec, PipelineSpec, load_spec

__all__ = [
    "ModelSpec",
    "PipelineResult",
    "PipelineSpec",
    "StepReport",
    "explain_selection",
    "load_spec",
    "plan_selection",
    "run_pipeline",
]
