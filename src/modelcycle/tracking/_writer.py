"""Background batching of metric points: the reason ``log_metric`` costs microseconds.

``log_metric`` validates its arguments and appends a tuple to an in-memory list. A daemon thread
writes what has accumulated in one transaction whenever ``batch_size`` points are waiting or
``flush_interval`` seconds have passed, whichever comes first. ``flush()`` (called by ending a
run, by ``Client.close`` and at interpreter exit) blocks until every point logged before it is
stored, and raises if the store refused them.

What an abrupt kill can lose: a process killed with SIGKILL (or by the OOM killer) loses the
points logged in the last ``flush_interval`` seconds (0.5 s by default) plus a batch being
written at that moment. A normal exit, an exception or Ctrl-C loses nothing. A crash of the
whole machine (kernel panic, power cut) can also undo the last committed batches on SQLite,
which runs in WAL mode with ``synchronous=NORMAL`` (committed data survives any process crash,
and the database is never corrupted, but the newest commits may roll back); PostgreSQL keeps
what it committed as its own ``synchronous_commit`` setting says. Nothing is dropped when
the writer falls behind: once ``max_pending`` points wait, ``log_metric`` blocks until the
writer catches up.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref
from collections.abc import Sequence

from modelcycle.errors import ModelcycleError, StoreUnavailableError
from modelcycle.store import PointRow
from modelcycle.store._metrics import MetricRepository

__all__ = ["MetricWriter"]

_LIVE: weakref.WeakSet[MetricWriter] = weakref.WeakSet()


class MetricWriter:
    """Buffers points and writes them in batches from one background thread."""

    def __init__(
        self,
        repository: MetricRepository,
        *,
        batch_size: int = 10_000,
        flush_interval: float = 0.5,
        max_pending: int = 500_000,
    ) -> None:
        self.repository = repository
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self._pending: list[PointRow] = []
        self._added = 0
        self._written = 0
        self._error: BaseException | None = None
        self._closed = False
        self._flush_requested = False
        self._running = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        _LIVE.add(self)

    def add(self, points: Sequence[PointRow]) -> None:
        """Queue points for writing; blocks only when ``max_pending`` points already wait."""
        with self._cond:
            self._raise_error()
            self._ensure_thread()
            while self._added - self._written >= self.max_pending and self._error is None:
                self._flush_requested = True
                self._cond.notify_all()
                self._cond.wait(self.flush_interval)
            before = len(self._pending)
            self._pending.extend(points)
            self._added += len(points)
            if before < self.batch_size <= len(self._pending):  # wake the writer once per batch
                self._cond.notify_all()

    def flush(self) -> None:
        """Block until every point added so far is stored; raise the store's error if any."""
        with self._cond:
            target = self._added
            if self._written >= target:
                self._raise_error()
                return
            self._ensure_thread()
            self._flush_requested = True
            self._cond.notify_all()
            while self._written < target and self._error is None:
                self._cond.wait(0.05)
            self._raise_error()

    def close(self) -> None:
        """Flush, then stop the thread."""
        try:
            self.flush()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            if self._thread is not None:
                self._thread.join(timeout=5)

    @property
    def pending(self) -> int:
        """Points logged but not yet stored."""
        with self._cond:
            return self._added - self._written

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            lost = self._added - self._written
            message = str(error) if isinstance(error, ModelcycleError) else repr(error)
            raise StoreUnavailableError(
                f"{lost} metric point(s) not stored yet (kept queued, retried on the next "
                f"flush): {message}"
            ) from error

    def _ensure_thread(self) -> None:
        """Start the writer thread unless one is running (call with the lock held)."""
        if self._pid != os.getpid():  # forked child: the parent's thread does not exist here
            self._pid, self._running = os.getpid(), False
        if not self._running:
            self._closed = False
            self._running = True
            self._thread = threading.Thread(
                target=self._loop, name="modelcycle-metric-writer", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._cond:
                deadline = time.monotonic() + self.flush_interval
                while (
                    not self._closed
                    and not self._flush_requested
                    and len(self._pending) < self.batch_size
                    and (remaining := deadline - time.monotonic()) > 0
                ):
                    self._cond.wait(remaining)
                if not self._pending and self._closed:
                    self._running = False
                    return
                batch, self._pending = self._pending, []
                self._flush_requested = False
            if not self._write(batch):
                return

    def _write(self, batch: list[PointRow]) -> bool:
        """Store one batch; on failure requeue it, record the error and stop the thread."""
        if not batch:
            return True
        try:
            self.repository.write_points(batch)
        except BaseException as exc:  # handed to the caller of add/flush, never lost silently
            with self._cond:
                self._pending[:0] = batch
                self._error = exc
                self._running = False
                self._cond.notify_all()
            return False
        with self._cond:
            self._written += len(batch)
            self._cond.notify_all()
        return True


@atexit.register
def _flush_all_at_exit() -> None:
    for writer in list(_LIVE):
        try:
            writer.close()
        except ModelcycleError as exc:
            print(f"modelcycle: {exc}", file=sys.stderr)
