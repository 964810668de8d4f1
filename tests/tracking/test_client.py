"""Tracking through the Python API, on every metadata backend."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from modelcycle.errors import InvalidValueError, NotFoundError
from modelcycle.tracking import Client
from modelcycle.types import RunStatus


def test_run_block_that_completes_ends_finished_with_everything_logged(client: Client) -> None:
    with client.start_run("iris", name="svm", params={"C": 1.0}, tags={"team": "ml"}) as run:
        run.log_param("kernel", "rbf")
        for epoch in range(5):
            run.log_metric("loss", 1 / (epoch + 1))
        run.log_metrics({"accuracy": 0.97, "f1": 0.96})
    stored = client.runs.show(run.run_id)
    assert stored.status is RunStatus.FINISHED
    assert stored.end_time is not None
    assert stored.params == {"C": "1.0", "kernel": "rbf"}
    assert stored.tags == {"team": "ml"}
    assert stored.metrics == {"accuracy": 0.97, "f1": 0.96, "loss": 0.2}
    assert [p.step for p in client.runs.history(run.run_id, "loss")] == [0, 1, 2, 3, 4]


def test_run_block_that_raises_ends_failed_with_the_error(client: Client) -> None:
    with pytest.raises(ZeroDivisionError), client.start_run("iris") as run:
        run.log_metric("loss", 0.5)
        _ = 1 / 0
    stored = client.runs.show(run.run_id)
    assert stored.status is RunStatus.FAILED
    assert stored.error is not None
    assert stored.error.startswith("ZeroDivisionError: division by zero")
    assert stored.metrics == {"loss": 0.5}  # points logged before the error are kept


def test_interrupted_run_block_ends_killed(client: Client) -> None:
    with pytest.raises(KeyboardInterrupt), client.start_run("iris") as run:
        raise KeyboardInterrupt
    assert client.runs.show(run.run_id).status is RunStatus.KILLED


def test_explicit_steps_and_timestamps_are_kept(client: Client) -> None:
    with client.start_run("iris") as run:
        run.log_metric("auc", 0.7, step=10, timestamp=1_700_000_000.5)
        run.log_metric("auc", 0.8, step=20)
        run.log_metric("auc", 0.75)  # after step 20 comes 21
    history = client.runs.history(run.run_id, "auc")
    assert [(p.step, p.value) for p in history] == [(10, 0.7), (20, 0.8), (21, 0.75)]
    assert history[0].timestamp.timestamp() == 1_700_000_000.5


def test_numpy_numbers_nan_and_infinity_are_accepted(client: Client) -> None:
    with client.start_run("iris") as run:
        run.log_metrics(
            {"np": np.float32(0.5), "int": np.int64(3), "nan": math.nan, "inf": -math.inf}
        )
    metrics = client.runs.show(run.run_id).metrics
    assert (metrics["np"], metrics["int"], metrics["inf"]) == (0.5, 3.0, -math.inf)
    assert math.isnan(metrics["nan"])


@pytest.mark.parametrize("value", ["0.5", None, True, 1 + 2j, [1.0]])
def test_non_numeric_metric_values_are_refused_at_the_call(client: Client, value: object) -> None:
    with client.start_run("iris") as run:
        with pytest.raises(InvalidValueError, match="for metric 'auc': expected a real number"):
            run.log_metric("auc", value)  # type: ignore[arg-type]
        run.log_metric("auc", 0.9)
    assert client.runs.show(run.run_id).metrics == {"auc": 0.9}


def test_bad_steps_are_refused(client: Client) -> None:
    with client.start_run("iris") as run:
        with pytest.raises(InvalidValueError, match="step of metric 'auc'"):
            run.log_metric("auc", 0.5, step=1.5)  # type: ignore[arg-type]
        with pytest.raises(InvalidValueError, match="outside the 64-bit range"):
            run.log_metric("auc", 0.5, step=2**64)


def test_child_runs_belong_to_their_parent(client: Client) -> None:
    with client.start_run("tuning", name="study") as parent:
        for trial in range(3):
            with parent.start_child(f"trial-{trial}", params={"lr": 0.1 * (trial + 1)}) as child:
                child.log_metric("auc", 0.8 + trial / 100)
    children = client.runs.list(parent=parent.run_id, order_by=["metrics.auc desc"])
    assert [run.name for run in children] == ["trial-2", "trial-1", "trial-0"]
    assert {run.experiment_name for run in children} == {"tuning"}


def test_runs_compare_lines_up_params_and_metrics(client: Client) -> None:
    ids = []
    for lr in (0.1, 0.2):
        with client.start_run("cmp", params={"lr": lr, "model": "gbm"}) as run:
            run.log_metric("auc", lr + 0.7)
        ids.append(run.run_id)
    comparison = client.runs.compare(ids)
    assert comparison.params == {"lr": ["0.1", "0.2"], "model": ["gbm", "gbm"]}
    assert comparison.metrics == {"auc": [pytest.approx(0.8), pytest.approx(0.9)]}
    assert comparison.differing_params == ["lr"]


def test_artifacts_are_stored_and_downloaded_verified(client: Client, tmp_path: Path) -> None:
    source = tmp_path / "report.txt"
    source.write_text("precision 0.9\n")
    with client.start_run("iris") as run:
        info = run.log_artifact(source, name="reports/eval.txt")
        run.log_text("{}", "config.json")
    stored = client.runs.show(run.run_id)
    assert [a.name for a in stored.artifacts] == ["config.json", "reports/eval.txt"]
    copy = client.runs.download(run.run_id, "reports/eval.txt", tmp_path / "copy.txt")
    assert copy.read_text() == "precision 0.9\n"
    assert info.size == len("precision 0.9\n")
    with pytest.raises(InvalidValueError, match=r"not logged; known: config\.json"):
        client.runs.download(run.run_id, "nope.txt", tmp_path / "x")


def test_artifact_names_escaping_the_store_are_refused(client: Client, tmp_path: Path) -> None:
    source = tmp_path / "f.txt"
    source.write_text("x")
    with client.start_run("iris") as run, pytest.raises(InvalidValueError, match="artifact name"):
        run.log_artifact(source, name="../../etc/passwd")


def test_dataset_inputs_are_recorded(client: Client) -> None:
    with client.start_run("iris") as run:
        run.log_input("iris", "a" * 64, source="sklearn", context="train")
    (dataset,) = client.runs.show(run.run_id).inputs
    assert (dataset.name, dataset.context, dataset.source) == ("iris", "train", "sklearn")


def test_unknown_run_id_is_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError, match="run 'deadbeef' not found"):
        client.runs.show("deadbeef")


def test_closing_the_client_ends_open_runs_and_flushes(store_url: str, tmp_path: Path) -> None:
    client = Client(store_url, str(tmp_path / "a"), flush_interval=60)
    run = client.start_run("open")
    run.log_metric("loss", 0.3)
    client.close()
    with Client(store_url, str(tmp_path / "a")) as reader:
        stored = reader.runs.show(run.run_id)
    assert (stored.status, stored.metrics) == (RunStatus.FINISHED, {"loss": 0.3})
