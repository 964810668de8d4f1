"""Orchestration: the declarative pipeline spec (YAML <-> pydantic)."""

from modelcycle.pipeline._spec import PipelineSpec, load_spec

__all__ = ["PipelineSpec", "load_spec"]
