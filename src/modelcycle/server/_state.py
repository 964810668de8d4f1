"""What one server process holds: the deployments (one per route), the prediction logger,
the API keys and the metrics; started in the process that serves (after a pre-fork)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from modelcycle.errors import NotFoundError
from modelcycle.server._metrics import ServerMetrics

if TYPE_CHECKING:
    from modelcycle.serving import ApiKeys, Deployment, PredictionLogger, ServeSpec
    from modelcycle.tracking import Client
    from modelcycle.types import PredictionEvent

__all__ = ["ServerState"]


class ServerState:
    """Deployments, logger, keys and metrics of one app.

    ``load()`` builds the deployments (and so loads the models) without starting a thread, so
    a pre-forking parent can load once and let its workers share the pages; ``start()`` starts
    every thread (watchers, batchers, the log writer) in the process that serves."""

    def __init__(self, client: Client, spec: ServeSpec) -> None:
        self.client = client
        self.spec = spec
        self.metrics = ServerMetrics(self.snapshot)
        self.deployments: dict[str, Deployment] = {}
        self.logger: PredictionLogger | None = None
        self.keys: ApiKeys | None = None
        self.started = False
        #: route -> the request header whose value assigns A/B traffic (A/B routes only)
        self.key_headers = {
            m.url_name: m.policy.key_header
            for m in spec.models
            if m.policy is not None and m.policy.mode == "ab"
        }
        self._lock = threading.Lock()

    def load(self) -> None:
        """Build one deployment per served model and load its version (idempotent)."""
        from modelcycle.registry import Registry
        from modelcycle.serving import Deployment

        with self._lock:
            if self.deployments:
                return
            registry = Registry(self.client)
            built = {
                model.url_name: Deployment(
                    registry,
                    model,
                    self.spec,
                    on_prediction=self._on_prediction,
                    on_batch=self.metrics.batch,
                )
                for model in self.spec.models
            }
            for deployment in built.values():
                deployment.load()  # in this thread: no watcher or prediction thread yet
            self.deployments = built

    def start(self) -> None:
        """Start the logger and every deployment (loading first if needed)."""
        from modelcycle.serving import ApiKeys, PredictionLogger

        self.load()
        with self._lock:
            if self.started:
                return
            log = self.spec.log
            if log.enabled:
                self.logger = PredictionLogger(
                    self.client.metadata,
                    queue_size=log.queue_size,
                    batch_size=log.batch_size,
                    flush_seconds=log.flush_seconds,
                    sample=log.sample,
                )
                self.logger.start()
            if self.spec.auth.enabled:
                self.keys = ApiKeys(self.client.metadata)
            for deployment in self.deployments.values():
                deployment.start()
            self.started = True

    def stop(self) -> None:
        """Stop the deployments, then flush and stop the logger (once)."""
        with self._lock:
            if not self.started:
                return
            for deployment in self.deployments.values():
                deployment.stop()
            if self.logger is not None:
                self.logger.close(5.0)
            self.started = False

    def _on_prediction(self, event: PredictionEvent) -> None:
        if self.logger is not None:
            self.logger.log(event)

    def log_failure(
        self, label: str, request_id: str, latency_ms: float, status: int, error: str
    ) -> None:
        """Log a failed prediction request of version ``label`` (``NAME@VERSION``: the one
        serving its route) to the prediction log, when the log is on. Never raises."""
        if self.logger is None:
            return
        name, _, version = label.rpartition("@")
        self.logger.log_failure(
            request_id, name, int(version), latency_ms=latency_ms, status=status, error=error
        )

    def deployment(self, route: str) -> Deployment:
        """The deployment of ``route``, or a 404 naming the routes served."""
        found = self.deployments.get(route)
        if found is None:
            served = ", ".join(self.deployments) or "none"
            raise NotFoundError(f"no model is served as {route!r}; served: {served}")
        return found

    @property
    def ready(self) -> bool:
        """True once every deployment has a loaded model."""
        return bool(self.deployments) and all(d.ready for d in self.deployments.values())

    def labels(self) -> str:
        """``name@version`` of every version served now, comma-separated."""
        return ",".join(label for d in self.deployments.values() for label in _versions(d))

    def snapshot(self) -> dict[str, Any]:
        """What the metrics collector reads at scrape time."""
        models = {route: (d.ready, _version_numbers(d)) for route, d in self.deployments.items()}
        state: dict[str, Any] = {"models": models}
        if self.logger is not None:
            logger = self.logger
            state["log"] = {
                "depth": logger.depth,
                "written": logger.written,
                "dropped": logger.dropped,
                "sampled_out": getattr(logger, "sampled_out", 0),
                "failed": getattr(logger, "failed", 0),
            }
        return state


def _versions(deployment: Deployment) -> list[str]:
    return list(deployment.versions()) if deployment.ready else []


def _version_numbers(deployment: Deployment) -> list[str]:
    return [label.rpartition("@")[2] for label in _versions(deployment)]
