"""Parallel tuning: several workers, each in its own process or Ray task, share one study.

:func:`tune` already shares its study through the metadata database; this module fans it out
over an :class:`~modelcycle.executors.Executor`:

- the driver starts the tuning run (a child of ``parent_run_id``), fixes the study name (the
  spec's, or the one :func:`study_name_for` derives) and creates the study, so workers never
  race to create it;
- each worker opens its own :class:`~modelcycle.tracking.Client` on the same store and
  artifact URLs (connections do not travel) and calls :func:`tune` with that study name, the
  same total ``trials`` and one thread, into a worker run that is a child of the tuning run;
  trials are children of their worker's run. Worker ``i`` samples with ``seed + i``: workers
  started together with one seed would draw the same first trials;
- when every worker is done, the driver reads the best trial and the counts from the shared
  study and logs them on the tuning run, as :func:`tune` does.

``trials`` counts the study's finished trials, as in :func:`tune`. The driver splits the
trials still missing into one share per worker (they differ by at most one), and each worker
runs exactly its share, so the study ends with exactly ``trials`` trials (a worker stopping on
its own budget, not on a count of other workers' finished trials, avoids the overshoot of
Optuna's ``MaxTrialsCallback`` when trials end together).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelcycle.models import ModelFamily
from modelcycle.tracking import Client
from modelcycle.training._data import TrainData
from modelcycle.training._fit import prepare
from modelcycle.training._spec import CandidateSpec, TrainSpec, TuneSpec
from modelcycle.training._study import study_storage
from modelcycle.training._tuning import (
    TuneResult,
    _candidate,
    _finished,
    _log_result,
    _open_study,
    _result,
    study_name_for,
    tune,
)

if TYPE_CHECKING:
    from modelcycle.executors import Executor

__all__ = ["TuneJob", "run_tune_worker", "tune_parallel"]


@dataclass(frozen=True)
class TuneJob:
    """One tuning worker's share of the work, picklable for executors."""

    index: int
    candidate: CandidateSpec | str | ModelFamily
    data: TrainData
    spec: TrainSpec
    parent_run_id: str
    experiment: str
    store_url: str
    artifacts_url: str
    name: str
    log_level: int
    share: int


def run_tune_worker(job: TuneJob) -> TuneResult:
    """Draw trials from the job's study until it holds its total (module-level, so process
    and Ray executors can ship it)."""
    import optuna

    optuna.logging.set_verbosity(job.log_level)  # a fresh process logs at Optuna's default
    with Client(job.store_url, job.artifacts_url) as client:
        return tune(
            client,
            job.candidate,
            job.data,
            job.spec,
            parent=job.parent_run_id,
            experiment=job.experiment,
            name=job.name,
            share=job.share,
        )


def _worker_count(settings: TuneSpec, executor: Executor, remaining: int) -> int:
    wanted = settings.n_jobs if settings.n_jobs > 1 else executor.workers
    return max(0, min(wanted, remaining))


def _jobs(
    run_id: str,
    label: str,
    candidate: CandidateSpec | str | ModelFamily,
    data: TrainData,
    spec: TrainSpec,
    count: int,
    remaining: int,
    client: Client,
    experiment: str,
) -> Iterator[TuneJob]:
    import optuna

    for index in range(count):
        share = remaining // count + (1 if index < remaining % count else 0)
        yield TuneJob(
            index=index,
            candidate=candidate,
            data=data,
            spec=spec.model_copy(update={"seed": spec.seed + index}),
            parent_run_id=run_id,
            experiment=experiment,
            store_url=client.store_url,
            artifacts_url=client.artifacts_url,
            name=f"{label}.worker-{index}",
            log_level=optuna.logging.get_verbosity(),
            share=share,
        )


def tune_parallel(
    store_url: str,
    artifacts_url: str,
    candidate: CandidateSpec | str | ModelFamily,
    data: TrainData,
    spec: TrainSpec,
    executor: Executor,
    *,
    parent_run_id: str | None = None,
    experiment: str = "default",
    name: str | None = None,
) -> TuneResult:
    """Tune ``candidate`` with ``spec.tune`` on ``spec.tune.n_jobs`` workers (or, when that is
    1, ``executor.workers``) sharing one study; see the module docstring.

        with open_executor("local:2") as executor:
            best = tune_parallel(store_url, artifacts, "lightgbm", data, spec, executor)
        best.best_params, best.trials
    """
    settings = spec.tune or TuneSpec()
    described, family_ref = _candidate(candidate)
    task, family, goal = prepare(family_ref, data, spec)
    label = name or f"tune-{family.info.name}"
    with (
        Client(store_url, artifacts_url) as client,
        client.start_run(experiment, label, parent=parent_run_id) as run,
        study_storage(store_url) as storage,
    ):
        study_name = settings.study_name or study_name_for(
            run.experiment, described, data, task, goal
        )
        study = _open_study(storage, study_name, goal, settings, spec.seed)
        remaining = settings.trials - _finished(study)
        count = _worker_count(settings, executor, remaining)
        tags = {"family": family.info.name, "task": task.value, "objective": goal.name}
        run.set_tags({**tags, "optuna_study": study_name, "workers": count})
        run.log_params({**described.params, **settings.model_dump(exclude={"study_name", "start"})})
        shared = {"study_name": study_name, "n_jobs": 1}
        fixed: dict[str, Any] = {"task": task.value, "tune": settings.model_copy(update=shared)}
        worker_spec = spec.model_copy(update=fixed)
        jobs = _jobs(
            run.run_id,
            label,
            candidate,
            data,
            worker_spec,
            count,
            remaining,
            client,
            run.experiment,
        )
        executor.map(run_tune_worker, list(jobs))
        result = _result(run, study, family.info.name, goal)
        _log_result(run, result)
        return result
