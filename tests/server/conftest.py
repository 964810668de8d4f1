"""Fixtures of the server tests: real models in a real store, the app in-process (httpx's
ASGI transport) and on a real uvicorn bound to a free loopback port.

Models (trained once per session, small and quick):
- ``cancer``: a linear model on scikit-learn's breast_cancer, ONNX-ready (the ONNX Runtime
  path); versions 1 (champion) and 2 (for hot swap).
- ``flowers``: a multiclass model on iris with a categorical column ``size`` (the pipeline
  path, and unknown categories).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_iris

from modelcycle.data import SplitSpec
from modelcycle.registry import Registry, export_onnx, signature_of
from modelcycle.serving import ServeSpec
from modelcycle.tracking import Client
from modelcycle.training import TrainData, TrainSpec, train_candidate


@dataclass(frozen=True)
class Trained:
    """Fitted pipelines and their registration inputs, reusable in any store."""

    cancer: Any
    cancer_v2: Any
    cancer_onnx: Any
    cancer_signature: dict[str, Any]
    cancer_rows: pd.DataFrame
    flowers: Any
    flowers_signature: dict[str, Any]
    flowers_rows: pd.DataFrame


@dataclass(frozen=True)
class Served:
    """A store holding the registered models."""

    store: str
    artifacts: str
    trained: Trained

    def client(self) -> Client:
        return Client(self.store, self.artifacts)


def _flowers_frame() -> pd.DataFrame:
    frame: pd.DataFrame = load_iris(as_frame=True).frame
    frame["size"] = (frame["petal length (cm)"] > 4.0).map({True: "large", False: "small"})
    frame["target"] = frame["target"].map({0: "setosa", 1: "versicolor", 2: "virginica"})
    return frame


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """The pipelines, trained once for the session."""
    folder = tmp_path_factory.mktemp("training")
    cancer = load_breast_cancer(as_frame=True).frame
    flowers = _flowers_frame()
    with Client(f"sqlite:///{folder / 'store.db'}", str(folder / "artifacts")) as client:
        data = TrainData.from_frame(cancer, "target", SplitSpec(method="stratified", seed=7))
        first = train_candidate(client, "linear", {"C": 1.0}, data, TrainSpec()).pipeline
        second = train_candidate(client, "linear", {"C": 0.01}, data, TrainSpec()).pipeline
        iris = TrainData.from_frame(flowers, "target", SplitSpec(method="stratified", seed=7))
        flower = train_candidate(client, "linear", {}, iris, TrainSpec()).pipeline
    rows = cancer.drop(columns=["target"])
    flower_rows = flowers.drop(columns=["target"])
    kinds = {c: "numeric" for c in flower_rows.columns} | {"size": "categorical"}
    return Trained(
        cancer=first,
        cancer_v2=second,
        cancer_onnx=export_onnx(first, rows.iloc[:100], task="binary"),
        cancer_signature=signature_of(
            rows, {c: "numeric" for c in rows.columns}, task="binary", classes=[0, 1]
        ),
        cancer_rows=rows,
        flowers=flower,
        flowers_signature=signature_of(
            flower_rows, kinds, task="multiclass", classes=["setosa", "versicolor", "virginica"]
        ),
        flowers_rows=flower_rows,
    )


def register_all(client: Client, trained: Trained) -> None:
    """Register cancer v1 (ONNX-ready, champion), cancer v2 and flowers v1 (champion)."""
    registry = Registry(client)
    common = {"task": "binary", "family": "linear", "source": "tests"}
    first = registry.register_model(
        "cancer",
        trained.cancer,
        signature=trained.cancer_signature,
        onnx=trained.cancer_onnx,
        **common,
    )
    registry.register_model(
        "cancer", trained.cancer_v2, signature=trained.cancer_signature, **common
    )
    registry.promote(first.ref, force=True, reason="tests")
    flower = registry.register_model(
        "flowers",
        trained.flowers,
        signature=trained.flowers_signature,
        task="multiclass",
        family="linear",
        source="tests",
    )
    registry.promote(flower.ref, force=True, reason="tests")


@pytest.fixture(scope="session")
def served(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Served:
    """A SQLite store with the models registered (shared: tests must not move its aliases)."""
    folder = tmp_path_factory.mktemp("served")
    found = Served(f"sqlite:///{folder / 'store.db'}", str(folder / "artifacts"), trained)
    with found.client() as client:
        register_all(client, trained)
    return found


def row_of(frame: pd.DataFrame, i: int = 0) -> dict[str, Any]:
    """Row ``i`` as plain JSON values."""
    return {str(k): (v.item() if hasattr(v, "item") else v) for k, v in frame.iloc[i].items()}


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion (tests stay synchronous)."""
    return asyncio.run(coroutine)


class InProcess:
    """The app with its state started, and an httpx client over the ASGI transport."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state.modelcycle

    def client(self, **headers: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers)

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            async with self.client() as http:
                return await http.request(method, path, **options)

        response: httpx.Response = run(go())
        return response


AppFactory = Callable[..., InProcess]


@pytest.fixture
def make_app(served: Served) -> Iterator[AppFactory]:
    """``make_app(refs, **spec_options)``: an app over the shared store, started; stopped after."""
    from modelcycle.server import create_app

    opened: list[tuple[InProcess, Client]] = []

    def make(
        refs: list[str] | None = None, *, store: Served | None = None, **options: Any
    ) -> InProcess:
        where = store or served
        options.setdefault("log", {"enabled": False})
        spec = ServeSpec.from_refs(["cancer", "flowers"] if refs is None else refs, **options)
        client = where.client()
        found = InProcess(create_app(client, spec))
        found.state.start()
        opened.append((found, client))
        return found

    yield make
    for found, client in opened:
        found.state.stop()
        client.close()


@pytest.fixture
def app(make_app: AppFactory) -> InProcess:
    """The default app: cancer and flowers, batching on, no prediction log."""
    return make_app()


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    """A real uvicorn serving ``app`` on a loopback port, in a thread, until ``stop()``."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        from modelcycle.server._serve import bind, uvicorn_config

        self.sock = bind("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn_config(app))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


@pytest.fixture
def live(make_app: AppFactory) -> Iterator[Callable[..., LiveServer]]:
    """``live(refs, **spec_options)``: a started app behind a real uvicorn; stopped after."""
    servers: list[LiveServer] = []

    def start(refs: list[str] | None = None, **options: Any) -> LiveServer:
        server = LiveServer(make_app(refs, **options).app)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def tmp_store(trained: Trained, tmp_path: Path) -> Served:
    """A fresh SQLite store of this test's own with the models registered (free to change)."""
    found = Served(f"sqlite:///{tmp_path / 'own.db'}", str(tmp_path / "own-artifacts"), trained)
    with found.client() as client:
        register_all(client, trained)
    return found


@pytest.fixture
def register_in(trained: Trained) -> Callable[[str, str], Served]:
    """``register_in(store_url, artifacts)``: that store with the models registered."""

    def make(store: str, artifacts: str) -> Served:
        found = Served(store, artifacts, trained)
        with found.client() as client:
            register_all(client, trained)
        return found

    return make


@pytest.fixture
def port() -> int:
    """A free loopback port."""
    return free_port()
