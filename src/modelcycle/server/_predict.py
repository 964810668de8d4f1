"""The one prediction path every protocol shares: auth, body, decode, predict, encode.

A request that fails after its route's serving version is known (a malformed or invalid body,
a too-large body, a model error) is counted in the server's metrics and logged to the
prediction log as a failed request (status and error, no inputs) by
:meth:`ServerState.log_failure`; one refused before (no or a wrong API key, an unknown route,
a model still loading) is only counted: it names no version, and an unauthenticated client
must not write to the store. An answered request pays nothing for this.

A protocol supplies ``decode(model, body, request) -> (columns, outputs, context)`` and
``encode(answer, request_id, n_rows, context) -> payload``; this module does the rest with
no pydantic model and no dependency injection per request: the raw body is read once, parsed
by orjson, and the answer is encoded once by orjson into a plain ``Response``.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

import orjson
from starlette.responses import Response

from modelcycle.server._common import (
    JSON,
    Problem,
    error_message,
    error_response,
    new_request_id,
    read_body,
    require_scope,
    status_of,
)

if TYPE_CHECKING:
    from starlette.requests import Request

    from modelcycle.server._state import ServerState
    from modelcycle.serving import Answer, ServedModel

__all__ = ["Decode", "Encode", "predict_response"]

Columns = dict[str, list[Any]]
Decode = Callable[["ServedModel", bytes, "Request"], tuple[Columns, list[str], Any]]
Encode = Callable[["Answer", str, int, Any], Any]


async def predict_response(
    state: ServerState,
    route: str,
    protocol: str,
    request: Request,
    decode: Decode,
    encode: Encode,
) -> Response:
    """Answer one prediction request of ``route`` in ``protocol``'s wire format."""
    started = perf_counter()
    request_id = new_request_id()
    label: str | None = None
    try:
        if state.keys is not None:
            require_scope(state, request, "predict")
        deployment = state.deployment(route)
        if not deployment.ready:
            raise Problem(503, f"model {route!r} is not loaded yet")
        model = deployment.current
        label = model.label
        body = await read_body(request, state.spec.limits.max_body_bytes)
        columns, outputs, context = decode(model, body, request)
        header = state.key_headers.get(route)
        key = request.headers.get(header) if header else None
        answer = await deployment.predict(columns, outputs, key=key, request_id=request_id)
        label = answer.label
        n_rows = len(next(iter(columns.values()), ()))
        payload = encode(answer, request_id, n_rows, context)
    except Exception as exc:
        known = route if route in state.deployments else "_unknown"  # bounded label values
        status = status_of(exc)
        state.metrics.failed(known, protocol, status)
        response = error_response(exc, request_id, label)
        if label is not None and state.logger is not None:
            elapsed_ms = (perf_counter() - started) * 1000
            message = error_message(exc, request_id)
            state.log_failure(label, request_id, elapsed_ms, status, message)
        return response
    state.metrics.answered(route, label, protocol, perf_counter() - started)
    headers = {"X-Request-Id": request_id, "X-Model-Version": label}
    return Response(orjson.dumps(payload), 200, headers, JSON)
