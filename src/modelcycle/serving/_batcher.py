"""Adaptive micro-batching of concurrent requests to one model.

    batcher = MicroBatcher(served.predict, max_batch_rows=512, max_wait_ms=2.0)
    outputs = await batcher.submit(columns, n_rows, ["predict"])

How it batches (one batch in flight per batcher, predicted in a worker thread, never on the
event loop):

- a request that arrives while nothing is queued or running is predicted at once: an idle
  server adds no wait;
- requests that arrive while a batch runs queue up; when the batch ends, the queue is sent as
  the next batch: each column's lists concatenated, up to ``max_batch_rows`` rows (a request is
  never split; one larger than the limit goes alone). While fewer rows are queued than the
  previous batch held (traffic is expected to keep its level; a closed loop of clients is
  still sending) and the oldest has waited less than ``max_wait_ms``, the batcher waits for
  more: an arrival that brings the queue to that level ends the wait at once. So a steady load
  fills batches, and a load that falls pays ``max_wait_ms`` once, not per batch;
- the batch is predicted once for the union of the outputs its requests asked for; each request
  gets back exactly its own rows and only the outputs it asked for (peers' adaptive batching has
  returned other requests' rows or outputs: see PEERS.md);
- when a batch fails, its requests are retried one by one, so one request whose data breaks the
  model cannot fail the others; each gets its own answer or its own error.

Hand-written: the batching in BentoML, MLServer and Ray Serve is tied to their servers; what is
needed here is ~150 lines on asyncio futures and a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from modelcycle.errors import StoreUnavailableError, invalid_value
from modelcycle.serving._signature import Columns

__all__ = ["BatchClosedError", "MicroBatcher"]

_log = logging.getLogger(__name__)
Predict = Callable[[Columns, Sequence[str]], dict[str, list[Any]]]
Outputs = dict[str, list[Any]]


class BatchClosedError(StoreUnavailableError):
    """A request was submitted to a batcher after :meth:`MicroBatcher.close` (HTTP 503: the
    service is going away; try again)."""


@dataclass
class _Request:
    columns: Columns
    rows: int
    outputs: tuple[str, ...]
    future: asyncio.Future[Outputs]
    queued_at: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """Merges concurrent :meth:`submit` calls into batches for ``predict`` (see the module
    docstring). ``on_batch(rows, requests)`` is called after every batch predicted.
    ``executor`` runs the predictions (a private one-thread pool when None, shut by
    :meth:`close`; a shared one is left to its owner)."""

    def __init__(
        self,
        predict: Predict,
        *,
        max_batch_rows: int = 512,
        max_wait_ms: float = 2.0,
        on_batch: Callable[[int, int], None] | None = None,
        executor: Executor | None = None,
    ) -> None:
        if max_batch_rows < 1:
            raise invalid_value("max_batch_rows", max_batch_rows, "must be at least 1")
        if not max_wait_ms >= 0:
            raise invalid_value("max_wait_ms", max_wait_ms, "must be a number >= 0")
        self.predict = predict
        self.max_batch_rows = max_batch_rows
        self.max_wait = max_wait_ms / 1000.0
        self.on_batch = on_batch
        self._own = executor is None
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix="modelcycle-batch")
        self._queue: deque[_Request] = deque()
        self._queued_rows = 0
        self._running = False
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._target = 0  # rows the batch being gathered waits for
        self._last_rows = 0  # rows of the previous batch
        #: Batches predicted, requests answered, and requests whose caller went away before
        #: their batch (cancelled: not predicted), counted for metrics and tests.
        self.batches = 0
        self.requests = 0
        self.abandoned = 0

    @property
    def depth(self) -> int:
        """Requests waiting for a batch."""
        return len(self._queue)

    async def submit(self, columns: Columns, n_rows: int, outputs: Sequence[str]) -> Outputs:
        """The outputs for ``columns`` (``n_rows`` rows): only those in ``outputs``, each a list
        of exactly ``n_rows`` values."""
        if self._closed:
            raise BatchClosedError("the model is shutting down; retry the request")
        if n_rows < 1:
            raise invalid_value("n_rows", n_rows, "a request needs at least one row")
        if any(len(values) != n_rows for values in columns.values()):
            raise invalid_value("n_rows", n_rows, "every column must hold n_rows values")
        loop = asyncio.get_running_loop()
        request = _Request(columns, n_rows, tuple(outputs), loop.create_future())
        self._queue.append(request)
        self._queued_rows += n_rows
        if self._waiter is not None and self._queued_rows >= self._target:
            _wake(self._waiter)
        if not self._running:
            self._running = True
            self._task = loop.create_task(self._drain())  # a reference keeps the task alive
        return await request.future

    async def _drain(self) -> None:
        """Send batches while requests are queued; the first one at once."""
        try:
            first = True
            while self._queue:
                if not first:
                    await self._gather()
                first = False
                batch = self._take()
                if batch:
                    self._last_rows = sum(r.rows for r in batch)
                    await self._run(batch)
        finally:
            self._running = False
            if self._closed and self._own:
                self._executor.shutdown(wait=False)

    async def _gather(self) -> None:
        """Wait for as many rows as the previous batch held, at most until the oldest queued
        request has waited ``max_wait_ms``."""
        self._target = min(self.max_batch_rows, self._last_rows)
        left = self._queue[0].queued_at + self.max_wait - time.perf_counter()
        if self._queued_rows >= self._target or left <= 0:
            return
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        timer = loop.call_later(left, _wake, self._waiter)
        try:
            await self._waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _take(self) -> list[_Request]:
        """The next batch: queued requests in order while they fit (callers that went away
        are dropped from the queue, not predicted)."""
        batch: list[_Request] = []
        rows = 0
        while self._queue:
            nxt = self._queue[0]
            if nxt.future.done():  # cancelled by its caller
                self._queued_rows -= self._queue.popleft().rows
                self.abandoned += 1
                continue
            if batch and (
                rows + nxt.rows > self.max_batch_rows
                or nxt.columns.keys() != batch[0].columns.keys()
            ):
                break
            batch.append(self._queue.popleft())
            rows += nxt.rows
        self._queued_rows -= rows
        return batch

    async def _run(self, batch: list[_Request]) -> None:
        loop = asyncio.get_running_loop()
        try:
            running = loop.run_in_executor(self._executor, _predict_batch, self.predict, batch)
        except RuntimeError:  # the executor was shut down: the service is stopping
            closed = BatchClosedError("the model is shutting down; retry the request")
            for request in batch:
                _settle(request.future, error=closed)
            return
        try:
            found = await running
        except Exception as error:  # the batch failed: find who broke it
            if len(batch) == 1:
                _settle(batch[0].future, error=error)
            else:
                for request in batch:
                    await self._run([request])
            return
        for request, outputs in zip(batch, found, strict=True):
            _settle(request.future, result=outputs)
        self.batches += 1
        self.requests += len(batch)
        if self.on_batch is not None:
            try:
                self.on_batch(sum(r.rows for r in batch), len(batch))
            except Exception:  # a metrics hook must never fail the requests it counts
                _log.exception("on_batch hook failed")

    def close(self) -> None:
        """Refuse new requests; queued and running ones still get their answers. A private
        executor is shut down once the last batch has ended."""
        self._closed = True
        if not self._running and self._own:
            self._executor.shutdown(wait=False)


def _predict_batch(predict: Predict, batch: list[_Request]) -> list[Outputs]:
    """In the worker thread: one ``predict`` on the merged columns, sliced back per request."""
    if len(batch) == 1:
        only = batch[0]
        return [_checked(predict(only.columns, only.outputs), only.outputs, only.rows)]
    merged: Columns = {name: [] for name in batch[0].columns}
    for request in batch:
        for name, values in request.columns.items():
            merged[name] += values
    every = any(not r.outputs for r in batch)  # one request asked for all outputs
    wanted = () if every else tuple(dict.fromkeys(o for r in batch for o in r.outputs))
    total = sum(r.rows for r in batch)
    found = _checked(predict(merged, wanted), wanted, total)
    answers, start = [], 0
    for request in batch:
        stop = start + request.rows
        names = request.outputs or tuple(found)
        answers.append({name: found[name][start:stop] for name in names})
        start = stop
    return answers


def _checked(found: Outputs, wanted: Sequence[str], rows: int) -> Outputs:
    """Every output asked for is there, with one value per row (else the batch is wrong)."""
    for name in wanted or found:
        if name not in found or len(found[name]) != rows:
            got = "missing" if name not in found else f"{len(found[name])} values"
            raise RuntimeError(f"predict returned {got} for output {name!r}; expected {rows}")
    return found


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _settle(
    future: asyncio.Future[Outputs],
    *,
    result: Outputs | None = None,
    error: BaseException | None = None,
) -> None:
    if future.done():  # the caller went away (cancelled): nothing to deliver
        return
    if error is not None:
        future.set_exception(error)
    elif result is not None:
        future.set_result(result)
