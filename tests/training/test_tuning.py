"""Tuning with Optuna on both metadata backends: trials as child runs, pruning, resuming.

Every test names its own study (the ``study_name`` fixture): on PostgreSQL the ``optuna``
schema lives as long as the test session's database.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy as sa

from modelcycle.errors import InvalidValueError
from modelcycle.models import ModelFamily, Task
from modelcycle.models._family_linear import LinearFamily
from modelcycle.store import MetadataStore
from modelcycle.tracking import Client
from modelcycle.training import (
    CandidateSpec,
    ParamSpace,
    TrainData,
    TrainSpec,
    TuneSpec,
    _tuning,
    study_name_for,
    study_storage,
    train_candidate,
    tune,
)
from modelcycle.training._fit import PreparedRows, prepare_rows
from modelcycle.training._metrics import objective
from modelcycle.types import RunStatus


def _spec(name: str, trials: int, **options: Any) -> TrainSpec:
    return TrainSpec(tune=TuneSpec(trials=trials, study_name=name, **options))


def _study(client: Client, name: str) -> list[optuna.trial.FrozenTrial]:
    with study_storage(client.store_url) as storage:
        trials: list[optuna.trial.FrozenTrial] = optuna.load_study(
            study_name=name, storage=storage
        ).get_trials()
        return trials


def test_each_trial_is_a_child_run_of_the_tuning_run(
    client: Client, cancer_data: TrainData, study_name: str
) -> None:
    result = tune(client, "linear", cancer_data, _spec(study_name, 4), experiment="tuning")
    trials = client.runs.list(parent=result.run_id)
    assert len(trials) == 4 == result.trials == result.complete
    assert {run.tags["optuna_state"] for run in trials} == {"COMPLETE"}
    assert {run.tags["optuna_trial"] for run in trials} == {"0", "1", "2", "3"}
    assert all(run.status is RunStatus.FINISHED and "C" in run.params for run in trials)
    best = client.runs.show(result.best_run_id)
    assert best.parent_run_id == result.run_id
    assert best.metrics["val_roc_auc"] == pytest.approx(result.best_value)
    assert result.best_value == max(run.metrics["val_roc_auc"] for run in trials)
    assert float(best.params["C"]) == pytest.approx(result.best_params["C"])
    tuning = client.runs.show(result.run_id)
    assert tuning.tags["best_run_id"] == result.best_run_id
    assert tuning.metrics["trials_complete"] == 4 and tuning.tags["optuna_study"] == study_name


def test_pruning_stops_trials_that_fall_behind_the_median(
    client: Client, cancer_data: TrainData, epochs_family: ModelFamily, study_name: str
) -> None:
    # Learning rates from 1e-7 (learns nothing in 10 epochs) to 0.1: the slow trials fall
    # below the median of earlier trials at the same epoch and are stopped early.
    result = tune(client, epochs_family, cancer_data, _spec(study_name, 10))
    assert result.pruned >= 2 and result.complete >= 5 and result.trials == 10
    children = client.runs.list(parent=result.run_id)
    pruned = [run for run in children if run.tags["optuna_state"] == "PRUNED"]
    assert len(pruned) == result.pruned
    for run in pruned:
        assert run.status is RunStatus.KILLED
        assert run.metrics["iterations"] < 10  # stopped before the family's 10 epochs
    states = {t.state for t in _study(client, study_name)}
    assert optuna.trial.TrialState.PRUNED in states


def test_the_preprocessing_is_fitted_once_per_tuning_and_trials_score_as_alone(
    client: Client, cancer_data: TrainData, study_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fitted: list[TrainData] = []

    def counted(data: TrainData) -> PreparedRows:
        fitted.append(data)
        return prepare_rows(data)

    monkeypatch.setattr(_tuning, "prepare_rows", counted)
    result = tune(client, "linear", cancer_data, _spec(study_name, 4, n_jobs=2))
    assert result.trials == 4 and fitted == [cancer_data]
    alone = train_candidate(client, "linear", result.best_params, cancer_data, TrainSpec())
    assert alone.metrics["roc_auc"] == result.best_value  # the shared fit changes no number


def test_a_study_resumes_after_a_crash_up_to_the_total_number_of_trials(
    client: Client, cancer_data: TrainData, study_name: str
) -> None:
    first = tune(client, "linear", cancer_data, _spec(study_name, 3))
    client.close()  # the "crash": everything in memory is gone
    with Client(client.store_url, client.artifacts_url) as restarted:
        second = tune(restarted, "linear", cancer_data, _spec(study_name, 5))
        assert second.trials == 5 and second.complete == 5  # not 3 + 5
        assert len(restarted.runs.list(parent=first.run_id)) == 3
        assert len(restarted.runs.list(parent=second.run_id)) == 2
        again = tune(restarted, "linear", cancer_data, _spec(study_name, 5))
        assert again.trials == 5 and restarted.runs.list(parent=again.run_id) == []
    assert len(_study(client, study_name)) == 5


def test_an_interrupted_tuning_resumes_without_counting_the_lost_trial(
    client: Client, cancer_data: TrainData, study_name: str
) -> None:
    class Interrupted(LinearFamily):
        """The linear family, interrupted (Ctrl-C) while building its third trial's model."""

        calls = 0

        def build(self, task: Task, params: Mapping[str, Any], seed: int) -> Any:
            Interrupted.calls += 1
            if Interrupted.calls == 3:
                raise KeyboardInterrupt
            return super().build(task, params, seed)

    with pytest.raises(KeyboardInterrupt):
        tune(client, Interrupted(), cancer_data, _spec(study_name, 4))
    killed = [run for run in client.runs.list() if run.status is RunStatus.KILLED]
    assert {run.name for run in killed} == {"trial-2", "tune-linear"}
    result = tune(client, "linear", cancer_data, _spec(study_name, 4))
    assert (result.complete, result.failed, result.trials) == (4, 1, 5)


