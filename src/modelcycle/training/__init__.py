"""The training stage: tracked training, cross-validation and tuning of model candidates.

    from modelcycle.training import CVSpec, TrainData, TrainSpec, TuneSpec
    from modelcycle.training import cross_validate, train_candidate, tune

    data = TrainData.from_frame(frame, "target", SplitSpec(method="stratified"))
    spec = TrainSpec(class_weights=True, cv=CVSpec(folds=5), tune=TuneSpec(trials=30))
    fitted = train_candidate(client, "linear", {"C": 0.5}, data, spec)
    checked = cross_validate(client, "linear", {"C": 0.5}, data, spec)
    best = tune(client, "linear", data, spec)      # best.best_params, best.best_run_id

Every training is a run: per-iteration metrics as series, final validation metrics, the best
iteration; folds and trials are child runs. Optuna studies live beside the metadata store
(see ``_study``) so tuning resumes after a crash and several workers share one study.
"""

from modelcycle.training._cv import (
    CVResult,
    FoldJob,
    FoldResult,
    MapFn,
    cross_validate,
    make_folds,
    run_fold,
)
from modelcycle.training._data import TrainData
from modelcycle.training._fit import TrainResult, train_candidate
from modelcycle.training._metrics import METRICS, Metric, infer_task, metric_names, objective, score
from modelcycle.training._parallel import TuneJob, run_tune_worker, tune_parallel
from modelcycle.training._spec import CandidateSpec, CVSpec, ParamSpace, TrainSpec, TuneSpec
from modelcycle.training._study import OPTUNA_SCHEMA, OPTUNA_SQLITE_FILE, study_storage
from modelcycle.training._tuning import TuneResult, study_name_for, tune

__all__ = [
    "METRICS",
    "OPTUNA_SCHEMA",
    "OPTUNA_SQLITE_FILE",
    "CVResult",
    "CVSpec",
    "CandidateSpec",
    "FoldJob",
    "FoldResult",
    "MapFn",
    "Metric",
    "ParamSpace",
    "TrainData",
    "TrainResult",
    "TrainSpec",
    "TuneJob",
    "TuneResult",
    "TuneSpec",
    "cross_validate",
    "infer_task",
    "make_folds",
    "metric_names",
    "objective",
    "run_fold",
    "run_tune_worker",
    "score",
    "study_name_for",
    "study_storage",
    "train_candidate",
    "tune",
    "tune_parallel",
]
