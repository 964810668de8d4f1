"""Cross-validation: k-fold, stratified and group k-fold over the training rows.

Folds split the *training* rows only (validation and test rows stay held out). Each fold is
trained by :func:`~modelcycle.training.train_candidate` into a child run of the
cross-validation run, which then records, for every metric, the mean and the standard
deviation over the folds as ``cv_<metric>_mean`` and ``cv_<metric>_std`` (the population
standard deviation, ``numpy.std``'s default).

Folds run through ``map_fn(fn, jobs)``, shaped like the builtin ``map`` (the default: one
fold after another) and ``Executor.map``, so an executor can run them in parallel. A
:class:`FoldJob` pickles without its client: a worker in another process (or on another
machine) opens its own client on the same store and artifact URLs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelcycle.errors import invalid_value
from modelcycle.models import ModelFamily, Task
from modelcycle.tracking import ActiveRun, Client
from modelcycle.training._data import TrainData
from modelcycle.training._fit import prepare, run_for, train_candidate
from modelcycle.training._spec import CVSpec, TrainSpec

__all__ = ["CVResult", "FoldJob", "FoldResult", "MapFn", "cross_validate", "make_folds", "run_fold"]

#: ``map_fn(fn, items)``: the builtin ``map`` or an executor's ``map``.
MapFn = Callable[[Callable[[Any], Any], Iterable[Any]], Iterable[Any]]
_Positions = np.ndarray[Any, np.dtype[np.intp]]
Fold = tuple[_Positions, _Positions]


@dataclass(frozen=True)
class FoldResult:
    """One fold: its child run, its validation metrics and its sizes."""

    index: int
    run_id: str
    metrics: dict[str, float]
    train_rows: int
    validation_rows: int


@dataclass(frozen=True)
class CVResult:
    """The cross-validation run, its folds, and per-metric mean and standard deviation."""

    run_id: str
    objective: str
    folds: list[FoldResult]
    mean: dict[str, float]
    std: dict[str, float]

    @property
    def value(self) -> float:
        """The objective's mean over the folds."""
        return self.mean[self.objective]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "run_id": self.run_id,
            "objective": self.objective,
            "folds": [vars(fold) for fold in self.folds],
            "mean": self.mean,
            "std": self.std,
        }


def _groups(train: Any, column: str | None, folds: int) -> np.ndarray[Any, Any]:
    if column is None or column not in train.columns:
        raise invalid_value("train.cv.group", column, "no such column in the data")
    groups: np.ndarray[Any, Any] = train[column].astype(str).to_numpy()
    if len(np.unique(groups)) < folds:
        why = f"the training rows have {len(np.unique(groups))} groups, fewer than {folds} folds"
        raise invalid_value("train.cv.group", column, why)
    return groups


