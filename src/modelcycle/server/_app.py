"""The ASGI app: every protocol on one port, over the deployments of one ``ServerState``.

    app = create_app(client, ServeSpec.from_refs(["cancer@champion"]))
    uvicorn.run(app)                      # or: modelcycle serve cancer

The app starts its state (loads the models, starts watchers, batchers and the log writer) in
its lifespan, so a pre-forked worker starts its own threads; tests without a lifespan call
``app.state.modelcycle.start()``. Our errors become ``{"error": message}`` with the status of
``errors.http_status``; request-shape errors FastAPI finds itself become 400.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Route

from modelcycle._version import __version__
from modelcycle.errors import ModelcycleError
from modelcycle.monitoring._prometheus import register_monitoring
from modelcycle.server._common import StampHeaders, error_response, json_response, new_request_id
from modelcycle.server._feedback import add_feedback_routes
from modelcycle.server._hot import HotPaths
from modelcycle.server._mlflow import add_mlflow_routes
from modelcycle.server._native import add_native_routes
from modelcycle.server._state import ServerState
from modelcycle.server._v2 import add_v2_routes

if TYPE_CHECKING:
    from modelcycle.serving import ServeSpec
    from modelcycle.tracking import Client

__all__ = ["create_app"]

_DESCRIPTION = """\
One server for every protocol: Open Inference Protocol v2 (KServe, Seldon MLServer, Triton
clients), MLflow's scoring protocol (`/invocations`, also SageMaker's), Vertex AI
(`{"instances"}` -> `{"predictions"}`) and the native `/predict/{name}` with row ids.
Every response carries `X-Model-Version` (the version that answered) and `X-Request-Id`.
"""


def create_app(client: Client, spec: ServeSpec, *, state: ServerState | None = None) -> FastAPI:
    """The FastAPI app serving ``spec``'s models through ``client``'s stores.

    ``state`` lets a pre-forking parent hand over deployments it loaded already. Under a
    server of your own, call ``modelcycle.server.freeze_heap()`` once the app has
    started, as ``serve`` does, for the best tail latency."""
    state = state or ServerState(client, spec)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(state.start)
        try:
            yield
        finally:
            await run_in_threadpool(state.stop)

    app = FastAPI(
        title="modelcycle",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.modelcycle = state
    register_monitoring(state.metrics.registry, state.client.metadata)
    add_v2_routes(app, state)
    add_mlflow_routes(app, state)
    add_native_routes(app, state)
    add_feedback_routes(app, state)
    hot = _fast_paths(app)
    app.add_exception_handler(ModelcycleError, _library_error)
    app.add_exception_handler(RequestValidationError, _request_error)
    app.add_middleware(StampHeaders, labels=state.labels)
    app.add_middleware(HotPaths, routes=hot, labels=state.labels)

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return json_response({"name": "modelcycle", "version": __version__, "docs": "/docs"})

    return app


#: Prediction routes served without FastAPI's per-request machinery (see ``_fast_paths``).
HOT_PATHS = frozenset(
    {
        "/predict/{name}",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
        "/invocations",
        "/v1/models/{name}:predict",
    }
)


def _fast_paths(app: FastAPI) -> list[Route]:
    """Put a plain Starlette route in front of each prediction route; the plain routes.

    The handlers take the raw request and answer a finished ``Response``, so FastAPI's
    dependency solving, telemetry context and response validation would be pure cost on the
    hot path; the plain route answers first (and is matched first), while the FastAPI route
    behind it stays in the OpenAPI document with its request and response schemas. The
    ``HotPaths`` middleware answers the plain routes before the rest of the middleware stack."""
    fast = []
    for route in app.router.routes:
        if isinstance(route, APIRoute) and route.path in HOT_PATHS:
            methods = sorted(route.methods or ())
            fast.append(Route(route.path, _direct(route.endpoint), methods=methods))
    app.router.routes[:0] = fast
    return fast


def _direct(
    endpoint: Callable[..., Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def call(request: Request) -> Response:
        return await endpoint(request, **request.path_params)

    return call


async def _library_error(request: Request, exc: Exception) -> Response:
    return error_response(exc, new_request_id())


async def _request_error(request: Request, exc: Exception) -> Response:
    errors: list[dict[str, Any]] = getattr(exc, "errors", list)()
    first = errors[0] if errors else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    message = f"invalid request: {where or 'request'}: {first.get('msg', 'not valid')}"
    return json_response({"error": message}, 400, {"X-Request-Id": new_request_id()})
