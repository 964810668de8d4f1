"""``modelcycle run``: the data stage, then training, recorded step by step in one run.

    data      read, validate, clean, profile and version the data (cached by the source
              file's hash and the data spec)
    split     the split positions of the dataset version
    select    candidates from the task, the data and the spec's constraints (or named ones)
    train     per candidate: tuning when asked, cross-validation when asked, then the final
              training on the training split, measured on the validation split (cached by the
              dataset version, the candidate and the training spec); the fitted model is
              saved in the candidate's run in the background
    evaluate  the best candidate's exam on the test split (``_finish``, ``_evaluation``):
              metrics with intervals, fairness, explanations, robustness, speed; an HTML
              report; gates
              (cached by the model's run, the dataset version and the evaluation spec)

Every step is a tag on the pipeline run (``step.data = hit|miss`` ...) and the run records the
dataset version it used; candidates are child runs. A cache hit reuses the recorded outputs:
for training, the metrics and the run that produced them, whose saved model evaluation
loads. When no candidate passes its gates the run ends FAILED with every gate's result
recorded (tag ``gates``, the reports, ``test_*`` metrics). Registration hooks in after
``evaluate``.

With an executor of more than one worker (``--executor local:4``, ``ray``, ``ray://HOST:PORT``)
tuning workers share one study in parallel and cross-validation folds run in parallel; without
one (or with one worker) every trial and fold runs in this process, one after another.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelcycle.errors import InvalidValueError
from modelcycle.pipeline._cache import code_version, file_digest, step_key
from modelcycle.pipeline._finish import Trained, evaluation_step, registration_step
from modelcycle.pipeline._result import PipelineResult, StepReport
from modelcycle.pipeline._spec import ModelSpec, PipelineSpec

if TYPE_CHECKING:
    import pandas as pd

    from modelcycle import executors
    from modelcycle.models import Selection
    from modelcycle.tracking import ActiveRun, Client
    from modelcycle.training import CandidateSpec, TrainData, TrainResult, TrainSpec, TuneResult
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
    "modelcycle.data._cleaning_outliers",
    "modelcycle.data._cleaning_base",
    "modelcycle.data._sources",
)
_TRAIN_CODE = ("modelcycle.training._fit", "modelcycle.training._tuning", "modelcycle.training._cv")


@dataclass
class _Data:
    """The data step's result; ``stored`` yields the dataset version once it is stored
    (at once on a cache hit, after the background store on a miss)."""

    table: Any
    version_id: str
    report: StepReport
    stored: Future[DatasetVersion]
    cache_key: str | None = None

    def finish(self, client: Client) -> DatasetVersion:
        """The stored version (waiting for the background store when there is one)."""
        version = self.stored.result()
        if self.report.cache != "hit":
            if self.cache_key is not None:
                client.metadata.steps.put(self.cache_key, "data", {"dataset": version.ref})
            self.report.outputs = {"dataset": version.ref, "rows": version.rows}
        return version


def _store(client: Client, spec: PipelineSpec, cleaned: Any) -> DatasetVersion:
    from modelcycle.data._stage import store_version

    return store_version(client, spec.data, spec.name, cleaned).version


def _data_step(
    client: Client, spec: PipelineSpec, source: str | Any, use_cache: bool, pool: Executor
) -> _Data:
    """Load the data; on a miss, clean it now and store the version in the background (the
    snapshot, digest and profile overlap with training, which mostly runs outside the GIL).
    A DataFrame or Arrow table as ``source`` is never a cache hit (it has no file to hash)."""
    from modelcycle.data import load_version
    from modelcycle.data._stage import clean_data

    started = time.perf_counter()
    if source is None:
        path = spec.data.source.path if spec.data.source else None
    else:
        path = source if isinstance(source, str) else None
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
            done: Future[DatasetVersion] = Future()
            done.set_result(version)
            return _Data(table, version.version_id, report, done)
    cleaned = clean_data(spec.data, source)
    stored = pool.submit(_store, client, spec, cleaned)
    report = StepReport("data", "miss" if key else "off", time.perf_counter() - started)
    return _Data(cleaned.table, cleaned.version_id(spec.data), report, stored, key)


def _train_data(spec: PipelineSpec, table: Any) -> TrainData:
    from modelcycle.data import infer_schema
    from modelcycle.training import TrainData

    if spec.data.target is None:
        raise InvalidValueError("data.target: a pipeline that trains needs a target")
    frame: pd.DataFrame = table.to_pandas()
    return TrainData.from_frame(
        frame,
        spec.data.target.output,
        spec.data.split,
        schema=infer_schema(table, spec.data.declared_schema),  # on Arrow: no round trip
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


def _tune(
    client: Client,
    run: ActiveRun,
    experiment: str,
    candidate: CandidateSpec,
    data: TrainData,
    train_spec: TrainSpec,
    executor: executors.Executor | None,
) -> TuneResult:
    """Tune in this process, or on the executor's workers sharing one study."""
    from modelcycle.training import tune
    from modelcycle.training._parallel import tune_parallel

    name = f"tune-{candidate.family}"
    if executor is None or executor.workers == 1:
        return tune(
            client, candidate, data, train_spec, parent=run, experiment=experiment, name=name
        )
    urls = client.store_url, client.artifacts_url
    return tune_parallel(
        *urls,
        candidate,
        data,
        train_spec,
        executor,
        parent_run_id=run.run_id,
        experiment=experiment,
        name=name,
    )