def make_folds(data: TrainData, cv: CVSpec | None, task: Task, seed: int) -> list[Fold]:
    """``(fit, check)`` position pairs into the training rows, from ``cv`` (seeded), or the
    folds the data stage's split already made when ``cv`` is None."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

    if cv is None:
        if not data.splits.folds:
            why = "give train.cv, or folds in the data split"
            raise invalid_value("train.cv", None, why)
        return list(data.splits.folds)
    train = data.frame.iloc[data.splits.train]
    if len(train) < cv.folds:
        raise invalid_value("train.cv.folds", cv.folds, f"only {len(train)} training rows")
    labels, groups = train[data.target].to_numpy(), None
    splitter: Any = KFold(cv.folds, shuffle=True, random_state=seed)
    if cv.method == "stratified":
        if not task.is_classification:
            raise invalid_value("train.cv.method", cv.method, "needs a classification task")
        splitter = StratifiedKFold(cv.folds, shuffle=True, random_state=seed)
    elif cv.method == "group":
        groups = _groups(train, cv.group, cv.folds)
        splitter = GroupKFold(cv.folds, shuffle=True, random_state=seed)
    try:
        pairs = list(splitter.split(np.zeros(len(train)), labels, groups))
    except ValueError as exc:
        raise invalid_value("train.cv", cv.method, str(exc)) from None
    return [(fit.astype(np.intp), check.astype(np.intp)) for fit, check in pairs]


@dataclass(frozen=True, eq=False)
class FoldJob:
    """Everything one fold needs, picklable for executors (the client is not pickled)."""

    index: int
    family: str | ModelFamily
    params: dict[str, Any]
    data: TrainData
    spec: TrainSpec
    parent_run_id: str
    experiment: str
    store_url: str
    artifacts_url: str
    client: Client | None = field(default=None, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["client"] = None  # a worker opens its own: connections do not travel
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def run_fold(job: FoldJob) -> FoldResult:
    """Train one fold into a child run of the cross-validation run (module-level, so process
    and Ray executors can ship it)."""
    client = job.client or Client(job.store_url, job.artifacts_url)
    try:
        tags = {"fold": job.index, "parent_kind": "cv"}
        name = f"fold-{job.index}"
        with client.start_run(job.experiment, name, tags=tags, parent=job.parent_run_id) as run:
            result = train_candidate(run, job.family, job.params, job.data, job.spec)
        rows = job.data.splits
        sizes = len(rows.train), len(rows.validation)
        return FoldResult(job.index, run.run_id, result.metrics, *sizes)
    finally:
        if job.client is None:
            client.close()


def _summarise(folds: list[FoldResult]) -> tuple[dict[str, float], dict[str, float]]:
    names = list(folds[0].metrics)
    values = {name: np.array([fold.metrics[name] for fold in folds]) for name in names}
    mean = {name: float(np.mean(v)) for name, v in values.items()}
    std = {name: float(np.std(v)) for name, v in values.items()}
    return mean, std


def _jobs(
    run: ActiveRun,
    family: str | ModelFamily,
    params: Mapping[str, Any],
    data: TrainData,
    spec: TrainSpec,
    folds: list[Fold],
) -> Iterator[FoldJob]:
    train = data.splits.train
    for index, (fit, check) in enumerate(folds):
        client = run.client
        yield FoldJob(
            index=index,
            family=family,
            params=dict(params),
            data=data.restricted(train[fit], train[check]),
            spec=spec,
            parent_run_id=run.run_id,
            experiment=run.experiment,
            store_url=client.store_url,
            artifacts_url=client.artifacts_url,
            client=client,
        )


def cross_validate(
    client_or_run: Client | ActiveRun,
    family_name: str | ModelFamily,
    params: Mapping[str, Any],
    data: TrainData,
    spec: TrainSpec,
    *,
    parent: ActiveRun | str | None = None,
    experiment: str = "default",
    name: str | None = None,
    map_fn: MapFn = map,
    progress: bool = False,
) -> CVResult:
    """Cross-validate one candidate (see the module docstring); folds from ``spec.cv``.

    Runs are handled as in :func:`train_candidate`: with a client a new run is started (a
    child of ``parent`` when given); with an active run, the folds are its children.

        result = cross_validate(client, "linear", {}, data, TrainSpec(cv=CVSpec(folds=5)))
        result.mean["roc_auc"], result.std["roc_auc"]
    """
    from rich.progress import Progress

    task, family, goal = prepare(family_name, data, spec, validation=False)
    folds = make_folds(data, spec.cv, task, spec.seed)
    label = name or f"cv-{family.info.name}"
    with (
        run_for(client_or_run, parent, experiment, label) as run,
        Progress(disable=not progress, transient=True) as bar,
    ):
        method = spec.cv.method if spec.cv is not None else f"split:{data.splits.spec.method}"
        run.set_tags({"family": family.info.name, "task": task.value, "objective": goal.name})
        run.log_params({**params, "cv_folds": len(folds), "cv_method": method, "seed": spec.seed})
        counter = bar.add_task(f"cross-validating {family.info.name}", total=len(folds))
        results: list[FoldResult] = []
        fixed = spec.model_copy(update={"task": task.value})  # every fold: the same task
        for result in map_fn(run_fold, _jobs(run, family_name, params, data, fixed, folds)):
            results.append(result)
            bar.advance(counter)
        results.sort(key=lambda fold: fold.index)
        mean, std = _summarise(results)
        logged = {f"cv_{k}_mean": v for k, v in mean.items()}
        run.log_metrics({**logged, **{f"cv_{k}_std": v for k, v in std.items()}}, step=0)
        return CVResult(run.run_id, goal.name, results, mean, std)
