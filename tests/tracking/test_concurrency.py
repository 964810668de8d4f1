"""Several processes logging to one store at once lose no point (SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from modelcycle.tracking import Client
from modelcycle.types import RunStatus

PROCESSES = 4
POINTS = 5_000


def _log_from_a_process(store_url: str, artifacts: str, worker: int, barrier: Any) -> None:
    barrier.wait(timeout=60)  # all processes start writing together
    client = Client(store_url, artifacts, batch_size=500, flush_interval=0.01)
    with (
        client,
        client.start_run("shared", name=f"worker-{worker}", params={"worker": worker}) as run,
    ):
        for step in range(POINTS // 2):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        for step in range(POINTS // 4):
            run.log_metrics({"a": float(step), "b": float(worker)}, step=step)


@pytest.mark.slow
def test_four_processes_logging_at_once_lose_no_point(store_url: str, tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    workers = [
        context.Process(
            target=_log_from_a_process,
            args=(store_url, str(tmp_path / "artifacts"), worker, barrier),
        )
        for worker in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=180)
    assert [process.exitcode for process in workers] == [0] * PROCESSES

    with Client(store_url, str(tmp_path / "artifacts")) as client:
        runs = client.runs.list(experiment="shared", limit=None)
        assert sorted(run.name for run in runs) == [f"worker-{i}" for i in range(PROCESSES)]
        assert {run.status for run in runs} == {RunStatus.FINISHED}
        assert client.metadata.metrics.count([run.run_id for run in runs]) == PROCESSES * POINTS
        for run in runs:
            assert run.metrics["loss"] == 1.0 / (POINTS // 2)
            assert run.metrics["b"] == float(run.params["worker"])
