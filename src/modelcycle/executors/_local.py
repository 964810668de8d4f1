"""Local processes: the default executor, a ``ProcessPoolExecutor`` started with ``spawn``.

``spawn`` rather than ``fork``: the tracking client runs a background writer thread and holds
database connections, and a forked child would inherit them half-copied. One worker runs in
the calling process without a pool, so the default costs nothing over a plain loop (and a job
may keep objects that do not pickle, such as an open client).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from modelcycle.errors import invalid_value
from modelcycle.executors._base import Executor

__all__ = ["LocalExecutor"]

T = TypeVar("T")
R = TypeVar("R")


class LocalExecutor(Executor):
    """Runs items on ``workers`` local processes (default: one per CPU); the pool starts on the
    first ``map`` and lives until ``close``.

        with LocalExecutor(workers=2) as executor:
            results = executor.map(run_fold, jobs)
    """

    def __init__(self, workers: int | None = None) -> None:
        count = workers if workers is not None else os.cpu_count() or 1
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise invalid_value("executor.workers", workers, "must be a positive integer")
        self._workers = count
        self._pool: ProcessPoolExecutor | None = None

    @property
    def workers(self) -> int:
        """How many processes run items at the same time."""
        return self._workers

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(item) for item in items]`` on the pool (in this process for one worker)."""
        self._check_open()
        if self._workers == 1:
            return [fn(item) for item in items]
        if self._pool is None:
            spawn = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=self._workers, mp_context=spawn)
        return list(self._pool.map(fn, items))

    def close(self) -> None:
        """Stop the worker processes (waiting for running items)."""
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
