"""Open Inference Protocol v2 routes (KServe, Seldon MLServer and Triton clients).

GET  /v2                                   server metadata
GET  /v2/health/live | /v2/health/ready    200 or 503 (clients read the status code)
GET  /v2/models/{m}[/versions/{v}]         model metadata: inputs and outputs as tensors
GET  /v2/models/{m}[/versions/{v}]/ready   {"name", "ready"}
POST /v2/models/{m}[/versions/{v}]/infer   inference (JSON or Triton's binary tensors)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from modelcycle._version import __version__
from modelcycle.errors import NotFoundError
from modelcycle.server import _openapi as docs
from modelcycle.server._common import (
    Problem,
    error_response,
    health_refusal,
    json_response,
    new_request_id,
    require_scope,
)
from modelcycle.server._parse import load_json
from modelcycle.server._predict import predict_response
from modelcycle.server._v2codec import decode_request, encode_outputs

if TYPE_CHECKING:
    from modelcycle.server._state import ServerState
    from modelcycle.serving import Answer, Deployment, ServedModel

__all__ = ["add_v2_routes"]

_BINARY_HEADER = "inference-header-content-length"


def _decode(model: ServedModel, body: bytes, request: Request) -> tuple[Any, list[str], Any]:
    header = request.headers.get(_BINARY_HEADER)
    binary = b""
    if header is not None:
        if not header.isdigit() or int(header) > len(body):
            raise Problem(400, f"invalid Inference-Header-Content-Length header {header!r}")
        body, binary = body[: int(header)], body[int(header) :]
    decoded = decode_request(load_json(body), binary, model.schema.names, model.outputs)
    return decoded.columns, decoded.outputs or list(model.outputs), decoded.id


def _encoder(route: str) -> Any:
    def encode(answer: Answer, request_id: str, n_rows: int, client_id: Any) -> Any:
        return {
            "model_name": route,
            "model_version": answer.label.rpartition("@")[2],
            "id": client_id if client_id is not None else request_id,
            "outputs": encode_outputs(answer.outputs, n_rows),
        }

    return encode


def _served(state: ServerState, name: str, version: str | None) -> Deployment:
    deployment = state.deployment(name)
    if version is not None:
        served = [label.rpartition("@")[2] for label in deployment.versions()]
        if version not in served:
            shown = ", ".join(served) or "none yet"
            raise NotFoundError(
                f"model {name!r} does not serve version {version!r}; served: {shown}"
            )
    return deployment


def add_v2_routes(app: FastAPI, state: ServerState) -> None:
    """Register the v2 routes on ``app``."""

    def guarded(request: Request, scope: str = "predict") -> None:
        if state.keys is not None:
            require_scope(state, request, scope)

    @app.get("/v2", tags=["v2"], responses=docs.ok(docs.V2_SERVER))
    async def server_metadata(request: Request) -> Response:
        """Server name, version and protocol extensions."""
        try:
            guarded(request)
        except Problem as exc:
            return error_response(exc, new_request_id())
        return json_response({"name": "modelcycle", "version": __version__, "extensions": []})

    @app.get("/v2/health/live", tags=["v2"], responses=docs.ok(docs.LIVE))
    async def live(request: Request) -> Response:
        """200 while the server process answers."""
        return _health(state, request, lambda: True, "live")

    @app.get("/v2/health/ready", tags=["v2"], responses=docs.ok(docs.READY))
    async def ready(request: Request) -> Response:
        """200 once every served model is loaded, else 503."""
        return _health(state, request, lambda: state.ready, "ready")

    async def _metadata(request: Request, name: str, version: str | None) -> Response:
        try:
            guarded(request)
            deployment = _served(state, name, version)
            if not deployment.ready:
                raise Problem(503, f"model {name!r} is not loaded yet")
            model = deployment.current
            answer = {
                "name": name,
                "versions": [label.rpartition("@")[2] for label in deployment.versions()],
                "platform": f"modelcycle_{model.backend}",
                "inputs": model.schema.v2_inputs(),
                "outputs": model.v2_outputs(),
            }
        except Exception as exc:
            return error_response(exc, new_request_id())
        return json_response(answer, headers={"X-Model-Version": model.label})

    async def _model_ready(request: Request, name: str, version: str | None) -> Response:
        try:
            guarded(request)
            is_ready = _served(state, name, version).ready
        except Exception as exc:
            return error_response(exc, new_request_id())
        return json_response({"name": name, "ready": is_ready}, 200 if is_ready else 503)

    async def _infer(request: Request, name: str, version: str | None) -> Response:
        if version is not None:
            try:
                _served(state, name, version)
            except Exception as exc:
                return error_response(exc, new_request_id())
        return await predict_response(state, name, "v2", request, _decode, _encoder(name))

    meta: dict[str, Any] = {"tags": ["v2"], "responses": docs.ok(docs.V2_METADATA)}
    ready_doc: dict[str, Any] = {"tags": ["v2"], "responses": docs.ok(docs.V2_MODEL_READY)}
    infer_doc: dict[str, Any] = {
        "tags": ["v2"],
        "responses": docs.ok(docs.V2_RESPONSE),
        "openapi_extra": docs.body(docs.V2_REQUEST),
    }

    async def metadata(request: Request, name: str) -> Response:
        return await _metadata(request, name, None)

    async def model_ready(request: Request, name: str) -> Response:
        return await _model_ready(request, name, None)

    async def infer(request: Request, name: str) -> Response:
        return await _infer(request, name, None)

    async def metadata_of(request: Request, name: str, version: str) -> Response:
        return await _metadata(request, name, version)

    async def model_ready_of(request: Request, name: str, version: str) -> Response:
        return await _model_ready(request, name, version)

    async def infer_of(request: Request, name: str, version: str) -> Response:
        return await _infer(request, name, version)

    for prefix, endpoints in (
        ("/v2/models/{name}", (metadata, model_ready, infer)),
        ("/v2/models/{name}/versions/{version}", (metadata_of, model_ready_of, infer_of)),
    ):
        meta_fn, ready_fn, infer_fn = endpoints
        app.add_api_route(prefix, meta_fn, methods=["GET"], summary="Model metadata", **meta)
        app.add_api_route(
            prefix + "/ready", ready_fn, methods=["GET"], summary="Model ready", **ready_doc
        )
        app.add_api_route(
            prefix + "/infer", infer_fn, methods=["POST"], summary="Inference", **infer_doc
        )


def _health(state: ServerState, request: Request, check: Any, key: str) -> Response:
    refused = health_refusal(state, request)
    if refused is not None:
        return refused
    ok = bool(check())
    return json_response({key: ok}, 200 if ok else 503)
