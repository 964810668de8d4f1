"""Tracked training of one candidate: preprocessing + family estimator, fitted and measured.

``train_candidate`` is the unit every higher step repeats (a candidate of the pipeline, a
cross-validation fold, a tuning trial):

1. the data stage's preprocessor is fitted on the training rows only (never on validation
   rows: their statistics must not leak into the model); it depends on the data alone, so a
   tuning fits it once (:func:`prepare_rows`) and every trial reuses it;
2. the family's estimator is fitted through ``family.fit`` with the validation rows, the
   spec's early stopping and, when ``class_weights`` is on, per-row weights inversely
   proportional to class frequency;
3. every iteration's metrics (validation metrics; the training loss on the iterations the
   spec's ``train_loss_every`` picks) are logged to the run with ``step = iteration`` as they
   arrive, so a long fit can be watched while it runs;
4. the params, the final validation metrics (``val_<metric>``), the best iteration and the
   fit time are logged; the fitted ``Pipeline(preprocess, model)`` is returned, not persisted
   (packaging a model version is the registry's work).

The same seed gives the same metrics: the estimator, the resampling and the preprocessing
all take their randomness from seeds in the spec.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from modelcycle.errors import invalid_value
from modelcycle.models import ModelFamily, Task, get_family
from modelcycle.tracking import ActiveRun, Client
from modelcycle.training._data import TrainData
from modelcycle.training._metrics import Metric, iteration_value, objective, score
from modelcycle.training._spec import TrainSpec

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from modelcycle.models._base import IterationCallback

__all__ = [
    "PreparedRows",
    "TrainResult",
    "prepare",
    "prepare_rows",
    "resolve_family",
    "run_for",
    "train_candidate",
]


@dataclass(frozen=True, eq=False)
class TrainResult:
    """What one training produced: its run, its validation metrics and the fitted pipeline.

    ``metrics`` are keyed by metric name (logged as ``val_<name>``); ``best_iteration`` is the
    iteration with the best objective among those the family reported (None for families
    that fit in one call); ``stopped`` says an ``on_iteration`` hook asked the fit to stop.
    """

    run_id: str
    family: str
    task: Task
    params: dict[str, Any]
    metrics: dict[str, float]
    objective: str
    best_iteration: int | None
    iterations: int
    stopped: bool
    fit_seconds: float
    pipeline: Any = field(repr=False)

    @property
    def value(self) -> float:
        """The objective's validation value."""
        return self.metrics[self.objective]

    def to_dict(self) -> dict[str, Any]:
        """JSON form (without the pipeline)."""
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "pipeline"}
        return {**shown, "task": self.task.value}


def resolve_family(family: str | ModelFamily, task: Task | None = None) -> ModelFamily:
    """The family by name (or as given), refusing one that is unavailable or unsuited."""
    found = get_family(family) if isinstance(family, str) else family
    reason = found.available()
    if reason is not None:
        raise invalid_value("model family", found.info.name, reason)
    if task is not None and task not in found.info.tasks:
        tasks = ", ".join(sorted(t.value for t in found.info.tasks))
        raise invalid_value("model family", found.info.name, f"{task.value} unsupported: {tasks}")
    return found


class _IterationLog:
    """The ``on_iteration`` callback: log each iteration, track the best, relay the hook."""

    def __init__(
        self,
        run: ActiveRun,
        goal: Metric,
        hook: IterationCallback | None,
        bar: tuple[Progress, TaskID],
    ) -> None:
        self.run, self.goal, self.hook, self.bar = run, goal, hook, bar
        self.count, self.last = 0, 0
        self.best: tuple[int, float] | None = None
        self.stopped = False

    def __call__(self, iteration: int, metrics: dict[str, float]) -> bool | None:
        values = {key: float(value) for key, value in metrics.items()}
        if values:
            self.run.log_metrics(values, step=iteration)
        self.count, self.last = self.count + 1, iteration
        value = iteration_value(values, self.goal)
        if value is not None and (self.best is None or self.goal.better(value, self.best[1])):
            self.best = (iteration, value)
        progress, task = self.bar
        shown = "" if value is None else f" {self.goal.name} {value:.4g}"
        progress.update(task, completed=self.count, description=f"iteration {iteration}{shown}")
        if self.hook is not None and self.hook(iteration, values):
            self.stopped = True
            return True
        return None


@contextlib.contextmanager
def run_for(
    client_or_run: Client | ActiveRun,
    parent: ActiveRun | str | None,
    experiment: str,
    name: str,
) -> Iterator[ActiveRun]:
    """The run to log into: the given one (left open), or a new one ended with the block."""
    if isinstance(client_or_run, ActiveRun):
        if parent is not None:
            why = "give a client to start a child run, or the run to log into, not both"
            raise invalid_value("parent", getattr(parent, "run_id", parent), why)
        yield client_or_run
        return
    if isinstance(parent, ActiveRun):
        experiment, parent = parent.experiment, parent.run_id
    with client_or_run.start_run(experiment, name=name, parent=parent) as run:
        yield run


def prepare(
    family: str | ModelFamily, data: TrainData, spec: TrainSpec, *, validation: bool = True
) -> tuple[Task, ModelFamily, Metric]:
    """Check ``spec`` against the data before any run starts: the task (declared or inferred),
    the family (available, suited), the objective, class weights and (unless ``validation``
    is False: cross-validation makes its own) validation rows."""
    task = data.task(spec.task)
    found = resolve_family(family, task)
    goal = objective(task, spec.metric)
    if spec.class_weights and not task.is_classification:
        raise invalid_value("train.class_weights", True, "needs a classification task")
    if validation:
        data.require_validation()
    return task, found, goal