def _train_one(
    client: Client,
    run: ActiveRun,
    spec: PipelineSpec,
    data: TrainData,
    family: str,
    version_id: str,
    use_cache: bool,
    pool: Executor,
    executor: executors.Executor | None = None,
) -> tuple[dict[str, Any], str, tuple[Any, Future[None]] | None]:
    """Train one candidate (or reuse a cached one): its outputs, cache state, and on a miss
    the fitted model with the future of its background save."""
    from modelcycle.training import CandidateSpec, cross_validate, train_candidate

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
    key = step_key("train", code_version(*_TRAIN_CODE), config, {"dataset": version_id})
    if use_cache:
        hit = client.metadata.steps.get(key)
        if hit is not None:
            return hit, "hit", None
    params = dict(candidate.params)
    outputs: dict[str, Any] = {"family": family}
    if train_spec.tune is not None:
        tuned = _tune(client, run, spec.name, candidate, data, train_spec, executor)
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
            map_fn=map if executor is None else executor.map,
        )
        outputs["cv"] = {"mean": checked.mean, "std": checked.std}
    result = train_candidate(
        client, family, params, data, train_spec, parent=run, experiment=spec.name, name=family
    )
    outputs.update(result.to_dict())
    outputs["run_id"] = result.run_id
    saved = pool.submit(_save_model, client, key, outputs, result, data)
    return outputs, "miss", (result.pipeline, saved)


def _save_model(
    client: Client, key: str, outputs: dict[str, Any], result: TrainResult, data: TrainData
) -> None:
    """Store the fitted model in its run (background: it overlaps the next candidate's
    training), then record the cache entry, which is only valid once the model is stored."""
    from modelcycle.models._persist import save_model

    manifest = save_model(
        client,
        result.run_id,
        result.pipeline,
        family=result.family,
        task=result.task.value,
        target=data.target,
        features=[str(c) for c in data.frame.columns if c != data.target],
        classes=list(getattr(result.pipeline, "classes_", [])) or None,
    )
    outputs["model_size_bytes"] = manifest["size_bytes"]
    client.metadata.steps.put(key, "train", outputs, result.run_id)


def run_pipeline(
    spec: PipelineSpec,
    client: Client,
    *,
    source: str | Any | None = None,
    spec_path: str | Path | None = None,
    use_cache: bool = True,
    executor: executors.Executor | None = None,
    report_dir: str | Path | None = None,
    parent: str | None = None,
    tags: dict[str, str] | None = None,
) -> PipelineResult:
    """Run the data stage and (when the spec has ``model:``) training and evaluation; see the
    module docstring.

    ``source`` replaces the spec's source: a file path, or a DataFrame / Arrow table (a
    retrain's combined data). ``parent`` makes the pipeline run a child of that run;
    ``tags`` are added to it.

    ``executor`` runs tuning workers and cross-validation folds in parallel; the caller opens
    and closes it (``open_executor``). None runs them in this process. Evaluation reports are
    written under ``report_dir`` (default: ``.modelcycle/reports/RUN_ID``) and stored in the
    run. A candidate that fails its gates stops the run with a GateFailedError.
    """
    with (
        client.start_run(
            spec.name,
            name=f"pipeline:{spec.name}",
            tags={"kind": "pipeline", **(tags or {})},
            parent=parent,
        ) as run,
        ThreadPoolExecutor(1, thread_name_prefix="modelcycle-version") as pool,
    ):
        if spec_path is not None:
            run.log_artifact(spec_path, name="pipeline.yaml")
        data = _data_step(client, spec, source, use_cache, pool)
        result = PipelineResult(run.run_id, "", [data.report], {}, [], None)
        trained = None
        try:
            if spec.model is not None:
                trained = _training(client, run, spec, data, use_cache, result, pool, executor)
        finally:
            version = data.finish(client)
        run.log_dataset(version, context="pipeline")
        result.dataset_version = version.ref
        try:
            if trained is not None and spec.evaluation.enabled:
                chosen = evaluation_step(
                    client, run, spec, trained, version.ref, use_cache, result, report_dir
                )
                if spec.registry is not None:
                    registering = (spec.registry, spec.name)
                    registration_step(
                        client, run, registering, trained, chosen, version, spec_path, result
                    )
        finally:
            run.set_tags({f"step.{step.name}": step.cache for step in result.steps})
    return result


def _training(
    client: Client,
    run: ActiveRun,
    spec: PipelineSpec,
    loaded: _Data,
    use_cache: bool,
    result: PipelineResult,
    pool: Executor,
    executor: executors.Executor | None = None,
) -> Trained:
    started = time.perf_counter()
    data = _train_data(spec, loaded.table)
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
    models: dict[str, tuple[Any, Future[None]]] = {}
    for family in selection.candidates:
        started = time.perf_counter()
        outputs, state, fitted = _train_one(
            client, run, spec, data, family, loaded.version_id, use_cache, pool, executor
        )
        if fitted is not None:
            models[outputs["run_id"]] = fitted
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
    return Trained(data, models)


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
