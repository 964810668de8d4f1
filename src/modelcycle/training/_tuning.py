"""Hyperparameter tuning with Optuna, every trial a tracked child run.

``tune`` searches one candidate's hyperparameters:

- **sampler**: TPE by default (``random`` on request), seeded with the spec's seed plus the
  number of trials the study already holds, so a resumed study does not redraw its first
  trials;
- **space**: the family's default search space, overridden per hyperparameter by the spec
  (see ``_space``); the candidate's fixed ``params`` are never searched;
- **pruning**: a ``MedianPruner`` reads every iteration's validation metric as the family
  reports it (``trial.report``); when a trial falls below the median of earlier trials at the
  same iteration, the ``on_iteration`` callback returns True, the fit stops, and the trial is
  PRUNED. With ``pruner: none`` nothing reads them, so they are not reported to the study
  (each is a database write; the trial's run holds the whole series anyway);
- **preprocessing**: fitted once per tuning (per worker) on the training rows and shared by
  every trial: it depends on the data, not on the hyperparameters searched;
- **runs**: each trial is a child run of the tuning run, with its params, per-iteration and
  final metrics, and tags ``optuna_state`` (COMPLETE, PRUNED, FAIL), ``optuna_trial`` and
  ``optuna_study``; its status is FINISHED, KILLED (pruned) or FAILED;
- **study**: stored beside the metadata store (see ``_study``) with ``load_if_exists``, so a
  crashed tuning resumes, and ``trials`` counts the study's finished (complete or pruned)
  trials: after 3 trials and a crash, ``trials: 5`` runs 2 more. ``n_jobs`` threads draw from
  the one study; processes or machines running ``tune`` with the same study name share it.

A trial whose fit raises an ordinary exception (a diverging fit, an invalid combination of
hyperparameters) FAILs and the study goes on; a modelcycle error (a misconfigured spec, an
unreachable store) stops the tuning, since every further trial would fail the same way.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelcycle.errors import InvalidValueError, ModelcycleError, invalid_value
from modelcycle.models import ModelFamily, Task
from modelcycle.tracking import ActiveRun, Client
from modelcycle.training._data import TrainData
from modelcycle.training._fit import PreparedRows, prepare, prepare_rows, run_for, train_candidate
from modelcycle.training._metrics import Metric, iteration_value
from modelcycle.training._space import suggest
from modelcycle.training._spec import CandidateSpec, TrainSpec, TuneSpec
from modelcycle.training._study import study_storage
from modelcycle.types import RunStatus

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = ["TuneResult", "study_name_for", "tune"]


@dataclass(frozen=True)
class TuneResult:
    """The outcome of a tuning: the best trial and how the study's trials ended.

    ``best_params`` are the full hyperparameters of the best trial (fixed ones included), ready
    for :func:`train_candidate`; ``trials`` counts every trial of the study, across resumes.
    """

    run_id: str
    study_name: str
    family: str
    objective: str
    direction: str
    best_params: dict[str, Any]
    best_value: float
    best_run_id: str
    trials: int
    complete: int
    pruned: int
    failed: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(vars(self))


class _Pruning:
    """``on_iteration`` hook: report the validation metric, stop the fit when pruned (a
    tuning without a pruner reports nothing)."""

    def __init__(self, trial: Any, goal: Metric, report: bool = True) -> None:
        self.trial, self.goal, self.report, self.pruned = trial, goal, report, False

    def __call__(self, iteration: int, metrics: dict[str, float]) -> bool | None:
        if not self.report:
            return None
        value = iteration_value(metrics, self.goal)
        if value is None or not math.isfinite(value):
            return None
        self.trial.report(value, iteration)
        if self.trial.should_prune():
            self.pruned = True
            return True
        return None


def study_name_for(
    experiment: str, candidate: CandidateSpec, data: TrainData, task: Task, goal: Metric
) -> str:
    """The default study name: experiment, family and a digest of what the study searches
    (candidate, task, objective, data and split), so the same work resumes the same study."""
    described = {
        "candidate": candidate.model_dump(mode="json"),
        "task": task.value,
        "objective": goal.name,
        "data": data.fingerprint(),
        "preprocessing": data.preprocessing.model_dump(mode="json"),
    }
    digest = hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode())
    return f"{experiment}.{candidate.family}.{digest.hexdigest()[:12]}"


def _sampler(settings: TuneSpec, seed: int) -> Any:
    import optuna

    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _pruner(settings: TuneSpec) -> Any:
    import optuna

    if settings.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner()


def _open_study(storage: Any, name: str, goal: Metric, settings: TuneSpec, seed: int) -> Any:
    """Create or load the study; refuse one that optimises something else."""
    import optuna

    study = optuna.create_study(
        storage=storage, study_name=name, direction=goal.direction, load_if_exists=True
    )
    stored = study.user_attrs.get("objective")
    if stored is None:
        study.set_user_attr("objective", goal.name)
        for params in settings.start:  # a new study tries these first
            study.enqueue_trial(params, skip_if_exists=True)
    elif stored != goal.name or study.direction.name.lower() != goal.direction:
        why = f"the stored study optimises {stored}; this tuning's objective is {goal.name}"
        raise invalid_value("train.tune.study_name", name, why)
    offset = len(study.get_trials(deepcopy=False))
    return optuna.load_study(
        study_name=name,
        storage=storage,
        sampler=_sampler(settings, seed + offset),
        pruner=_pruner(settings),
    )


def _finished(study: Any) -> int:
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


class _Objective:
    """One trial: suggest params, train them into a child run, report or prune."""

    def __init__(
        self,
        run: ActiveRun,
        family: ModelFamily,
        candidate: CandidateSpec,
        data: TrainData,
        spec: TrainSpec,
        task: Task,
        goal: Metric,
    ) -> None:
        self.run, self.family, self.candidate = run, family, candidate
        self.data, self.spec, self.task, self.goal = data, spec, task, goal
        self.prunes = spec.tune is None or spec.tune.pruner != "none"
        self._rows: PreparedRows | None = None
        self._lock = threading.Lock()

    def rows(self) -> PreparedRows:
        """The preprocessed rows, prepared by the first trial that needs them (``n_jobs``
        threads wait for it rather than fitting it twice)."""
        with self._lock:
            if self._rows is None:
                self._rows = prepare_rows(self.data)
            return self._rows

    def __call__(self, trial: Any) -> float:
        import optuna

        space = self.candidate.search_space
        params = suggest(trial, self.family, self.task, self.candidate.params, space)
        trial.set_user_attr("params", json.loads(json.dumps(params, default=str)))
        tags = {"optuna_study": trial.study.study_name, "optuna_trial": trial.number}
        with self.run.start_child(f"trial-{trial.number}", tags=tags) as child:
            trial.set_user_attr("run_id", child.run_id)
            pruning = _Pruning(trial, self.goal, report=self.prunes)
            try:
                result = train_candidate(
                    child,
                    self.family,
                    params,
                    self.data,
                    self.spec,
                    on_iteration=pruning,
                    prepared=self.rows(),
                )
            except ModelcycleError:
                child.set_tag("optuna_state", "FAIL")
                raise
            except Exception as exc:  # one bad trial must not end the study
                child.set_tag("optuna_state", "FAIL")
                child.end(RunStatus.FAILED, f"{type(exc).__name__}: {exc}")
                trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
                return math.nan
            if pruning.pruned:
                child.set_tag("optuna_state", "PRUNED")
                child.end(RunStatus.KILLED, "pruned by the median of earlier trials")
                raise optuna.TrialPruned(f"pruned at iteration {result.iterations - 1}")
            child.set_tag("optuna_state", "COMPLETE")
            return result.value


def _result(run: ActiveRun, study: Any, family: str, goal: Metric) -> TuneResult:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    count = {state: sum(t.state == state for t in trials) for state in TrialState}
    if count[TrialState.COMPLETE] == 0:
        errors = [t.user_attrs["error"] for t in trials if "error" in t.user_attrs]
        first = f"; first error: {errors[0]}" if errors else ""
        raise InvalidValueError(
            f"tuning {family}: no trial completed ({count[TrialState.FAIL]} failed, "
            f"{count[TrialState.PRUNED]} pruned){first}"
        )
    best = study.best_trial
    return TuneResult(
        run_id=run.run_id,
        study_name=study.study_name,
        family=family,
        objective=goal.name,
        direction=goal.direction,
        best_params=dict(best.user_attrs.get("params", best.params)),
        best_value=float(best.value),
        best_run_id=str(best.user_attrs["run_id"]),
        trials=len(trials),
        complete=count[TrialState.COMPLETE],
        pruned=count[TrialState.PRUNED],
        failed=count[TrialState.FAIL],
    )


def _log_result(run: ActiveRun, result: TuneResult) -> None:
    run.set_tags({"best_run_id": result.best_run_id})
    counts = {"trials": result.trials, "trials_complete": result.complete}
    counts.update(trials_pruned=result.pruned, trials_failed=result.failed)
    best = {f"best_val_{result.objective}": result.best_value}
    run.log_metrics({**best, **{key: float(value) for key, value in counts.items()}})
    run.log_text(json.dumps(result.best_params, indent=2, default=str), "best_params.json")


def _optimize(
    study: Any,
    trial: _Objective,
    settings: TuneSpec,
    bar: Progress,
    label: str,
    share: int | None = None,
) -> None:
    """Run the trials still missing from the study's total (at most ``share`` of them, when
    several workers split the total), in ``n_jobs`` threads."""
    import optuna

    remaining = settings.trials - _finished(study)
    if share is not None:
        remaining = min(share, remaining)
    if remaining <= 0:
        return
    counter = bar.add_task(f"tuning {label}", total=remaining)
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    study.optimize(
        trial,
        n_trials=remaining,
        timeout=settings.timeout_s,
        n_jobs=settings.n_jobs,
        callbacks=[  # other processes sharing the study count towards the total too
            optuna.study.MaxTrialsCallback(settings.trials, states=finished),
            lambda _study, _trial: bar.advance(counter),
        ],
    )


def _candidate(candidate: CandidateSpec | str | ModelFamily) -> tuple[CandidateSpec, Any]:
    if isinstance(candidate, CandidateSpec):
        return candidate, candidate.family
    if isinstance(candidate, str):
        return CandidateSpec(family=candidate), candidate
    spec = CandidateSpec.model_construct(family=candidate.info.name, params={}, search_space=None)
    return spec, candidate


def tune(
    client_or_run: Client | ActiveRun,
    candidate: CandidateSpec | str | ModelFamily,
    data: TrainData,
    spec: TrainSpec,
    *,
    parent: ActiveRun | str | None = None,
    experiment: str = "default",
    name: str | None = None,
    progress: bool = False,
    share: int | None = None,
) -> TuneResult:
    """Tune ``candidate`` with ``spec.tune`` (default ``TuneSpec()``); see the module docstring.

    ``share`` caps how many trials this call runs: parallel workers each get a share of the
    remaining total, so the study ends with exactly ``trials`` finished trials.

    Runs are handled as in :func:`train_candidate`: with a client a tuning run is started (a
    child of ``parent`` when given); with an active run, the trials are its children.

        spec = TrainSpec(tune=TuneSpec(trials=30))
        best = tune(client, CandidateSpec(family="lightgbm"), data, spec)
        train_candidate(client, "lightgbm", best.best_params, data, spec)
    """
    from rich.progress import Progress

    settings = spec.tune or TuneSpec()
    described, family_ref = _candidate(candidate)
    task, family, goal = prepare(family_ref, data, spec)
    with (
        run_for(client_or_run, parent, experiment, name or f"tune-{family.info.name}") as run,
        study_storage(run.client.store_url) as storage,
        Progress(disable=not progress, transient=True) as bar,
    ):
        study_name = settings.study_name or study_name_for(
            run.experiment, described, data, task, goal
        )
        study = _open_study(storage, study_name, goal, settings, spec.seed)
        tags = {"family": family.info.name, "task": task.value, "objective": goal.name}
        run.set_tags({**tags, "optuna_study": study_name})
        run.log_params({**described.params, **settings.model_dump(exclude={"study_name", "start"})})
        fixed = spec.model_copy(update={"task": task.value})  # every trial: the same task
        trial = _Objective(run, family, described, data, fixed, task, goal)
        _optimize(study, trial, settings, bar, family.info.name, share)
        result = _result(run, study, family.info.name, goal)
        _log_result(run, result)
        return result
