"""Ray: the same executor interface on a local Ray instance or a Ray cluster.

``address`` says where the work runs:

- ``None`` or ``"local"``: start a Ray instance inside this process with ``workers`` CPUs
  (default: all of them), stopped again by ``close``;
- ``"HOST:PORT"``: join a running cluster through its GCS port (``ray start --head`` prints it);
- ``"ray://HOST:PORT"``: join a cluster through the Ray Client server (needs ``ray[client]``).

Ray is imported here, when an executor is built, never at ``import modelcycle``. Each item is one
Ray task of one CPU; at most ``workers`` run at the same time. An exception raised in a task is
re-raised with its own type and message (Ray's wrapper, with the remote traceback, is its
cause). The address is probed before ``ray.init`` so an unreachable cluster fails at once with
its address instead of after Ray's own retries. A Ray Client connection whose server dies as it
starts (a known Ray bug, see ``RayExecutor._init``) is tried up to :data:`CLIENT_ATTEMPTS` times.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from modelcycle.errors import InvalidValueError, StoreUnavailableError, invalid_value
from modelcycle.executors._base import Executor

__all__ = ["RayExecutor"]

_log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

#: Seconds to wait for a cluster's port to accept a connection before giving up.
PROBE_TIMEOUT_S = 5.0
#: Connections tried to a ``ray://`` address whose server fails to start (see ``_init``).
CLIENT_ATTEMPTS = 3
_INSTALL = "install it with: pip install 'modelcycle[ray]'"


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    """The one remote function: apply ``fn`` (builtins included, which ``ray.remote`` refuses)."""
    return fn(item)


def _unavailable(address: str, exc: BaseException) -> StoreUnavailableError:
    return StoreUnavailableError(
        f"cannot start or join Ray at {address}: {type(exc).__name__}: {exc}"
    )


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        why = f"the ray executor needs Ray, which is not installed; {_INSTALL}"
        raise InvalidValueError(why) from None
    return ray


def _probe(address: str) -> None:
    """Fail fast, naming ``address``, when nothing listens there."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise invalid_value("executor", address, "a Ray address is HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise StoreUnavailableError(f"cannot reach the Ray cluster at {address}: {exc}") from None


class RayExecutor(Executor):
    """Runs items as Ray tasks (see the module docstring for ``address``); ``workers``
    defaults to the cluster's CPUs:

        with RayExecutor(workers=4) as executor:             # a local Ray
            results = executor.map(run_fold, jobs)
        RayExecutor(address="ray://head.example:10001")      # join a cluster
    """

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        if workers is not None and (isinstance(workers, bool) or workers < 1):
            raise invalid_value("executor.workers", workers, "must be a positive integer")
        ray = _import_ray()
        if address not in (None, "local"):
            _probe(address)
        if ray.is_initialized():
            why = "this process is already connected to Ray; close the other RayExecutor first"
            raise invalid_value("executor", address or "local", why)
        self.address = address or "local"
        self._init(ray, workers)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self._workers = workers or max(cpus, 1)

    def _init(self, ray: Any, workers: int | None) -> None:
        options: dict[str, Any] = {
            "ignore_reinit_error": True,
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.WARNING,
        }
        if self.address == "local":
            options["num_cpus"] = workers
        attempts = CLIENT_ATTEMPTS if self.address.startswith("ray://") else 1
        for attempt in range(1, attempts + 1):
            try:
                ray.init(address=self.address, **options)
                return
            except ConnectionAbortedError as exc:
                # Ray Client's proxy forks a server per client while its own gRPC threads
                # run, and the child sometimes dies at once (ray-project/ray#63202): the
                # error is "Starting Ray client server failed". A new connection gets a
                # new server, so it is tried again a few times before giving up.
                ray.shutdown()
                if attempt == attempts:
                    raise _unavailable(self.address, exc) from exc
                _log.warning(
                    "Ray Client at %s: %s; connecting again (%d of %d)",
                    self.address,
                    str(exc).splitlines()[-1] if str(exc) else type(exc).__name__,
                    attempt + 1,
                    attempts,
                )
                time.sleep(1.0)
            except (ConnectionError, RuntimeError, ValueError, ImportError) as exc:
                raise _unavailable(self.address, exc) from exc

    @property
    def workers(self) -> int:
        """How many tasks run at the same time (default: the cluster's CPUs)."""
        return self._workers

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(item) for item in items]`` as Ray tasks, at most ``workers`` at once."""
        self._check_open()
        import ray
        from ray.exceptions import RayTaskError

        task = ray.remote(num_cpus=1)(_call)
        refs: list[Any] = []
        running: list[Any] = []
        try:
            for item in items:
                if len(running) >= self._workers:
                    _, running = ray.wait(running, num_returns=1)
                refs.append(task.remote(fn, item))
                running.append(refs[-1])
            return list(ray.get(refs))
        except RayTaskError as exc:
            if isinstance(exc.cause, BaseException):
                raise exc.cause from exc
            raise

    def close(self) -> None:
        """Disconnect from Ray (stopping it when it was started here)."""
        if self._closed:
            return
        self._closed = True
        import ray

        ray.shutdown()
