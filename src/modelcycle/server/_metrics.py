"""Prometheus metrics of one server app, on its own ``CollectorRegistry``.

    modelcycle_requests_total{model, version, protocol}           answered predictions
    modelcycle_request_errors_total{model, protocol, status}      refused or failed requests
    modelcycle_request_latency_seconds{model, version, protocol}  end-to-end handler latency
    modelcycle_batch_rows{model, version}                         rows per model call
    modelcycle_batch_requests{model, version}                     requests merged per model call
    modelcycle_model_ready{model}                                 1 once a version is loaded
    modelcycle_model_version{model, version}                      1 for the version served now
    modelcycle_prediction_log_queue_depth                         events waiting to be written
    modelcycle_prediction_log_{written,dropped,sampled_out,failed}_total

The hot path pays for two cached label children (a counter increment and a histogram
observation): label lookups are memoised per (model, version, protocol).

Several workers (``modelcycle serve --workers N``): :func:`share_between_workers`, called in the
parent before the app is built, switches prometheus_client to its multiprocess mode (each
worker's counters and histograms in memory-mapped files under one folder), and every worker's
``/metrics`` then answers for all of them: the counters and histograms summed over the workers
by prometheus_client's ``MultiProcessCollector``, the gauges read at scrape time (models
loaded, monitoring) from the answering worker. The prediction-log counters are those of the
answering worker (each worker has its own queue and writer).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client.metrics import MetricWrapperBase

__all__ = ["CONTENT_TYPE", "ServerMetrics", "share_between_workers"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)


class _StateCollector(Collector):
    """Reads the deployments and the prediction logger at scrape time (never per request)."""

    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self.read = read

    def collect(self) -> Iterator[Any]:
        state = self.read()
        ready = GaugeMetricFamily(
            "modelcycle_model_ready", "1 once a version of the model is loaded", labels=["model"]
        )
        served = GaugeMetricFamily(
            "modelcycle_model_version", "1 for each version served now", labels=["model", "version"]
        )
        for route, (is_ready, versions) in state["models"].items():
            ready.add_metric([route], 1.0 if is_ready else 0.0)
            for version in versions:
                served.add_metric([route, version], 1.0)
        yield ready
        yield served
        log = state.get("log")
        if log is None:
            return
        depth = GaugeMetricFamily(
            "modelcycle_prediction_log_queue_depth", "prediction-log events waiting to be written"
        )
        depth.add_metric([], float(log["depth"]))
        yield depth
        for name, text in (
            ("written", "prediction-log events written to the store"),
            ("dropped", "prediction-log events dropped because the queue was full"),
            ("sampled_out", "prediction-log events skipped by sampling"),
            ("failed", "prediction-log events whose write failed"),
        ):
            counter = CounterMetricFamily(f"modelcycle_prediction_log_{name}", text)
            counter.add_metric([], float(log[name]))
            yield counter


class ServerMetrics:
    """The metrics of one app (see the module docstring)."""

    def __init__(self, read_state: Callable[[], dict[str, Any]]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "modelcycle_requests",
            "prediction requests answered",
            ["model", "version", "protocol"],
            registry=self.registry,
        )
        self.errors = Counter(
            "modelcycle_request_errors",
            "prediction requests refused or failed, by HTTP status",
            ["model", "protocol", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelcycle_request_latency_seconds",
            "prediction request latency in the server",
            ["model", "version", "protocol"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "modelcycle_batch_rows",
            "rows per model call (after micro-batching)",
            ["model", "version"],
            buckets=_ROW_BUCKETS,
            registry=self.registry,
        )
        self.batch_requests = Histogram(
            "modelcycle_batch_requests",
            "requests merged into one model call",
            ["model", "version"],
            buckets=_ROW_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(read_state))
        self._children: dict[tuple[str, ...], tuple[Any, Any]] = {}

    def answered(self, model: str, label: str, protocol: str, seconds: float) -> None:
        """One answered request of ``model`` by version ``label`` (``name@version``)."""
        key = (model, label, protocol)
        children = self._children.get(key)
        if children is None:
            version = label.rpartition("@")[2]
            children = (
                self.requests.labels(model, version, protocol),
                self.latency.labels(model, version, protocol),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def failed(self, model: str, protocol: str, status: int) -> None:
        """One refused or failed request."""
        self.errors.labels(model, protocol, str(status)).inc()

    def batch(self, label: str, rows: int, requests: int) -> None:
        """One model call of ``rows`` rows merged from ``requests`` requests."""
        name, _, version = label.rpartition("@")
        _child(self.batch_rows, name, version).observe(rows)
        _child(self.batch_requests, name, version).observe(requests)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (of every worker, when they share:
        see the module docstring)."""
        folder = os.environ.get(_MULTIPROC_ENV)
        if not folder:
            return generate_latest(self.registry)
        from prometheus_client.multiprocess import MultiProcessCollector

        combined = CollectorRegistry()
        shared = MultiProcessCollector(None, path=folder)  # type: ignore[no-untyped-call]
        combined.register(shared)
        combined.register(_Unshared(self.registry, shared))
        return generate_latest(combined)


_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def share_between_workers() -> str:
    """Put the metrics of the processes forked from now on in one folder (a fresh temporary
    one unless ``$PROMETHEUS_MULTIPROC_DIR`` names one), so each worker's ``/metrics`` answers
    for all of them; returns the folder. Call it before the app is built and the workers
    forked."""
    from prometheus_client import values

    folder = os.environ.get(_MULTIPROC_ENV) or tempfile.mkdtemp(prefix="modelcycle-metrics-")
    os.makedirs(folder, exist_ok=True)
    os.environ[_MULTIPROC_ENV] = folder
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    return folder


class _Unshared(Collector):
    """The families of ``registry`` that the shared files do not hold: the gauges read at
    scrape time (a worker's own counters would repeat the summed ones)."""

    def __init__(self, registry: CollectorRegistry, shared: Collector) -> None:
        self.registry, self.shared = registry, shared

    def collect(self) -> Iterator[Any]:
        summed = {family.name for family in self.shared.collect()}
        for family in self.registry.collect():
            if family.name not in summed:  # a counter nobody has counted yet has no samples
                yield family


def _child(metric: MetricWrapperBase, *labels: str) -> Any:
    return metric.labels(*labels)
