"""System measurements of a model: how fast it answers, how much it holds, how big it is.

A model that is accurate but answers in a second, or does not fit in a serving container,
is not ready; these numbers go into the evaluation snapshot beside the metrics, and gates
read them (``latency.p99_ms <= 5``).

    latency       milliseconds per single-row call (p50, p90, p99, mean): serving's view
    throughput    rows per second when predicting in batches: batch scoring's view
    peak_memory   megabytes allocated while predicting once on a frame
    size_on_disk  bytes of a file, a folder or a serialized model

Every measurement is bounded in calls and in seconds (a few seconds at most by default), so
a slow model makes the evaluation report fewer calls, never hang. Timings use
``time.perf_counter`` and are wall-clock times on this machine, shared with whatever else
runs on it: compare them between models measured on the same machine.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from modelcycle.errors import invalid_value

__all__ = ["latency", "peak_memory", "size_on_disk", "throughput"]

#: ``predict(rows) -> predictions``, e.g. a fitted model's ``predict``.
Predict = Callable[[Any], Any]


def _rows(frame: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of a DataFrame (by position) or an array, keeping the type."""
    return frame.iloc[start:stop] if hasattr(frame, "iloc") else frame[start:stop]


def _checked_length(frame: Any, field: str) -> int:
    size = len(frame)
    if size == 0:
        raise invalid_value(field, "no rows", "needs at least one row to predict on")
    return size


def _positive(field: str, value: float) -> None:
    if value <= 0:
        raise invalid_value(field, value, "must be positive")


def latency(
    predict: Predict,
    rows: Any,
    *,
    calls: int = 200,
    warmup: int = 10,
    max_seconds: float = 5.0,
) -> dict[str, Any]:
    """Per-row latency: ``calls`` single-row calls of ``predict``, cycling over ``rows``.

    ``warmup`` untimed calls come first (caches, lazy initialisation). The timed loop stops
    early after ``max_seconds``, so ``calls`` in the result is the number actually timed.
    Single-row frames are sliced before timing: only ``predict`` is measured.
    Returns ``{p50_ms, p90_ms, p99_ms, mean_ms, calls}``.
    """
    _positive("calls", calls)
    _positive("max_seconds", max_seconds)
    if warmup < 0:
        raise invalid_value("warmup", warmup, "must be 0 or more")
    size = _checked_length(rows, "rows")
    singles = [_rows(rows, i, i + 1) for i in range(min(size, calls))]
    for i in range(warmup):
        predict(singles[i % len(singles)])
    timings: list[float] = []
    deadline = time.perf_counter() + max_seconds
    for i in range(calls):
        start = time.perf_counter()
        predict(singles[i % len(singles)])
        end = time.perf_counter()
        timings.append((end - start) * 1000.0)
        if end > deadline:
            break
    ms = np.asarray(timings)
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {
        "p50_ms": float(p50),
        "p90_ms": float(p90),
        "p99_ms": float(p99),
        "mean_ms": float(ms.mean()),
        "calls": len(timings),
    }


def throughput(
    predict: Predict,
    frame: Any,
    *,
    batch_rows: int = 1000,
    min_seconds: float = 0.5,
    max_calls: int = 50,
) -> dict[str, Any]:
    """Batch throughput: rows per second of ``predict`` on batches of ``batch_rows`` rows.

    The batch is the first ``batch_rows`` rows of ``frame`` (all of them when it has fewer).
    After one untimed warm-up call, batches are predicted (at least once) until
    ``min_seconds`` have passed or ``max_calls`` calls were made, whichever comes first (so a
    slow model costs two calls). Returns ``{rows_per_second, batch_rows, calls, seconds}``.
    """
    _positive("batch_rows", batch_rows)
    _positive("max_calls", max_calls)
    size = _checked_length(frame, "frame")
    batch = _rows(frame, 0, min(batch_rows, size))
    predict(batch)
    calls, elapsed = 0, 0.0
    while calls == 0 or (calls < max_calls and elapsed < min_seconds):
        start = time.perf_counter()
        predict(batch)
        elapsed += time.perf_counter() - start
        calls += 1
    rows = len(batch)
    return {
        "rows_per_second": rows * calls / max(elapsed, 1e-9),
        "batch_rows": rows,
        "calls": calls,
        "seconds": elapsed,
    }


def peak_memory(predict: Predict, frame: Any) -> dict[str, Any]:
    """Peak memory allocated while predicting once on ``frame``: ``{peak_mb}``.

    Measured with :mod:`tracemalloc` as the peak above what was allocated before the call.
    It sees every allocation through Python's allocators, NumPy and pandas arrays included;
    native allocations outside them (inside LightGBM's C++ library, a BLAS work buffer,
    PyTorch's CPU allocator) are not counted, so for such models this is a lower bound.
    An already running trace (someone else's) is left running.
    """
    _checked_length(frame, "frame")
    owned = not tracemalloc.is_tracing()
    if owned:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        predict(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if owned:
            tracemalloc.stop()
    return {"peak_mb": max(peak - before, 0) / 1e6}


def size_on_disk(path_or_bytes: str | os.PathLike[str] | bytes | bytearray | memoryview) -> int:
    """Bytes taken by a file, by every file under a folder (symbolic links not followed), or
    by a serialized model given as bytes."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return len(path_or_bytes)
    path = Path(path_or_bytes)
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        raise invalid_value("path", str(path), "no such file or folder")
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            file = Path(folder) / name
            if file.is_file() and not file.is_symlink():
                total += file.stat().st_size
    return total
