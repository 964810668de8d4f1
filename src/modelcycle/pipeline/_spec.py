"""The pipeline spec: ``PIPELINE.yaml`` as validated pydantic models, loaded through one path.

    version: 1
    name: penguins
    data: {...}            # see modelcycle.data.DataSpec

``load_spec`` reads YAML and reports the first problem as ``FILE:LINE: key.path: why``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from modelcycle._yamlspec import load_model
from modelcycle.data._spec import DataSpec

__all__ = ["PipelineSpec", "load_spec"]


class PipelineSpec(BaseModel):
    """A whole pipeline: today its name and its data stage."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    name: str = "pipeline"
    description: str = ""
    data: DataSpec = Field(default_factory=DataSpec)


def load_spec(path: str | Path) -> PipelineSpec:
    """Load and validate ``PIPELINE.yaml``; errors name the file, line and key."""
    return load_model(PipelineSpec, path)
