"""The background metric writer: batching, failure surfacing, back-pressure, crash bounds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from modelcycle.errors import StoreUnavailableError
from modelcycle.store import MetadataStore, PointRow
from modelcycle.store._metrics import MetricRepository
from modelcycle.tracking import Client, MetricWriter


def _wait_for(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


class FlakyRepository(MetricRepository):
    """A real repository whose writes fail while ``broken`` is set (a store outage)."""

    def __init__(self, store: MetadataStore) -> None:
        super().__init__(store.db)
        self.broken = threading.Event()
        self.delay = 0.0
        self.batches: list[int] = []

    def write_points(self, points: Sequence[PointRow]) -> None:
        if self.broken.is_set():
            raise StoreUnavailableError("cannot write to store test: disk full")
        time.sleep(self.delay)
        self.batches.append(len(points))
        super().write_points(points)


@pytest.fixture
def run_id(store: MetadataStore) -> str:
    experiment = store.experiments.get_or_create("writer")
    return store.runs.create(experiment.experiment_id)


def test_points_reach_the_store_without_an_explicit_flush(
    store: MetadataStore, run_id: str
) -> None:
    writer = MetricWriter(store.metrics, flush_interval=0.05)
    writer.add([(run_id, "loss", 0.1 * i, i, 1) for i in range(10)])
    assert _wait_for(lambda: store.metrics.count([run_id]) == 10)
    writer.close()


def test_points_are_written_in_batches(store: MetadataStore, run_id: str) -> None:
    repo = FlakyRepository(store)
    writer = MetricWriter(repo, batch_size=1000, flush_interval=30)
    for i in range(5000):
        writer.add([(run_id, "loss", 1.0, i, 1)])
    writer.flush()
    assert sum(repo.batches) == 5000
    assert len(repo.batches) <= 10  # batches, not one transaction per point
    writer.close()


def test_a_store_outage_surfaces_on_flush_and_loses_nothing(
    store: MetadataStore, run_id: str
) -> None:
    repo = FlakyRepository(store)
    writer = MetricWriter(repo, flush_interval=0.01)
    repo.broken.set()
    writer.add([(run_id, "loss", 1.0, i, 1) for i in range(100)])
    with pytest.raises(
        StoreUnavailableError,
        match=r"100 metric point\(s\) not stored yet.*"
        "disk full",
    ):
        writer.flush()
    assert writer.pending == 100
    repo.broken.clear()
    writer.add([(run_id, "loss", 1.0, 100, 1)])
    writer.flush()
    assert store.metrics.count([run_id]) == 101
    writer.close()


def test_a_writer_that_falls_behind_blocks_instead_of_dropping(
    store: MetadataStore, run_id: str
) -> None:
    repo = FlakyRepository(store)
    repo.delay = 0.02
    writer = MetricWriter(repo, batch_size=50, flush_interval=0.01, max_pending=100)
    for i in range(1000):
        writer.add([(run_id, "loss", 1.0, i, 1)])
        assert writer.pending <= 100 + 1
    writer.close()
    assert store.metrics.count([run_id]) == 1000


_KILLED_CHILD = """
import sys, time
from modelcycle.tracking import Client
client = Client(sys.argv[1], sys.argv[2], flush_interval=0.1)
run = client.start_run("crash")
for i in range(1000):
    run.log_metric("loss", 1.0 / (i + 1))
print(run.run_id, flush=True)
time.sleep(0.5)  # longer than flush_interval: these points must be stored
print("slept", flush=True)
for i in range(10):
    run.log_metric("late", float(i))
time.sleep(60)
"""


def test_sigkill_loses_at_most_the_last_flush_interval(store_url: str, tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CHILD, store_url, str(tmp_path / "a")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    assert child.stdout.readline().strip() == "slept"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    child.stdout.close()
    with Client(store_url, str(tmp_path / "a")) as reader:
        assert len(reader.runs.history(run_id, "loss")) == 1000
        # the run itself stays RUNNING: nobody lived to end it
        assert reader.runs.show(run_id).status.value == "RUNNING"