def _sample_weight(spec: TrainSpec, task: Task, labels: Any) -> Any:
    if not spec.class_weights:
        return None
    from modelcycle.data._imbalance import class_weights

    weights = class_weights(labels)
    return labels.map(weights).to_numpy(dtype=float)


def _log_setup(
    run: ActiveRun,
    family: ModelFamily,
    params: Mapping[str, Any],
    data: TrainData,
    spec: TrainSpec,
    task: Task,
    goal: Metric,
) -> None:
    from modelcycle.data._preprocessing import plan_columns

    run.set_tags({"family": family.info.name, "task": task.value, "objective": goal.name})
    settings = {"seed": spec.seed, "class_weights": spec.class_weights}
    run.log_params({**params, **settings, "early_stopping_rounds": spec.early_stopping_rounds})
    plan = plan_columns(data.schema, data.preprocessing, data.target)
    run.log_text(json.dumps(plan, indent=2), "preprocessing_plan.json")


@dataclass(frozen=True, eq=False)
class PreparedRows:
    """The preprocessor fitted on a :class:`TrainData`'s training rows, with the features it
    made of the training and validation rows and their labels.

    Every fit on the same data would compute exactly this again (the preprocessing depends on
    the data and its spec, never on the model's hyperparameters), so a tuning prepares it
    once and hands it to each trial's :func:`train_candidate`. The trials' pipelines then
    share the one fitted preprocessor.
    """

    preprocess: Any
    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any


def prepare_rows(data: TrainData) -> PreparedRows:
    """Fit ``data``'s preprocessor on its training rows only and transform both parts."""
    from modelcycle.data._preprocessing import build_preprocessor

    x_train, y_train = data.rows("train")
    x_val, y_val = data.rows("validation")
    preprocess = build_preprocessor(data.schema, data.preprocessing, data.target)
    features = preprocess.fit_transform(x_train, y_train)
    return PreparedRows(preprocess, features, y_train, preprocess.transform(x_val), y_val)


def _fit(
    family: ModelFamily,
    params: Mapping[str, Any],
    rows: PreparedRows | TrainData,
    spec: TrainSpec,
    task: Task,
    log: _IterationLog,
) -> tuple[Any, PreparedRows, float]:
    """Fit preprocessing (unless ``rows`` is already prepared) then the estimator; the fitted
    pipeline, the prepared rows and the seconds it took."""
    from sklearn.pipeline import Pipeline

    started = time.perf_counter()
    prepared = rows if isinstance(rows, PreparedRows) else prepare_rows(rows)
    estimator = family.build(task, params, seed=spec.seed)
    fitted = family.fit(
        estimator,
        prepared.x_train,
        prepared.y_train.to_numpy(),
        x_val=prepared.x_val,
        y_val=prepared.y_val.to_numpy(),
        sample_weight=_sample_weight(spec, task, prepared.y_train),
        on_iteration=log,
        early_stopping_rounds=spec.early_stopping_rounds,
        train_loss_every=spec.train_loss_every,
    )
    pipeline = Pipeline([("preprocess", prepared.preprocess), ("model", fitted)])
    return pipeline, prepared, time.perf_counter() - started


def train_candidate(
    client_or_run: Client | ActiveRun,
    family_name: str | ModelFamily,
    params: Mapping[str, Any],
    data: TrainData,
    spec: TrainSpec,
    *,
    parent: ActiveRun | str | None = None,
    experiment: str = "default",
    name: str | None = None,
    on_iteration: IterationCallback | None = None,
    progress: bool = False,
    prepared: PreparedRows | None = None,
) -> TrainResult:
    """Train one candidate and track it (see the module docstring).

    With a :class:`Client`, a new run is started in ``experiment`` (a child of ``parent``
    when given, in the parent's experiment) and ended with the training: FINISHED, or FAILED
    with the error. With an :class:`ActiveRun`, everything is logged into it and it stays
    open. ``on_iteration`` sees every iteration after it is logged; returning True stops the
    fit (tuning prunes this way). ``progress`` shows a rich progress line. ``prepared``
    reuses a preprocessor already fitted on ``data`` (:func:`prepare_rows`); its fit time is
    then not part of ``fit_seconds``.

        result = train_candidate(client, "linear", {"C": 0.5}, data, TrainSpec())
        result.metrics["roc_auc"], result.pipeline.predict(new_rows)
    """
    from rich.progress import Progress

    task, family, goal = prepare(family_name, data, spec)
    with (
        run_for(client_or_run, parent, experiment, name or family.info.name) as run,
        Progress(disable=not progress, transient=True) as bar,
    ):
        _log_setup(run, family, params, data, spec, task, goal)
        log = _IterationLog(
            run, goal, on_iteration, (bar, bar.add_task(f"training {family.info.name}", total=None))
        )
        pipeline, rows, seconds = _fit(family, params, prepared or data, spec, task, log)
        # The model on the already transformed validation rows: the pipeline's own numbers
        # without transforming those rows a second time.
        metrics = score(
            task,
            pipeline.steps[-1][1],
            rows.x_val,
            rows.y_val,
            labels_from_proba=family.labels_from_proba,
        )
        final = {f"val_{key}": value for key, value in metrics.items()}
        best = None if log.best is None else log.best[0]
        extra = {"iterations": float(log.count), "fit_seconds": seconds}
        if best is not None:
            extra["best_iteration"] = float(best)
        run.log_metrics({**final, **extra}, step=log.last)
        return TrainResult(
            run_id=run.run_id,
            family=family.info.name,
            task=task,
            params=dict(params),
            metrics=metrics,
            objective=goal.name,
            best_iteration=best,
            iterations=log.count,
            stopped=log.stopped,
            fit_seconds=seconds,
            pipeline=pipeline,
        )