def test_spec_ranges_override_the_default_space_and_fixed_params_are_not_searched(
    client: Client, wine_data: TrainData, study_name: str
) -> None:
    candidate = CandidateSpec(
        family="linear",
        params={"max_iter": 3000},
        search_space={
            "C": ParamSpace(type="float", low=0.5, high=0.6),
            "class_weight": ParamSpace(type="categorical", choices=["balanced"]),
        },
    )
    spec = _spec(study_name, 3, sampler="random")
    result = tune(client, candidate, wine_data, spec)
    assert result.objective == "log_loss" and result.direction == "minimize"
    for trial in _study(client, study_name):
        assert set(trial.params) == {"C", "class_weight"}  # max_iter is fixed, not searched
        assert 0.5 <= trial.params["C"] <= 0.6
        assert trial.user_attrs["params"]["max_iter"] == 3000
    assert (
        result.best_params["max_iter"] == 3000 and result.best_params["class_weight"] == "balanced"
    )


def test_two_workers_share_one_study(
    client: Client, cancer_data: TrainData, study_name: str
) -> None:
    result = tune(client, "linear", cancer_data, _spec(study_name, 4, n_jobs=2))
    assert result.trials == 4 == len(client.runs.list(parent=result.run_id))


def test_a_failing_trial_fails_alone_and_a_misconfigured_one_stops_the_tuning(
    client: Client, cancer_data: TrainData, study_name: str
) -> None:
    candidate = CandidateSpec(
        family="linear",
        search_space={"max_iter": ParamSpace(type="categorical", choices=[-1, 2000])},
    )
    result = tune(client, candidate, cancer_data, _spec(study_name, 6, sampler="random"))
    failed = [r for r in client.runs.list(parent=result.run_id) if r.status is RunStatus.FAILED]
    assert len(failed) == result.failed >= 1 and result.complete == 6 - result.failed
    assert all(run.tags["optuna_state"] == "FAIL" and run.error for run in failed)
    depth = ParamSpace(type="int", low=1, high=3)
    unknown = CandidateSpec(family="linear", search_space={"depth": depth})
    with pytest.raises(InvalidValueError, match=r"\['depth'\] for hyperparameters of linear"):
        tune(client, unknown, cancer_data, _spec(f"{study_name}-2", 3), experiment="bad")
    (run,) = client.runs.list(experiment="bad", filter="attributes.name = 'tune-linear'")
    assert run.status is RunStatus.FAILED


def test_a_named_study_refuses_another_objective(
    client: Client, cancer_data: TrainData, study_name: str
) -> None:
    tune(client, "linear", cancer_data, _spec(study_name, 1))
    spec = _spec(study_name, 2).model_copy(update={"metric": "log_loss"})
    with pytest.raises(InvalidValueError, match="the stored study optimises roc_auc"):
        tune(client, "linear", cancer_data, spec)


def test_the_default_study_name_follows_the_work(
    cancer_data: TrainData, wine_data: TrainData
) -> None:
    linear = CandidateSpec(family="linear")
    goal = objective(Task.BINARY)
    name = study_name_for("exp", linear, cancer_data, Task.BINARY, goal)
    assert name.startswith("exp.linear.")
    assert name == study_name_for("exp", linear, cancer_data, Task.BINARY, goal)
    assert name != study_name_for("exp", linear, wine_data, Task.BINARY, goal)
    other = CandidateSpec(family="linear", params={"C": 2.0})
    assert name != study_name_for("exp", other, cancer_data, Task.BINARY, goal)


def test_optuna_tables_live_beside_ours_and_both_reopen(
    client: Client, cancer_data: TrainData, study_name: str, tmp_path: Path
) -> None:
    tune(client, "linear", cancer_data, _spec(study_name, 1))
    url = sa.make_url(client.store_url)
    if url.drivername.startswith("sqlite"):
        study_file = Path(str(url.database)).with_name("optuna.db")
        assert study_file.is_file()
        with contextlib.closing(sqlite3.connect(study_file)) as study_db:  # as the store: WAL
            assert study_db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        engine = sa.create_engine(client.store_url)
        assert "trials" not in sa.inspect(engine).get_table_names()
    else:
        engine = sa.create_engine(client.store_url)
        inspector = sa.inspect(engine)
        assert "trials" in inspector.get_table_names(schema="optuna")
        assert "trials" not in inspector.get_table_names(schema="public")
    engine.dispose()
    MetadataStore(client.store_url).close()  # our revision is untouched: it opens
    assert len(_study(client, study_name)) == 1
    assert not math.isnan(tune(client, "linear", cancer_data, _spec(study_name, 2)).best_value)
