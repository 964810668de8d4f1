"""The prediction log writer: requests are answered first, logged in batches behind them.

``PredictionLogger.log`` is called on the request path, so it only decides sampling and puts
the event on a bounded :class:`queue.Queue` with ``put_nowait``: it never blocks and never
raises. When the queue is full the event is counted in ``dropped`` (a metric the server
exports) instead of slowing the response. One background thread takes events off the queue,
groups up to ``batch_size`` of them (or whatever arrived within ``flush_seconds``), turns them
into :class:`~modelcycle.types.PredictionRecord` and writes them with one bulk insert
(``metadata.predictions.insert_many``). A failed write is logged and counted in ``failed``,
never raised into a request.

A request that failed (a client's 4xx, a server 5xx) is logged through the same queue by
``log_failure``, as a :class:`~modelcycle.store._predictions.FailedRequest` (status and
error, no inputs or outputs), so monitoring windows compute error rates beside latency.
Failures are not sampled: each is kept (weight 1) and counted as every event is, so the error
count is exact and ``errors / requests`` unbiased whatever the sampling of answers.

Sampling is by request id: a request is kept when a hash of ``seed`` and its id falls under
``sample``, so a live request and its shadow copy are kept or skipped together, and every
worker process of a server makes the same choice. Requests skipped by sampling are counted in
``sampled_out`` (they are not drops). Each record carries the rate it was sampled at.

No library does this part (structlog/logging handlers write text lines one at a time and
block or drop silently when their queue is full), hence the small hand-written queue worker.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from modelcycle.errors import invalid_value
from modelcycle.store._predictions import FailedRequest
from modelcycle.types import PredictionEvent, PredictionRecord

if TYPE_CHECKING:
    from modelcycle.serving._spec import LogSpec
    from modelcycle.store import MetadataStore

__all__ = ["PredictionLogger", "row_id"]

_log = logging.getLogger("modelcycle.serving.predlog")
_STOP = object()


def row_id(request_id: str, i: int) -> str:
    """The id of row ``i`` of request ``request_id`` (what feedback labels refer to)."""
    return f"{request_id}:{i}"


def _record(
    event: PredictionEvent | FailedRequest, rate: float
) -> PredictionRecord | FailedRequest:
    if isinstance(event, FailedRequest):
        return event
    return PredictionRecord(
        request_id=event.request_id,
        model=event.model,
        version=event.version,
        time=event.time,
        latency_ms=event.latency_ms,
        n_rows=event.n_rows,
        inputs=event.inputs,
        outputs=event.outputs,
        shadow=event.shadow,
        sample_rate=rate,
    )


class PredictionLogger:
    """Log :class:`~modelcycle.types.PredictionEvent` s to the store without slowing answers.

    >>> logger = PredictionLogger(store, sample=0.1).start()   # doctest: +SKIP
    >>> deployment = Deployment(..., on_prediction=logger.log)   # doctest: +SKIP
    >>> logger.close()   # writes what is still queued                # doctest: +SKIP

    Events must not be mutated after they are logged (the writer reads them later).
    """

    def __init__(
        self,
        store: MetadataStore,
        *,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_seconds: float = 0.5,
        sample: float = 1.0,
        seed: int | None = None,
    ) -> None:
        if not 0.0 <= sample <= 1.0:
            raise invalid_value("log sample", sample, "expected a rate between 0 and 1")
        for field, value in (("log queue_size", queue_size), ("log batch_size", batch_size)):
            if not isinstance(value, int) or value < 1:
                raise invalid_value(field, value, "expected a positive integer")
        if not flush_seconds > 0:
            raise invalid_value("log flush_seconds", flush_seconds, "expected a positive number")
        self.store = store
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.sample = sample
        self._salt = b"" if seed is None else str(seed).encode()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Condition()
        self._counts = {"written": 0, "dropped": 0, "sampled_out": 0, "failed": 0, "pending": 0}
        self._thread: threading.Thread | None = None
        self._closed = False

    @classmethod
    def from_spec(cls, store: MetadataStore, spec: LogSpec) -> PredictionLogger:
        """A logger configured by the ``log`` section of a serve spec."""
        return cls(
            store,
            queue_size=spec.queue_size,
            batch_size=spec.batch_size,
            flush_seconds=spec.flush_seconds,
            sample=spec.sample,
        )

    # -- counters -------------------------------------------------------------------------------
    @property
    def written(self) -> int:
        """Records written to the store."""
        return self._counts["written"]

    @property
    def dropped(self) -> int:
        """Events not kept because the queue was full or the logger was closed."""
        return self._counts["dropped"]

    @property
    def sampled_out(self) -> int:
        """Events skipped by sampling (by design, not lost)."""
        return self._counts["sampled_out"]

    @property
    def failed(self) -> int:
        """Events whose write to the store failed (or were already logged)."""
        return self._counts["failed"]

    @property
    def depth(self) -> int:
        """Events waiting in the queue."""
        return self._queue.qsize()

    def stats(self) -> dict[str, int]:
        """Every counter and the queue depth (for metrics and ``--json``)."""
        with self._lock:
            counts = dict(self._counts)
        return {**counts, "depth": self.depth}

    def _add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    # -- the request path -----------------------------------------------------------------------
    def keeps(self, request_id: str) -> bool:
        """Whether sampling keeps this request (the same answer for its shadow copy)."""
        if self.sample >= 1.0:
            return True
        if self.sample <= 0.0:
            return False
        digest = hashlib.blake2b(request_id.encode(), digest_size=8, key=self._salt).digest()
        return int.from_bytes(digest, "big") < self.sample * 2**64

    def log(self, event: PredictionEvent) -> bool:
        """Queue ``event`` for writing; True when queued. Never blocks, never raises."""
        if not self.keeps(event.request_id):
            self._add("sampled_out")
            return False
        return self._put(event)

    def log_failure(
        self,
        request_id: str,
        model: str,
        version: int,
        *,
        latency_ms: float,
        status: int,
        error: str,
    ) -> bool:
        """Queue a failed request (``status`` 400-599, ``error`` its message; timed now) for
        writing; True when queued. Never sampled, never blocks, never raises (a status
        that is not an error is counted in ``failed`` and not queued)."""
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            _log.error("prediction log: request %s has no error status: %r", request_id, status)
            self._add("failed")
            return False
        failure = FailedRequest(
            request_id=request_id,
            model=model,
            version=version,
            time=datetime.now(timezone.utc),
            latency_ms=latency_ms,
            status=status,
            error=error,
        )
        return self._put(failure)

    def _put(self, event: PredictionEvent | FailedRequest) -> bool:
        with self._lock:
            if self._closed:
                self._counts["dropped"] += 1
                return False
            try:
                self._queue.put_nowait(event)
            except queue.Full:
                self._counts["dropped"] += 1
                return False
            self._counts["pending"] += 1
        return True

    # -- the writer -----------------------------------------------------------------------------
    def start(self) -> PredictionLogger:
        """Start the writer thread (idempotent); returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="modelcycle-predlog", daemon=True
            )
            self._thread.start()
        return self

    def _batches(self) -> Iterator[list[PredictionEvent | FailedRequest]]:
        """Batches of up to ``batch_size`` events, each at most ``flush_seconds`` old."""
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self.flush_seconds
            while len(batch) < self.batch_size:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            yield batch

    def _run(self) -> None:
        for batch in self._batches():
            self._write(batch)

    def _write(self, batch: list[PredictionEvent | FailedRequest]) -> None:
        try:
            kept = self.store.predictions.insert_many([_record(e, self.sample) for e in batch])
        except Exception as exc:  # a write failure must never reach a request
            _log.error("prediction log: %d records not written: %s", len(batch), exc)
            kept = 0
        with self._lock:
            self._counts["written"] += kept
            self._counts["failed"] += len(batch) - kept
            self._counts["pending"] -= len(batch)
            self._lock.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event is written (or failed); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._counts["pending"]:
                if not self._lock.wait(max(0.0, deadline - time.monotonic())):
                    return self._counts["pending"] == 0
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking events, write what is queued (waiting up to ``timeout`` s), stop."""
        with self._lock:
            if self._closed:
                return
            self._closed = True  # nothing is queued after the stop marker
        thread = self._thread or self.start()._thread
        self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> PredictionLogger:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
