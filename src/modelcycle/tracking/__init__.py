"""Experiment tracking: runs, params, tags, metric series, artifacts and dataset inputs.

    import modelcycle as mc

    with mc.start_run("breast-cancer", params={"max_depth": 3}) as run:
        for epoch in range(10):
            run.log_metric("loss", 1 / (epoch + 1))      # step 0, 1, 2 ... by default
        run.log_artifact("model.skops")

Metric points are buffered and written in batches in the background (see ``_writer`` for what
an abrupt kill can lose); ending a run flushes them.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Mapping
from typing import Any

from modelcycle.tracking._client import Client, Experiments, RunComparison, Runs
from modelcycle.tracking._run import ActiveRun
from modelcycle.tracking._writer import MetricWriter

__all__ = [
    "ActiveRun",
    "Client",
    "Experiments",
    "MetricWriter",
    "RunComparison",
    "Runs",
    "default_client",
    "start_run",
]

_default: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """The process-wide client on ``$MODELCYCLE_STORE`` / ``./.modelcycle`` (created once).

    Runs it started that are still open when the interpreter exits end FINISHED.
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
            atexit.register(_default.close)
        return _default


def start_run(
    experiment: str = "default",
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    parent: str | None = None,
) -> ActiveRun:
    """Start a run on the default client; see :meth:`Client.start_run`."""
    return default_client().start_run(experiment, name, params, tags, parent)
