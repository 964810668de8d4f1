"""Drift and quality gauges on the server's ``/metrics``, read from the stored windows.

The collector never computes a statistic: it reads the newest stored window of each kind per
(model, version) (``metadata.monitoring.latest_windows``: one query per kind) and keeps what
it read for ``ttl`` seconds, so a scrape every few seconds costs at most three small queries
per ``ttl``. When the store cannot be read, ``modelcycle_monitor_up`` is 0 and the last
gauges read are kept (a scrape never fails because of monitoring).

    modelcycle_drift_share{model, version}                     share of drifted input features
    modelcycle_drift_detected{model, version}                  1 when the window's dataset drifts
    modelcycle_drift_feature_effect{model, version, feature}   effect size of each feature
    modelcycle_drift_feature_drifted{model, version, feature}  1 for each drifted feature
    modelcycle_prediction_drift_detected{model, version}       1 when the outputs drift
    modelcycle_quality_metric{model, version, metric}          metrics of the labelled rows
    modelcycle_quality_degraded{model, version}                metrics below their interval
    modelcycle_quality_labelled_rows{model, version}           labelled rows of the window
    modelcycle_window_latency_p99_ms{model, version}           p99 latency from the log
    modelcycle_window_error_rate{model, version}               failed / all requests (log)
    modelcycle_monitor_window_end_timestamp_seconds{model, version, kind}
    modelcycle_monitor_up                                      1 when the store was read
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from modelcycle.errors import ModelcycleError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from modelcycle.store import MetadataStore
    from modelcycle.store._monitoring import WindowRecord

__all__ = ["METRIC_NAMES", "MonitoringCollector", "register_monitoring"]

_MV = ["model", "version"]
#: name -> (help, extra labels)
_GAUGES: dict[str, tuple[str, list[str]]] = {
    "modelcycle_drift_share": ("share of drifted input features in the newest window", []),
    "modelcycle_drift_detected": ("1 when the newest window's inputs drift as a whole", []),
    "modelcycle_drift_feature_effect": ("effect size of each feature's drift", ["feature"]),
    "modelcycle_drift_feature_drifted": ("1 for each drifted feature", ["feature"]),
    "modelcycle_prediction_drift_detected": ("1 when the outputs drift from the baseline", []),
    "modelcycle_quality_metric": ("metrics on the newest labelled window", ["metric"]),
    "modelcycle_quality_degraded": ("metrics outside the version's test interval", []),
    "modelcycle_quality_labelled_rows": ("labelled rows in the newest quality window", []),
    "modelcycle_window_latency_p99_ms": ("p99 latency of the newest window (log)", []),
    "modelcycle_window_error_rate": ("failed / all requests of the newest window (log)", []),
    "modelcycle_monitor_window_end_timestamp_seconds": ("end of the newest window", ["kind"]),
}
#: Every metric name the collector exposes.
METRIC_NAMES = (*_GAUGES, "modelcycle_monitor_up")

Samples = dict[str, list[tuple[list[str], float]]]


def _samples(windows: dict[str, list[WindowRecord]]) -> Samples:
    out: Samples = {name: [] for name in _GAUGES}
    for kind, found in windows.items():
        for w in found:
            mv = [w.model, str(w.version)]
            end = w.end.timestamp()
            out["modelcycle_monitor_window_end_timestamp_seconds"].append(([*mv, kind], end))
            if kind == "drift":
                _drift(out, mv, w.snapshot)
            elif kind == "quality":
                _quality(out, mv, w.snapshot)
            else:
                _operations(out, mv, w.snapshot)
    return out


def _operations(out: Samples, mv: list[str], snapshot: dict[str, Any]) -> None:
    if snapshot["latency_ms"]["p99"] is not None:
        out["modelcycle_window_latency_p99_ms"].append((mv, snapshot["latency_ms"]["p99"]))
    if snapshot.get("error_rate") is not None:  # windows stored before 0.8 have none
        out["modelcycle_window_error_rate"].append((mv, float(snapshot["error_rate"])))


def _drift(out: Samples, mv: list[str], snapshot: dict[str, Any]) -> None:
    features = snapshot["features"]
    out["modelcycle_drift_share"].append((mv, float(features["share_drifted"])))
    out["modelcycle_drift_detected"].append((mv, float(features["dataset_drift"])))
    for column in features["columns"]:
        labels = [*mv, column["column"]]
        out["modelcycle_drift_feature_effect"].append((labels, float(column["effect_size"])))
        out["modelcycle_drift_feature_drifted"].append((labels, float(column["drifted"])))
    outputs = snapshot.get("predictions")
    if outputs is not None:
        out["modelcycle_prediction_drift_detected"].append((mv, float(outputs["dataset_drift"])))


def _quality(out: Samples, mv: list[str], snapshot: dict[str, Any]) -> None:
    for name, value in snapshot["metrics"].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out["modelcycle_quality_metric"].append(([*mv, name], float(value)))
    out["modelcycle_quality_degraded"].append((mv, float(len(snapshot["degraded"]))))
    out["modelcycle_quality_labelled_rows"].append((mv, float(snapshot["labelled_rows"])))


class MonitoringCollector(Collector):
    """Gauges from the newest stored windows (see the module docstring)."""

    def __init__(
        self,
        metadata: MetadataStore,
        ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metadata, self.ttl, self.clock = metadata, ttl, clock
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._cached: Samples = {name: [] for name in _GAUGES}
        self._up = 0.0

    def _refresh(self) -> None:
        with self._lock:
            now = self.clock()
            if self._read_at is not None and now - self._read_at < self.ttl:
                return
            self._read_at = now
            try:
                repo = self.metadata.monitoring
                kinds = ("drift", "quality", "operations")
                self._cached = _samples({kind: repo.latest_windows(kind) for kind in kinds})
                self._up = 1.0
            except ModelcycleError:
                self._up = 0.0

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The gauges (read from the store at most once per ``ttl``)."""
        self._refresh()
        for name, (text, extra) in _GAUGES.items():
            family = GaugeMetricFamily(name, text, labels=[*_MV, *extra])
            for labels, value in self._cached[name]:
                family.add_metric(labels, value)
            yield family
        up = GaugeMetricFamily("modelcycle_monitor_up", "1 when the monitoring store was read")
        up.add_metric([], self._up)
        yield up


def register_monitoring(registry: CollectorRegistry, metadata: MetadataStore) -> None:
    """Add the monitoring gauges to a server's registry (one call in the server; a second
    call on the same registry changes nothing)."""
    if getattr(registry, "_modelcycle_monitoring", False):
        return
    registry.register(MonitoringCollector(metadata))
    setattr(registry, "_modelcycle_monitoring", True)  # noqa: B010
