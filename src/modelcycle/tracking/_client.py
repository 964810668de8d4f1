"""``Client``: the Python face of tracking, with the same words as the CLI.

    client = Client()                          # ./.modelcycle defaults, or $MODELCYCLE_STORE
    with client.start_run("iris", params={"C": 1.0}) as run:
        run.log_metric("accuracy", 0.97)
    client.runs.list(filter="metrics.accuracy > 0.9", order_by=["metrics.accuracy desc"])
    client.runs.show(run.run_id)
    client.runs.compare([a, b])

Stores open lazily, so a ``Client`` costs nothing until it is used.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from modelcycle._settings import resolve_artifacts_url, resolve_store_url
from modelcycle.errors import invalid_value
from modelcycle.store import ArtifactStore, MetadataStore, open_artifact_store
from modelcycle.tracking._run import ActiveRun
from modelcycle.tracking._writer import MetricWriter
from modelcycle.types import Experiment, MetricPoint, Run, RunStatus

__all__ = ["Client", "RunComparison"]


@dataclass(frozen=True)
class RunComparison:
    """Runs side by side: one row per param or metric key, one column per run."""

    runs: list[Run]
    params: dict[str, list[str | None]] = field(default_factory=dict)
    metrics: dict[str, list[float | None]] = field(default_factory=dict)

    @property
    def differing_params(self) -> list[str]:
        """Param keys whose values are not the same in every run."""
        return [key for key, values in self.params.items() if len(set(values)) > 1]

    def to_dict(self) -> dict[str, Any]:
        """JSON form: run ids, then the params and metrics tables."""
        return {
            "runs": [run.to_dict() for run in self.runs],
            "params": self.params,
            "metrics": {k: [_json_number(v) for v in vs] for k, vs in self.metrics.items()},
            "differing_params": self.differing_params,
        }


def _json_number(value: float | None) -> float | str | None:
    if value is None or (value == value and abs(value) != float("inf")):
        return value
    return str(value)


class Experiments:
    """``client.experiments``: list, create and get experiments."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self) -> list[Experiment]:
        """Every experiment, oldest first."""
        return self._client.metadata.experiments.list()

    def create(self, name: str) -> Experiment:
        """Create an experiment (AlreadyExistsError when the name is taken)."""
        return self._client.metadata.experiments.create(name)

    def get(self, name: str) -> Experiment:
        """The experiment called ``name``."""
        return self._client.metadata.experiments.get(name)


class Runs:
    """``client.runs``: list, show, compare, history and artifact download."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(
        self,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int | None = 100,
        experiment: str | None = None,
        parent: str | None = None,
    ) -> list[Run]:
        """Runs matching ``filter`` (see ``modelcycle.store._filter`` for the language)."""
        self._client.flush()
        return self._client.metadata.runs.search(filter, order_by, limit, experiment, parent)

    def show(self, run_id: str) -> Run:
        """One run by id or unique id prefix."""
        self._client.flush()
        return self._client.metadata.runs.get(run_id)

    def history(self, run_id: str, key: str) -> builtins.list[MetricPoint]:
        """Every point of the metric ``key`` of a run, by step."""
        self._client.flush()
        full_id = self._client.metadata.runs.resolve_id(run_id)  # no need to load the run
        return self._client.metadata.metrics.history(full_id, key)

    def compare(self, run_ids: Sequence[str]) -> RunComparison:
        """Params and latest metrics of several runs, side by side."""
        if len(run_ids) < 1:
            raise invalid_value("run ids", list(run_ids), "give at least one run to compare")
        runs = [self.show(run_id) for run_id in run_ids]
        param_keys = sorted({k for run in runs for k in run.params})
        metric_keys = sorted({k for run in runs for k in run.metrics})
        return RunComparison(
            runs=runs,
            params={k: [run.params.get(k) for run in runs] for k in param_keys},
            metrics={k: [run.metrics.get(k) for run in runs] for k in metric_keys},
        )

    def download(self, run_id: str, name: str, dest: str | Path) -> Path:
        """Copy the artifact ``name`` of a run to ``dest``, verifying its hash."""
        run = self.show(run_id)
        for artifact in run.artifacts:
            if artifact.name == name:
                return self._client.artifacts.get_file(artifact.sha256, Path(dest))
        known = ", ".join(a.name for a in run.artifacts) or "none"
        raise invalid_value(f"artifact of run {run.run_id}", name, f"not logged; known: {known}")


class Client:
    """Entry point to tracking: experiments, runs, metrics and artifacts in one place.

    ``store`` and ``artifacts`` are URLs (default: ``$MODELCYCLE_STORE`` /
    ``$MODELCYCLE_ARTIFACTS``, else ``./.modelcycle/``). ``batch_size`` and
    ``flush_interval`` tune the background metric writer.
    """

    def __init__(
        self,
        store: str | None = None,
        artifacts: str | None = None,
        *,
        batch_size: int = 10_000,
        flush_interval: float = 0.5,
    ) -> None:
        self.store_url = resolve_store_url(store)
        self.artifacts_url = resolve_artifacts_url(artifacts)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.experiments = Experiments(self)
        self.runs = Runs(self)
        self._active: dict[str, ActiveRun] = {}
        self._lock = threading.Lock()

    @cached_property
    def metadata(self) -> MetadataStore:
        """The metadata store, opened (and migrated) on first use."""
        return MetadataStore(self.store_url)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        """The artifact store, opened on first use."""
        return open_artifact_store(self.artifacts_url)

    @cached_property
    def writer(self) -> MetricWriter:
        """The background writer of metric points."""
        return MetricWriter(
            self.metadata.metrics, batch_size=self.batch_size, flush_interval=self.flush_interval
        )

    def start_run(
        self,
        experiment: str = "default",
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        parent: str | None = None,
    ) -> ActiveRun:
        """Start a RUNNING run in ``experiment`` (created when missing); use it with ``with``."""
        exp = self.metadata.experiments.get_or_create(experiment)
        run_id = self.metadata.runs.create(exp.experiment_id, name, parent)
        run = ActiveRun(self, run_id, exp.name)
        with self._lock:
            self._active[run_id] = run
        if params:
            run.log_params(params)
        if tags:
            run.set_tags(tags)
        return run

    def end_run(self, run_id: str, status: RunStatus = RunStatus.FINISHED) -> None:
        """End a run by id, flushing its points first (for runs not held as ActiveRun)."""
        self.flush()
        self.metadata.runs.end(self.metadata.runs.resolve_id(run_id), status)

    def forget(self, run: ActiveRun) -> None:
        """Drop an ended run from the set that ``close`` ends."""
        with self._lock:
            self._active.pop(run.run_id, None)

    def flush(self) -> None:
        """Store every metric point logged so far."""
        if "writer" in self.__dict__:
            self.writer.flush()

    def close(self) -> None:
        """End runs still open as FINISHED, flush, and release connections."""
        with self._lock:
            still_open = list(self._active.values())
        for run in still_open:
            run.end(RunStatus.FINISHED)
        if "writer" in self.__dict__:
            self.writer.close()
        if "metadata" in self.__dict__:
            self.metadata.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
