"""Several processes logging to one store at once lose no point (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelcycle.tracking import Client
from modelcycle.types import RunStatus

PROCESSES = 4
POINTS = 5_000

_WORKER = """
import sys, time
from pathlib import Path
from modelcycle.tracking import Client

store, artifacts, worker, go, points = sys.argv[1:6]
worker, points = int(worker), int(points)
while not Path(go).exists():  # all processes start writing together
    time.sleep(0.005)
client = Client(store, artifacts, batch_size=500, flush_interval=0.01)
with client, client.start_run("shared", name=f"worker-{worker}", params={"worker": worker}) as run:
    for step in range(points // 2):
        run.log_metric("loss", 1.0 / (step + 1), step=step)
    for step in range(points // 4):
        run.log_metrics({"a": float(step), "b": float(worker)}, step=step)
"""


@pytest.mark.slow
def test_four_processes_logging_at_once_lose_no_point(store_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    artifacts = str(tmp_path / "artifacts")
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, store_url, artifacts, str(i), str(go), str(POINTS)]
        )
        for i in range(PROCESSES)
    ]
    go.touch()
    assert [worker.wait(timeout=180) for worker in workers] == [0] * PROCESSES

    with Client(store_url, artifacts) as client:
        runs = client.runs.list(experiment="shared", limit=None)
        assert sorted(run.name for run in runs) == [f"worker-{i}" for i in range(PROCESSES)]
        assert {run.status for run in runs} == {RunStatus.FINISHED}
        assert client.metadata.metrics.count([run.run_id for run in runs]) == PROCESSES * POINTS
        for run in runs:
            assert run.metrics["loss"] == 1.0 / (POINTS // 2)
            assert run.metrics["b"] == float(run.params["worker"])


_OPENER = """
import sys, time
from pathlib import Path
from modelcycle.store import MetadataStore

store, go = sys.argv[1:3]
while not Path(go).exists():
    time.sleep(0.001)
opened = MetadataStore(store)
opened.experiments.get_or_create("first-open")
opened.close()
"""


@pytest.mark.slow
def test_many_processes_opening_a_new_sqlite_store_at_once_all_succeed(tmp_path: Path) -> None:
    """Opening a new store waits for a writer that holds the file (up to the busy timeout)
    instead of failing with "database is locked", and six openers racing on it all succeed."""
    path = tmp_path / "fresh" / "modelcycle.db"
    path.parent.mkdir()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # a rollback-journal writer holds the new file
    go = tmp_path / "go"
    openers = [
        subprocess.Popen([sys.executable, "-c", _OPENER, f"sqlite:///{path}", str(go)])
        for _ in range(6)
    ]
    go.touch()
    time.sleep(1.0)
    holder.execute("COMMIT")
    holder.close()
    assert [opener.wait(timeout=120) for opener in openers] == [0] * 6
