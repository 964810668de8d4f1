"""System measurements: sane positive numbers, the promised number of calls, bounded time."""

from __future__ import annotations

import os
import pickle
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from sklearn.datasets import load_breast_cancer

from modelcycle.errors import InvalidValueError
from modelcycle.evaluation._system import latency, peak_memory, size_on_disk, throughput


@pytest.fixture(scope="module")
def cancer() -> tuple[Any, pd.DataFrame]:
    """A small LightGBM fitted on breast cancer, and its feature frame."""
    x, y = load_breast_cancer(as_frame=True, return_X_y=True)
    return LGBMClassifier(n_estimators=20, verbose=-1, random_state=0).fit(x, y), x


class Recorder:
    """Wraps ``predict`` and remembers how many rows each call received."""

    def __init__(self, predict: Any, pause: float = 0.0) -> None:
        self.predict, self.pause = predict, pause
        self.rows: list[int] = []
        self.first: list[Any] = []

    def __call__(self, frame: pd.DataFrame) -> Any:
        self.rows.append(len(frame))
        self.first.append(frame.index[0])
        time.sleep(self.pause)
        return self.predict(frame)


def test_latency_times_the_asked_single_row_calls_cycling_over_the_rows(cancer: Any) -> None:
    model, x = cancer
    rows = x.head(30)
    recorder = Recorder(model.predict)
    got = latency(recorder, rows, calls=50, warmup=5)
    assert got["calls"] == 50
    assert recorder.rows == [1] * 55  # every call, warm-up included, predicts one row
    assert recorder.first[5:] == [rows.index[i % 30] for i in range(50)]
    assert 0 < got["p50_ms"] <= got["p90_ms"] <= got["p99_ms"]
    assert got["mean_ms"] > 0


def test_latency_stops_early_when_the_model_is_slow(cancer: Any) -> None:
    model, x = cancer
    slow = Recorder(model.predict, pause=0.02)
    got = latency(slow, x, calls=1000, warmup=0, max_seconds=0.1)
    assert 1 <= got["calls"] < 1000
    assert got["p50_ms"] >= 20.0  # each call slept 20 ms
    assert len(slow.rows) == got["calls"]


def test_throughput_predicts_whole_batches_at_most_max_calls_times(cancer: Any) -> None:
    model, x = cancer
    recorder = Recorder(model.predict)
    got = throughput(recorder, x, batch_rows=100, min_seconds=60.0, max_calls=4)
    assert got["calls"] == 4  # max_calls comes first: min_seconds is never reached
    assert recorder.rows == [100] * 5  # one warm-up call, then the timed ones
    assert got["batch_rows"] == 100 and got["rows_per_second"] > 0 and got["seconds"] > 0
    small = throughput(model.predict, x.head(50), batch_rows=1000, min_seconds=0.0, max_calls=9)
    assert small["batch_rows"] == 50  # the whole frame when it is smaller than a batch
    assert small["calls"] == 1  # nothing left to wait for after one call


def test_peak_memory_sees_numpy_allocations_made_while_predicting(cancer: Any) -> None:
    model, x = cancer

    def predict_with_a_buffer(frame: pd.DataFrame) -> Any:
        buffer = np.ones((1_000_000,))  # 8 MB through NumPy's allocator
        return model.predict(frame) + buffer[: len(frame)]

    assert peak_memory(predict_with_a_buffer, x)["peak_mb"] >= 8.0
    assert peak_memory(model.predict_proba, x)["peak_mb"] > 0
    assert not tracemalloc.is_tracing()  # the trace it started is stopped


def test_peak_memory_leaves_someone_else_s_trace_running(cancer: Any) -> None:
    model, x = cancer
    tracemalloc.start()
    try:
        assert peak_memory(model.predict, x)["peak_mb"] > 0
        assert tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()


def test_size_on_disk_sums_file_sizes(cancer: Any, tmp_path: Path) -> None:
    model, _ = cancer
    blob = pickle.dumps(model)
    folder = tmp_path / "model"
    (folder / "native").mkdir(parents=True)
    (folder / "model.pkl").write_bytes(blob)
    (folder / "native" / "model.txt").write_text(model.booster_.model_to_string())
    (folder / "MANIFEST.json").write_text('{"loader": "pickle"}')
    expected = sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(folder)
        for name in names
    )
    assert size_on_disk(folder) == expected
    assert size_on_disk(str(folder / "model.pkl")) == os.path.getsize(folder / "model.pkl")
    assert size_on_disk(blob) == len(blob) == os.path.getsize(folder / "model.pkl")
    with pytest.raises(InvalidValueError, match="no such file or folder"):
        size_on_disk(tmp_path / "missing")


def test_measurements_refuse_empty_frames_and_bad_bounds(cancer: Any) -> None:
    model, x = cancer
    with pytest.raises(InvalidValueError, match="needs at least one row"):
        latency(model.predict, x.head(0))
    with pytest.raises(InvalidValueError, match="calls: must be positive"):
        latency(model.predict, x, calls=0)
    with pytest.raises(InvalidValueError, match="max_calls: must be positive"):
        throughput(model.predict, x, max_calls=0)
    with pytest.raises(InvalidValueError, match="needs at least one row"):
        peak_memory(model.predict, x.head(0))
