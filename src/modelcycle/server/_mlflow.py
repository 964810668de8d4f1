"""MLflow's scoring protocol (also SageMaker's container contract) and Vertex AI's.

    GET  /ping, /health          200 once the model is loaded, else 404 (as MLflow answers)
    GET  /version                the server version
    POST /invocations            application/json (dataframe_split, dataframe_records,
                                 instances, inputs) or text/csv -> {"predictions": [...]}
    POST /v1/models/{m}:predict  Vertex AI: {"instances": [...]} -> {"predictions": [...]}
    AIP_PREDICT_ROUTE / AIP_HEALTH_ROUTE, when set, serve the first model the same way.

``/invocations`` and the ``AIP_*`` routes answer with the first model of the spec (a
SageMaker or Vertex container serves one model). Content types other than JSON and CSV,
parameters other than ``charset`` and any charset but UTF-8 are refused with 415, like MLflow.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from modelcycle._version import __version__
from modelcycle.server import _openapi as docs
from modelcycle.server._common import (
    Problem,
    error_response,
    health_refusal,
    json_response,
    new_request_id,
)
from modelcycle.server._parse import csv_columns, load_json, mlflow_json, rows_or_records
from modelcycle.server._predict import predict_response

if TYPE_CHECKING:
    from modelcycle.server._state import ServerState
    from modelcycle.serving import Answer, ServedModel

__all__ = ["add_mlflow_routes"]

_OUTPUTS = ["predict"]


def _content_type(request: Request) -> str:
    """The media type, after MLflow's checks of the parameters (415 on anything else)."""
    raw = request.headers.get("content-type", "application/json")
    media, *parameters = (part.strip() for part in raw.split(";"))
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        if key.strip().lower() != "charset":
            raise Problem(415, f"unsupported content type parameter {key.strip()!r} in {raw!r}")
        if value.strip().strip('"').lower() != "utf-8":
            raise Problem(415, f"unsupported charset {value.strip()!r}: the server reads UTF-8")
    media = media.lower()
    if media not in ("application/json", "text/csv"):
        raise Problem(415, f"unsupported content type {media!r}: use application/json or text/csv")
    return media


def _decode_invocation(model: ServedModel, body: bytes, request: Request) -> Any:
    if _content_type(request) == "text/csv":
        return csv_columns(body, model.schema.kinds), _OUTPUTS, None
    return mlflow_json(load_json(body), model.schema), _OUTPUTS, None


def _decode_vertex(model: ServedModel, body: bytes, request: Request) -> Any:
    payload = load_json(body)
    if not isinstance(payload, dict) or "instances" not in payload:
        raise Problem(400, 'invalid request body: expected {"instances": [...]}')
    extra = sorted(set(payload) - {"instances", "parameters"})
    if extra:
        raise Problem(400, f"invalid request body: unknown field {extra[0]!r}")
    return rows_or_records(payload["instances"], model.schema, field="instances"), _OUTPUTS, None


def _predictions(answer: Answer, request_id: str, n_rows: int, context: Any) -> Any:
    return {"predictions": answer.outputs["predict"]}


def add_mlflow_routes(app: FastAPI, state: ServerState) -> None:
    """Register the MLflow/SageMaker and Vertex AI routes on ``app``."""
    first = state.spec.models[0].url_name if state.spec.models else ""

    async def ping(request: Request) -> Response:
        """200 once the model is loaded, else 404 (MLflow's and SageMaker's health check)."""
        refused = health_refusal(state, request)
        if refused is not None:
            return refused
        if state.ready:
            return json_response({"ready": True})
        return error_response(Problem(404, "the model is not loaded yet"), new_request_id())

    for path in ("/ping", "/health"):
        app.add_api_route(
            path, ping, methods=["GET"], tags=["mlflow"], responses=docs.ok(docs.READY)
        )

    text = {"description": "the version", "content": {"text/plain": {"schema": {"type": "string"}}}}

    @app.get("/version", tags=["mlflow"], responses={200: text})
    async def version() -> Response:
        """The server version (plain text)."""
        return Response(__version__, media_type="text/plain")

    @app.post(
        "/invocations",
        tags=["mlflow"],
        responses=docs.ok(docs.PREDICTIONS),
        openapi_extra=docs.body(docs.MLFLOW_REQUEST, csv=True),
    )
    async def invocations(request: Request) -> Response:
        """Score rows of the first served model (MLflow scoring protocol)."""
        return await predict_response(
            state, first, "mlflow", request, _decode_invocation, _predictions
        )

    vertex_doc: dict[str, Any] = {
        "tags": ["vertex"],
        "responses": docs.ok(docs.PREDICTIONS),
        "openapi_extra": docs.body(docs.VERTEX_REQUEST),
    }

    @app.post("/v1/models/{name}:predict", **vertex_doc)
    async def vertex(request: Request, name: str) -> Response:
        """Vertex AI prediction: ``{"instances": [...]}`` -> ``{"predictions": [...]}``."""
        return await predict_response(state, name, "vertex", request, _decode_vertex, _predictions)

    predict_route = os.environ.get("AIP_PREDICT_ROUTE")
    if predict_route:

        async def vertex_default(request: Request) -> Response:
            return await predict_response(
                state, first, "vertex", request, _decode_vertex, _predictions
            )

        app.add_api_route(predict_route, vertex_default, methods=["POST"], **vertex_doc)
    health_route = os.environ.get("AIP_HEALTH_ROUTE")
    if health_route:

        async def vertex_health(request: Request) -> Response:
            refused = health_refusal(state, request)
            if refused is not None:
                return refused
            if state.ready:
                return json_response({"ready": True})
            return error_response(Problem(503, "the model is not loaded yet"), new_request_id())

        app.add_api_route(health_route, vertex_health, methods=["GET"], tags=["vertex"])
