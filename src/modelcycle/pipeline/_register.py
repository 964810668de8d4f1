"""The pipeline's ``register`` step: the chosen candidate becomes a model version.

    registry:
      name: churn            # default: the pipeline's name
      alias: champion        # moved to the new version (the gates have already passed)
      onnx: true             # export to ONNX with a parity check on the test rows

Only a candidate whose evaluation gates all passed reaches this step. Its bundle holds the
model the training run saved, the signature of the training rows, the dataset version's
profile, the evaluation snapshot, the pipeline spec and the lineage. When ``onnx`` is on, the
export's parity is recorded and the version is ONNX-ready only when parity held.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from modelcycle.tracking import ActiveRun, Client
    from modelcycle.training import TrainData
    from modelcycle.types import DatasetVersion

__all__ = ["RegisterSpec", "register_chosen"]


class RegisterSpec(BaseModel):
    """The ``registry:`` section (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=256)
    alias: str | None = Field(default=None, min_length=1, max_length=128)
    onnx: bool = True
    description: str = ""


def _onnx(model: Any, data: TrainData, task: str) -> Any:
    from modelcycle.registry._onnx import export_onnx

    positions = data.splits.test if len(data.splits.test) else data.splits.validation
    sample = data.frame.iloc[positions].drop(columns=[data.target])
    return export_onnx(model, sample, task=task)


def register_chosen(
    client: Client,
    run: ActiveRun,
    spec: RegisterSpec,
    default_name: str,
    chosen: dict[str, Any],
    model: Any,
    data: TrainData,
    dataset: DatasetVersion,
    spec_path: str | Path | None,
) -> dict[str, Any]:
    """Register the chosen candidate (``chosen``: its evaluation snapshot) and move the alias;
    what was done is returned (and tagged on the run)."""
    from modelcycle.registry import Registry, signature_of

    started = time.perf_counter()
    task = chosen["task"]
    x_train = data.frame.iloc[data.splits.train].drop(columns=[data.target])
    kinds = {n: c.kind.value for n, c in data.schema.columns.items()}
    classes = list(getattr(model, "classes_", [])) or None
    signature = signature_of(x_train, kinds, task=task, classes=classes)
    onnx = _onnx(model, data, task) if spec.onnx else None
    registry = Registry(client)
    name = spec.name or default_name
    version = registry.register(
        name,
        run_id=chosen["model"]["run_id"],
        signature=signature,
        evaluation=chosen,
        dataset=dataset,
        spec_text=None if spec_path is None else Path(spec_path).read_text(encoding="utf-8"),
        pipeline_run_id=run.run_id,
        onnx=onnx,
        description=spec.description,
    )
    outputs: dict[str, Any] = {
        "version": version.ref,
        "onnx_ready": version.onnx_ready,
        "onnx": None if onnx is None else onnx.to_dict(),
    }
    if spec.alias is not None:
        registry.promote(version.ref, spec.alias, reason=f"modelcycle run {run.run_id}")
        outputs["alias"] = f"{name}@{spec.alias}"
    run.set_tags({"registered": version.ref})
    outputs["seconds"] = time.perf_counter() - started
    return outputs
