"""Contract of the metadata store: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import math

import pytest

from modelcycle.errors import (
    AlreadyExistsError,
    ConflictError,
    FilterSyntaxError,
    InvalidValueError,
    NotFoundError,
)
from modelcycle.store import MetadataStore
from modelcycle.types import ArtifactInfo, DatasetInput, RunStatus


def _run(store: MetadataStore, experiment: str = "exp", name: str | None = None) -> str:
    exp = store.experiments.get_or_create(experiment)
    return store.runs.create(exp.experiment_id, name)


def test_experiment_names_are_unique(store: MetadataStore) -> None:
    store.experiments.create("churn")
    with pytest.raises(AlreadyExistsError, match="experiment 'churn' already exists"):
        store.experiments.create("churn")
    assert store.experiments.get_or_create("churn").name == "churn"
    assert [e.name for e in store.experiments.list()] == ["churn"]


def test_unknown_experiment_is_not_found(store: MetadataStore) -> None:
    with pytest.raises(NotFoundError, match="experiment 'nope' not found"):
        store.experiments.get("nope")


def test_run_starts_running_and_ends_with_status_and_end_time(store: MetadataStore) -> None:
    run_id = _run(store, name="first")
    run = store.runs.get(run_id)
    assert (run.status, run.end_time, run.name) == (RunStatus.RUNNING, None, "first")
    store.runs.end(run_id, RunStatus.FAILED, "ValueError: boom")
    run = store.runs.get(run_id)
    assert run.status is RunStatus.FAILED
    assert run.error == "ValueError: boom"
    assert run.end_time is not None and run.end_time >= run.start_time


def test_ended_run_cannot_end_again_differently(store: MetadataStore) -> None:
    run_id = _run(store)
    store.runs.end(run_id, RunStatus.FINISHED)
    store.runs.end(run_id, RunStatus.FINISHED)  # idempotent
    with pytest.raises(ConflictError, match="already ended as FINISHED"):
        store.runs.end(run_id, RunStatus.KILLED)


def test_params_are_immutable_but_relogging_same_value_is_fine(store: MetadataStore) -> None:
    run_id = _run(store)
    store.runs.log_params(run_id, {"lr": 0.1, "model": "lgbm"})
    store.runs.log_params(run_id, {"lr": 0.1})
    with pytest.raises(ConflictError, match=r"param 'lr' .* already '0\.1'"):
        store.runs.log_params(run_id, {"lr": 0.2})
    assert store.runs.get(run_id).params == {"lr": "0.1", "model": "lgbm"}


def test_tags_are_overwritten(store: MetadataStore) -> None:
    run_id = _run(store)
    store.runs.set_tags(run_id, {"stage": "dev"})
    store.runs.set_tags(run_id, {"stage": "prod", "owner": "ana"})
    assert store.runs.get(run_id).tags == {"stage": "prod", "owner": "ana"}


def test_latest_metric_is_highest_step_whatever_the_arrival_order(store: MetadataStore) -> None:
    run_id = _run(store)
    store.metrics.write_points([(run_id, "loss", 0.2, 5, 1000)])
    store.metrics.write_points([(run_id, "loss", 0.9, 1, 2000), (run_id, "loss", 0.5, 3, 3000)])
    assert store.runs.get(run_id).metrics == {"loss": 0.2}
    history = store.metrics.history(run_id, "loss")
    assert [(p.step, p.value) for p in history] == [(1, 0.9), (3, 0.5), (5, 0.2)]


def test_nan_and_infinities_round_trip(store: MetadataStore) -> None:
    run_id = _run(store)
    points = [
        (run_id, "nan", math.nan, 0, 1),
        (run_id, "up", math.inf, 0, 1),
        (run_id, "down", -math.inf, 0, 1),
    ]
    store.metrics.write_points(points)
    metrics = store.runs.get(run_id).metrics
    assert math.isnan(metrics["nan"])
    assert (metrics["up"], metrics["down"]) == (math.inf, -math.inf)
    assert math.isnan(store.metrics.history(run_id, "nan")[0].value)


def _three_runs(store: MetadataStore) -> dict[str, str]:
    ids = {}
    for name, model, auc in (("a", "lgbm", 0.95), ("b", "lgbm", 0.85), ("c", "logreg", 0.91)):
        run_id = _run(store, name=name)
        store.runs.log_params(run_id, {"model": model})
        store.metrics.write_points([(run_id, "auc", auc, 0, 1)])
        ids[name] = run_id
    store.runs.end(ids["b"], RunStatus.FAILED)
    return ids


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("metrics.auc > 0.9 and params.model = 'lgbm'", ["a"]),
        ("metrics.auc > 0.9", ["a", "c"]),
        ("metrics.auc >= 0.85 and not params.model = 'logreg'", ["a", "b"]),
        ("params.model in ('logreg', 'xgb') or status = 'FAILED'", ["b", "c"]),
        ("params.model like 'lg%'", ["a", "b"]),
        ("metrics.missing is null", ["a", "b", "c"]),
        ("name != 'a' and (metrics.auc < 0.9 or metrics.auc > 0.92)", ["b"]),
        ("experiment = 'exp' and status = 'running'", ["a", "c"]),
        ("start_time > '2000-01-01'", ["a", "b", "c"]),
        ("", ["a", "b", "c"]),
    ],
)
def test_search_filter_selects_matching_runs(
    store: MetadataStore, expression: str, expected: list[str]
) -> None:
    _three_runs(store)
    found = store.runs.search(expression, order_by=["name"])
    assert [run.name for run in found] == expected


def test_search_orders_by_metric_with_missing_last_and_limits(store: MetadataStore) -> None:
    ids = _three_runs(store)
    _run(store, name="no-metric")
    ordered = store.runs.search(order_by=["metrics.auc desc"])
    assert [run.name for run in ordered] == ["a", "c", "b", "no-metric"]
    assert [run.name for run in store.runs.search(order_by=["metrics.auc"], limit=2)] == ["b", "c"]
    assert store.runs.search("metrics.auc > 0.9", order_by=["metrics.auc"])[0].run_id == ids["c"]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("metrics.auc >", "position 13: expected a value, found the end"),
        ("metric.auc > 'high'", "metrics are numbers"),
        ("params.lr > 0.1", "params are text"),
        ("colour = 'red'", "unknown attribute 'colour'"),
        ("metrics.auc > 0.9 metrics.f1 > 0.5", "join conditions with and/or"),
        ("status = 'DONE'", "invalid status 'DONE'"),
    ],
)
def test_bad_filters_are_refused_with_the_reason(
    store: MetadataStore, expression: str, message: str
) -> None:
    with pytest.raises(FilterSyntaxError, match=message):
        store.runs.search(expression)


def test_children_are_listed_under_their_parent(store: MetadataStore) -> None:
    parent = _run(store, name="tuning")
    exp = store.experiments.get("exp")
    kids = {store.runs.create(exp.experiment_id, f"trial-{i}", parent) for i in range(3)}
    found = store.runs.search(parent_run_id=parent[:8])
    assert {run.run_id for run in found} == kids
    assert all(run.parent_run_id == parent for run in found)


def test_run_ids_resolve_from_unique_prefixes(store: MetadataStore) -> None:
    run_id = _run(store)
    assert store.runs.get(run_id[:6]).run_id == run_id
    with pytest.raises(NotFoundError, match="run 'ffffffffff' not found"):
        store.runs.get("ffffffffff")
    with pytest.raises(NotFoundError, match="run 'abc' not found"):
        store.runs.get("abc")


def test_logging_to_an_unknown_run_is_not_found(store: MetadataStore) -> None:
    with pytest.raises(NotFoundError, match="run 'nope' not found"):
        store.runs.log_params("nope", {"a": 1})


def test_inputs_and_artifacts_are_indexed_per_run(store: MetadataStore) -> None:
    run_id = _run(store)
    dataset = DatasetInput("iris", "ab" * 32, "sklearn", "train")
    store.runs.log_input(run_id, dataset)
    store.runs.log_input(run_id, dataset)  # idempotent
    artifact = ArtifactInfo("plots/roc.html", "cd" * 32, 120)
    store.runs.log_artifact(run_id, artifact)
    store.runs.log_artifact(run_id, artifact)
    with pytest.raises(ConflictError, match="already holds other content"):
        store.runs.log_artifact(run_id, ArtifactInfo("plots/roc.html", "ef" * 32, 1))
    run = store.runs.get(run_id)
    assert run.inputs == (dataset,)
    assert run.artifacts == (artifact,)


@pytest.mark.parametrize("key", ["", " padded", "semi;colon", "x" * 257])
def test_invalid_keys_are_refused(store: MetadataStore, key: str) -> None:
    run_id = _run(store)
    with pytest.raises(InvalidValueError, match="param key"):
        store.runs.log_params(run_id, {key: 1})


def test_limit_must_be_positive(store: MetadataStore) -> None:
    with pytest.raises(InvalidValueError, match="for limit"):
        store.runs.search(limit=0)


def test_step_cache_keeps_the_first_outputs_per_key(store: MetadataStore) -> None:
    run_id = _run(store)
    assert store.steps.get("k" * 64) is None
    store.steps.put("k" * 64, "data", {"dataset": "iris@abc"}, run_id)
    store.steps.put("k" * 64, "data", {"dataset": "iris@other"}, None)  # first writer wins
    assert store.steps.get("k" * 64) == {"dataset": "iris@abc", "run_id": run_id}
