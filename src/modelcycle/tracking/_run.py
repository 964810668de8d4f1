"""``ActiveRun``: what training code holds while it logs.

A run used as a context manager ends FINISHED when its block completes, FAILED with the error
recorded when the block raises, and KILLED when it is interrupted (Ctrl-C, ``SystemExit``).
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from modelcycle.errors import invalid_value
from modelcycle.store import PointRow, validate_artifact_name
from modelcycle.store._validation import check_key, check_metric_value, check_step
from modelcycle.types import ArtifactInfo, DatasetInput, DatasetVersion, Run, RunStatus

if TYPE_CHECKING:
    from modelcycle.tracking._client import Client

__all__ = ["ActiveRun"]

_MAX_ERROR = 10_000
_STEP_LIMIT = 2**63


def _describe(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    head = f"{type(exc).__name__}: {exc}"
    return (head + "\n\n" + text)[:_MAX_ERROR]


class ActiveRun:
    """A RUNNING run: log params, tags, metrics, artifacts and inputs; start child runs."""

    def __init__(self, client: Client, run_id: str, experiment: str) -> None:
        self.client = client
        self.run_id = run_id
        self.experiment = experiment
        self._steps: dict[str, int] = {}
        self._steps_lock = threading.Lock()
        self._ended = False

    def __repr__(self) -> str:
        return f"ActiveRun(run_id={self.run_id!r}, experiment={self.experiment!r})"

    # -- params and tags --------------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        """Record one param (stored as text; immutable once logged)."""
        self.client.metadata.runs.log_params(self.run_id, {key: value})

    def log_params(self, values: Mapping[str, Any]) -> None:
        """Record several params in one write."""
        self.client.metadata.runs.log_params(self.run_id, values)

    def set_tag(self, key: str, value: Any) -> None:
        """Set one tag (tags may be overwritten)."""
        self.client.metadata.runs.set_tags(self.run_id, {key: value})

    def set_tags(self, values: Mapping[str, Any]) -> None:
        """Set several tags in one write."""
        self.client.metadata.runs.set_tags(self.run_id, values)

    # -- metrics ----------------------------------------------------------------------------
    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: float | None = None
    ) -> None:
        """Log one point of the series ``key``.

        ``step`` defaults to one more than the last step logged for ``key`` by this run (0 for
        the first point); ``timestamp`` is seconds since the epoch, default now. NaN and +/-inf
        are stored as they are. The point is written in the background (see ``_writer``).
        """
        ts = time.time_ns() // 1_000_000 if timestamp is None else int(timestamp * 1000)
        with self._steps_lock:
            row = self._point(key, value, step, ts)
        self.client.writer.add((row,))

    def log_metrics(
        self,
        values: Mapping[str, float],
        step: int | None = None,
        timestamp: float | None = None,
    ) -> None:
        """Log one point of each series in ``values`` at the same step and time."""
        ts = time.time_ns() // 1_000_000 if timestamp is None else int(timestamp * 1000)
        with self._steps_lock:
            rows = [self._point(key, value, step, ts) for key, value in values.items()]
        self.client.writer.add(rows)

    def _point(self, key: str, value: object, step: int | None, ts: int) -> PointRow:
        """Validate one point and assign its step (call with ``_steps_lock`` held)."""
        if key not in self._steps:
            check_key("metric", key)
        number = value if type(value) is float else check_metric_value(key, value)
        last = self._steps.get(key, -1)
        if step is None:
            at = last + 1
        else:
            at = (
                step
                if type(step) is int and -_STEP_LIMIT <= step < _STEP_LIMIT
                else check_step(key, step)
            )
        if at > last:
            self._steps[key] = at
        return (self.run_id, key, number, at, ts)

    # -- artifacts and inputs ---------------------------------------------------------------
    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> ArtifactInfo:
        """Store a file content-addressed and index it under ``name`` (default: file name)."""
        source = Path(path)
        if not source.is_file():
            raise invalid_value("artifact path", str(source), "no such file")
        artifact_name = validate_artifact_name(name if name is not None else source.name)
        ref = self.client.artifacts.put_file(source)
        info = ArtifactInfo(artifact_name, ref.sha256, ref.size)
        self.client.metadata.runs.log_artifact(self.run_id, info)
        return info

    def log_text(self, text: str, name: str) -> ArtifactInfo:
        """Store ``text`` (UTF-8) as the artifact ``name``."""
        artifact_name = validate_artifact_name(name)
        ref = self.client.artifacts.put_bytes(text.encode("utf-8"))
        info = ArtifactInfo(artifact_name, ref.sha256, ref.size)
        self.client.metadata.runs.log_artifact(self.run_id, info)
        return info

    def log_input(self, name: str, digest: str, source: str = "", context: str = "") -> None:
        """Record that this run read the dataset ``name`` whose content hashes to ``digest``."""
        check_key("dataset", name)
        if not digest:
            raise invalid_value(f"digest of dataset {name!r}", digest, "expected a content hash")
        self.client.metadata.runs.log_input(
            self.run_id, DatasetInput(name, digest, source, context)
        )

    def log_dataset(self, version: DatasetVersion, context: str = "") -> None:
        """Record that this run used the dataset version ``version`` (e.g. context "train")."""
        self.log_input(version.name, version.version_id, f"dataset:{version.ref}", context)

    # -- structure and life -----------------------------------------------------------------
    def start_child(
        self,
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> ActiveRun:
        """Start a child run in the same experiment (a tuning trial, a fold)."""
        return self.client.start_run(
            experiment=self.experiment, name=name, params=params, tags=tags, parent=self.run_id
        )

    def info(self) -> Run:
        """The run as stored now (pending metric points are flushed first)."""
        self.client.writer.flush()
        return self.client.metadata.runs.get(self.run_id)

    def end(self, status: RunStatus = RunStatus.FINISHED, error: str | None = None) -> None:
        """Flush pending points and record the final status (idempotent)."""
        if self._ended:
            return
        try:
            self.client.writer.flush()
        finally:
            self.client.metadata.runs.end(self.run_id, status, error)
            self._ended = True
            self.client.forget(self)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or (isinstance(exc, SystemExit) and exc.code in (0, None)):
            self.end(RunStatus.FINISHED)
        elif isinstance(exc, (KeyboardInterrupt, SystemExit)):
            self.end(RunStatus.KILLED, _describe(exc))
        else:
            self.end(RunStatus.FAILED, _describe(exc))
