"""``modelcycle run``: the data stage, then training, recorded step by step in one run.

    data      read, validate, clean, profile and version the data (cached by the source
              file's hash and the data spec)
    split     the split positions of the dataset version
    select    candidates from the task, the data and the spec's constraints (or named ones)
    train     per candidate: tuning when asked, cross-validation when asked, then the final
              training on the training split, measured on the validation split (cached by the
              dataset version, the candidate and the training spec)

Every step is a tag on the pipeline run (``step.data = hit|miss`` ...) and the run records the
dataset version it used; candidates are child runs. A cache hit reuses the recorded outputs:
for training, the metrics and the run that produced them (the fitted model itself is packaged
by the registry, a later stage). Evaluation and registration hook in after ``train``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelcycle.errors import InvalidValueError
from modelcycle.pipeline._cache import code_version, file_digest, step_key
from modelcycle.pipeline._spec import ModelSpec, PipelineSpec

if TYPE_CHECKING:
    import pandas as pd

    from modelcycle.models import Selection
    from modelcycle.tracking import ActiveRun, Client
    from modelcycle.training import TrainData
    from modelcycle.types import DatasetVersion

__all__ = [
    "PipelineResult",
    "StepReport",
    "explain_selection",
    "plan_selection",
    "run_pipeline",
]

_DATA_CODE = (
    "modelcycle.data._stage",
    "modelcycle.data._cleaning_steps",
    "modelcycle.data._sources",
)
_TRAIN_CODE = ("modelcycle.training._fit", "modelcycle.training._tuning", "modelcycle.training._cv")


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

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "run_id": self.run_id,
            "dataset_version": self.dataset_version,
            "steps": [vars(step) for step in self.steps],
            "selection": self.selection,
            "candidates": self.candidates,
            "best": self.best,
        }


def _data_step(
    client: Client, spec: PipelineSpec, source: str | None, use_cache: bool
) -> tuple[DatasetVersion, Any, StepReport]:
    from modelcycle.data import load_version
    from modelcycle.data._stage import build_version

    started = time.perf_counter()
    path = source or (spec.data.source.path if spec.data.source else None)
    key = None
    if use_cache and path is not None and Path(path).is_file():
        config = spec.data.model_dump(mode="json", by_alias=True, exclude={"source"})
        key = step_key("data", code_version(*_DATA_CODE), config, {"file": file_digest(path)})
        hit = client.metadata.steps.get(key)
        if hit is not None:
            table, version = load_version(client, hit["dataset"])
            report = StepReport(
                "data", "hit", time.perf_counter() - started, {"dataset": version.ref}
            )
            return version, table, report
    prepared = build_version(client, spec.data, spec.name, source)
    if key is not None:
        client.metadata.steps.put(key, "data", {"dataset": prepared.version.ref})
    outputs = {"dataset": prepared.version.ref, "rows": prepared.version.rows}
    state = "miss" if key is not None else "off"
    return (
        prepared.version,
        prepared.table,
        StepReport("data", state, time.perf_counter() - started, outputs),
    )


def _train_data(spec: PipelineSpec, table: Any) -> TrainData:
    from modelcycle.data import Schema
    from modelcycle.training import TrainData

    if spec.data.target is None:
        raise InvalidValueError("data.target: a pipeline that trains needs a target")
    frame: pd.DataFrame = table.to_pandas()
    return TrainData.from_frame(
        frame,
        spec.data.target.output,
        spec.data.split,
        schema=Schema(columns=dict(spec.data.schema_)),
        preprocessing=spec.data.preprocessing,
    )


def explain_selection(spec: PipelineSpec, data: TrainData) -> Selection:
    """The candidates the selector proposes for this spec and data, with its reasons."""
    from modelcycle.models import Constraints, Task, select
    from modelcycle.training import infer_task

    model = spec.model or ModelSpec()
    task = Task(model.task) if model.task else infer_task(data.frame[data.target])
    constraints = model.constraints
    if model.candidates:
        constraints = Constraints.model_validate(
            {**constraints.model_dump(), "families": [c.family for c in model.candidates]}
        )
    kinds = {n: c.kind for n, c in data.schema.columns.items() if n != data.target}
    missing = {c: float(data.frame[c].isna().mean()) for c in kinds}
    return select(task, len(data.splits.train), kinds, constraints, missing=missing)


def plan_selection(spec: PipelineSpec, source: str | None = None) -> Selection:
    """What ``--explain-selection`` shows: read and clean the data (nothing is stored), split
    it, and ask the selector."""
    import pyarrow as pa

    from modelcycle.data import clean
    from modelcycle.data._stage import load_table

    table, _ = load_table(spec.data, source)
    if spec.data.cleaning.steps:
        frame, _ = clean(table.to_pandas(), spec.data.cleaning)
        table = pa.Table.from_pandas(frame, preserve_index=False)
    return explain_selection(spec, _train_data(spec, table))


def _train_one(
    client: Client,
    run: ActiveRun,
    spec: PipelineSpec,
    data: TrainData,
    family: str,
    version: DatasetVersion,
    use_cache: bool,
) -> tuple[dict[str, Any], str]:
    from modelcycle.training import CandidateSpec, cross_validate, train_candidate, tune

    model = spec.model or ModelSpec()
    named = {c.family: c for c in model.candidates}
    candidate = named.get(family, CandidateSpec(family=family))
    train_spec = model.train_spec()
    config = {
        "candidate": candidate.model_dump(mode="json"),
        "train": train_spec.model_dump(mode="json", exclude={"candidates"}),
        "split": spec.data.split.model_dump(mode="json"),
        "preprocessing": spec.data.preprocessing.model_dump(mode="json"),
    }
    key = step_key("train", code_version(*_TRAIN_CODE), config, {"dataset": version.version_id})
    if use_cache:
        hit = client.metadata.steps.get(key)
        if hit is not None:
            return hit, "hit"
    params = dict(candidate.params)
    outputs: dict[str, Any] = {"family": family}
    if train_spec.tune is not None:
        tuned = tune(
            client,
            candidate,
            data,
            train_spec,
            parent=run,
            experiment=spec.name,
            name=f"tune-{family}",
        )
        params = tuned.best_params
        outputs["tuning"] = tuned.to_dict()
    if train_spec.cv is not None:
        checked = cross_validate(
            client,
            family,
            params,
            data,
            train_spec,
            parent=run,
            experiment=spec.name,
            name=f"cv-{family}",
        )
        outputs["cv"] = {"mean": checked.mean, "std": checked.std}
    result = train_candidate(
        client, family, params, data, train_spec, parent=run, experiment=spec.name, name=family
    )
    outputs.update(result.to_dict())
    client.metadata.steps.put(key, "train", outputs, result.run_id)
    return {**outputs, "run_id": result.run_id}, "miss"


def run_pipeline(
    spec: PipelineSpec,
    client: Client,
    *,
    source: str | None = None,
    spec_path: str | Path | None = None,
    use_cache: bool = True,
) -> PipelineResult:
    """Run the data stage and (when the spec has ``model:``) training; see the module docstring."""
    with client.start_run(
        spec.name, name=f"pipeline:{spec.name}", tags={"kind": "pipeline"}
    ) as run:
        if spec_path is not None:
            run.log_artifact(spec_path, name="pipeline.yaml")
        version, table, data_report = _data_step(client, spec, source, use_cache)
        run.log_dataset(version, context="pipeline")
        steps = [data_report]
        result = PipelineResult(run.run_id, version.ref, steps, {}, [], None)
        if spec.model is not None:
            _training(client, run, spec, table, version, use_cache, result)
        run.set_tags({f"step.{step.name}": step.cache for step in steps})
    return result


def _training(
    client: Client,
    run: ActiveRun,
    spec: PipelineSpec,
    table: Any,
    version: DatasetVersion,
    use_cache: bool,
    result: PipelineResult,
) -> None:
    started = time.perf_counter()
    data = _train_data(spec, table)
    result.steps.append(
        StepReport(
            "split",
            "off",
            time.perf_counter() - started,
            {k: int(v) for k, v in data.splits.to_dict()["sizes"].items()},
        )
    )
    started = time.perf_counter()
    selection = explain_selection(spec, data)
    result.selection = selection.to_dict()
    result.steps.append(
        StepReport(
            "select", "off", time.perf_counter() - started, {"candidates": selection.candidates}
        )
    )
    if not selection.candidates:
        raise InvalidValueError(f"no model family suits this data and spec:\n{selection.explain()}")
    run.log_text(selection.explain(), "selection.txt")
    for family in selection.candidates:
        started = time.perf_counter()
        outputs, state = _train_one(client, run, spec, data, family, version, use_cache)
        result.candidates.append(outputs)
        result.steps.append(
            StepReport(
                f"train.{family}",
                state,
                time.perf_counter() - started,
                {"run_id": outputs.get("run_id")},
            )
        )
    best = _best(result.candidates)
    result.best = best
    name = best["objective"]
    run.set_tags({"best_family": best["family"], "best_run_id": best["run_id"]})
    run.log_metrics({f"best_val_{name}": best["metrics"][name]})


def _best(candidates: list[dict[str, Any]]) -> dict[str, Any]:
    """The candidate with the best validation objective."""
    from modelcycle.models import Task
    from modelcycle.training import objective

    first = candidates[0]
    goal = objective(Task(first["task"]), first["objective"])
    ranked = sorted(
        candidates, key=lambda c: c["metrics"][goal.name], reverse=goal.direction == "maximize"
    )
    return ranked[0]
