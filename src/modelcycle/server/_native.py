"""modelcycle's own routes: native prediction with row ids, operations and admin.

POST /predict/{name}   records in; {"model", "request_id", "ids", "predictions",
                       "classes"?, "probabilities"?} out (ids: "REQUEST_ID:ROW")
GET  /metrics          Prometheus text (open or API-key "admin" per spec)
GET  /api/models       what is served (scope admin)
POST /admin/reload     check every followed alias now (scope admin)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from modelcycle.server import _openapi as docs
from modelcycle.server._common import (
    Problem,
    error_response,
    json_response,
    new_request_id,
    require_scope,
)
from modelcycle.server._metrics import CONTENT_TYPE
from modelcycle.server._parse import load_json, records
from modelcycle.server._predict import predict_response

if TYPE_CHECKING:
    from modelcycle.server._state import ServerState
    from modelcycle.serving import Answer, Deployment, ServedModel

__all__ = ["add_native_routes", "describe"]


def _decode(model: ServedModel, body: bytes, request: Request) -> Any:
    payload = load_json(body)
    proba = False
    if isinstance(payload, dict):
        extra = sorted(set(payload) - {"records", "probabilities"})
        if extra:
            why = "expected 'records' and, optionally, 'probabilities'"
            raise Problem(400, f"invalid request body: unknown field {extra[0]!r} ({why})")
        proba = payload.get("probabilities", False)
        if not isinstance(proba, bool):
            raise Problem(
                400, f"invalid value {proba!r} for field 'probabilities': expected a boolean"
            )
        if "records" not in payload:
            raise Problem(400, "invalid request body: missing field 'records'")
        payload = payload["records"]
    if proba and "predict_proba" not in model.outputs:
        raise Problem(400, f"invalid field 'probabilities': {model.label} is a regressor")
    outputs = ["predict", "predict_proba"] if proba else ["predict"]
    return records(payload, model.schema, field="records"), outputs, proba


def _classes(state: ServerState, route: str) -> list[Any] | None:
    deployment = state.deployments.get(route)
    return None if deployment is None else deployment.current.classes


def add_native_routes(app: FastAPI, state: ServerState) -> None:
    """Register the native, metrics and admin routes on ``app``."""

    @app.post(
        "/predict/{name}",
        tags=["native"],
        responses=docs.ok(docs.NATIVE_RESPONSE),
        openapi_extra=docs.body(docs.NATIVE_REQUEST),
    )
    async def predict(request: Request, name: str) -> Response:
        """Predict records with model ``name``; every row gets an id for feedback."""

        def encode(answer: Answer, request_id: str, n_rows: int, proba: Any) -> Any:
            payload: dict[str, Any] = {
                "model": answer.label,
                "request_id": request_id,
                "ids": [f"{request_id}:{i}" for i in range(n_rows)],
                "predictions": answer.outputs["predict"],
            }
            if proba:
                payload["classes"] = _classes(state, name)
                payload["probabilities"] = answer.outputs["predict_proba"]
            return payload

        return await predict_response(state, name, "native", request, _decode, encode)

    exposition = {"text/plain": {"schema": {"type": "string"}}}
    scrape = {200: {"description": "Prometheus text format", "content": exposition}, **docs.ERRORS}

    @app.get("/metrics", tags=["operations"], responses=scrape)
    async def metrics(request: Request) -> Response:
        """Prometheus text exposition of the server's metrics."""
        try:
            if state.keys is not None and not state.spec.auth.open_metrics:
                require_scope(state, request, "admin")
        except Problem as exc:
            return error_response(exc, new_request_id())
        return Response(state.metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/api/models", tags=["admin"], responses=docs.ok(docs.MODELS))
    async def models(request: Request) -> Response:
        """Every served route: model, alias followed, versions served, backend, readiness."""
        try:
            if state.keys is not None:
                require_scope(state, request, "admin")
        except Problem as exc:
            return error_response(exc, new_request_id())
        return json_response({"models": [describe(r, d) for r, d in state.deployments.items()]})

    @app.post("/admin/reload", tags=["admin"], responses=docs.ok(docs.MODELS))
    async def reload(request: Request) -> Response:
        """Check every followed alias now and swap to the version it points at."""
        try:
            if state.keys is not None:
                require_scope(state, request, "admin")
            for deployment in state.deployments.values():
                await run_in_threadpool(deployment.refresh)
        except Exception as exc:
            return error_response(exc, new_request_id())
        return json_response({"models": [describe(r, d) for r, d in state.deployments.items()]})


def describe(route: str, deployment: Deployment) -> dict[str, Any]:
    """One served route as plain JSON."""
    spec = deployment.model_spec
    found: dict[str, Any] = {
        "route": route,
        "model": spec.name,
        "alias": spec.alias,
        "ready": deployment.ready,
        "versions": list(deployment.versions()) if deployment.ready else [],
        "policy": None if spec.policy is None else spec.policy.model_dump(),
    }
    if deployment.ready:
        current = deployment.current
        found["backend"] = current.backend
        found["loaded_at"] = current.loaded_at.isoformat()
    return found
