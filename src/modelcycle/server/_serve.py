"""Run the server: uvicorn (uvloop + httptools when installed, access log off), one process or
``workers`` pre-forked processes that share the models loaded once in the parent.

uvicorn's own ``--workers`` spawns fresh interpreters that would each load every model; here
the parent loads the deployments, binds the listening socket, then ``fork()``s: the workers
inherit the socket (the kernel spreads connections) and the model pages copy-on-write. Each
worker starts its own threads (watchers, batchers, the log writer) in its app's lifespan,
after the fork, and opens its own database connections. The parent forwards SIGINT/SIGTERM
and waits; a worker that dies is reported, not silently replaced. The workers' metrics share
one folder (``server._metrics.share_between_workers``), so any worker's ``/metrics`` answers
for all of them.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelcycle.server._state import ServerState
    from modelcycle.serving import ServeSpec
    from modelcycle.tracking import Client

__all__ = ["Startup", "bind", "freeze_heap", "serve", "uvicorn_config"]

_log = logging.getLogger("modelcycle.server")


@dataclass(frozen=True)
class Startup:
    """What ``serve`` reports once it listens: where, how many workers, how long it took."""

    url: str
    workers: int
    models: list[str]
    load_seconds: float
    pids: list[int]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (``port`` 0: a free one), inheritable by forked workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: Any, *, log_level: str = "warning") -> Any:
    """uvicorn's config for the fast path: uvloop and httptools when importable, no access
    log, our app's lifespan on."""
    import uvicorn

    loop = "uvloop" if _importable("uvloop") else "asyncio"
    http = "httptools" if _importable("httptools") else "h11"
    return uvicorn.Config(
        app,
        loop=loop,
        http=http,
        access_log=False,
        log_level=log_level,
        lifespan="on",
        server_header=False,
        timeout_keep_alive=30,
    )


def serve(
    spec: ServeSpec,
    *,
    store: str | None = None,
    artifacts: str | None = None,
    on_ready: Any = None,
) -> None:
    """Serve ``spec`` until interrupted; ``on_ready(Startup)`` is called once the models are
    loaded and the socket listens (before the workers answer their first request)."""
    from modelcycle.server._app import create_app
    from modelcycle.server._state import ServerState
    from modelcycle.tracking import Client

    started = time.monotonic()
    shared = None
    if spec.workers > 1:  # before any metric exists: the workers' metrics go to one folder
        from modelcycle.server._metrics import share_between_workers

        chosen = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        shared = share_between_workers()
        shared = None if chosen else shared  # only a folder made here is removed at the end
    client = Client(store, artifacts)
    state = ServerState(client, spec)
    state.load()
    freeze_heap()
    sock = bind(spec.host, spec.port)
    host, port = sock.getsockname()[:2]
    startup = Startup(
        url=f"http://{host}:{port}",
        workers=spec.workers,
        models=[m.ref for m in spec.models],
        load_seconds=time.monotonic() - started,
        pids=[],
    )
    app = create_app(client, spec, state=state)
    if spec.workers == 1:
        if on_ready is not None:
            on_ready(startup)
        _run(app, sock)
        return
    try:
        _fork_workers(app, state, sock, startup, on_ready)
    finally:
        if shared is not None:
            shutil.rmtree(shared, ignore_errors=True)


def _run(app: Any, sock: socket.socket) -> None:
    import uvicorn

    server = uvicorn.Server(uvicorn_config(app))
    server.run(sockets=[sock])


def _fork_workers(
    app: Any, state: ServerState, sock: socket.socket, startup: Startup, on_ready: Any
) -> None:
    _release_connections(state.client, close=True)
    sys.stdout.flush()
    sys.stderr.flush()
    pids = []
    for _ in range(startup.workers):
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                _release_connections(state.client, close=False)
                _run(app, sock)
            except BaseException:
                _log.exception("worker %s failed", os.getpid())
                code = 1
            finally:
                os._exit(code)
        pids.append(pid)
    sock.close()
    if on_ready is not None:
        on_ready(replace(startup, pids=pids))
    _supervise(pids)


def _supervise(pids: list[int]) -> None:
    """Forward SIGINT/SIGTERM to the workers and wait for all of them."""

    def forward(signum: int, frame: object) -> None:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        remaining = set(pids)
        while remaining:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            remaining.discard(pid)
            code = os.waitstatus_to_exitcode(status)
            if code not in (0, -signal.SIGTERM, -signal.SIGINT):
                _log.error("worker %s exited with status %s", pid, code)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def freeze_heap() -> None:
    """Move every object alive now (the loaded models, the libraries) out of the garbage
    collector's reach. Without it each full collection walks millions of long-lived objects
    and stalls the event loop for 100-500 ms under load (that was the p99); it also keeps
    pre-forked workers from writing to, and so copying, the shared pages. Call it once the
    models are loaded, in a process that only serves (it is process-wide)."""
    gc.collect()
    gc.freeze()


def _release_connections(client: Client, *, close: bool) -> None:
    """Forget (``close=False``, in a worker) or close (in the parent) pooled database
    connections, so no connection is ever shared across a fork."""
    client.metadata.db.engine.dispose(close=close)


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
