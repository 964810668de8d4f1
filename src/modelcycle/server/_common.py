"""What every route shares: request ids, bounded body reading, JSON responses, the error
mapping (our errors -> ``errors.http_status``; never a 500 for a client's mistake), API-key
checks and the middleware that stamps ``X-Request-Id`` / ``X-Model-Version`` on every answer."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import orjson
from starlette.responses import Response

from modelcycle.errors import ModelcycleError, http_status

if TYPE_CHECKING:
    from starlette.requests import Request

    from modelcycle.server._state import ServerState

__all__ = [
    "Problem",
    "StampHeaders",
    "error_message",
    "error_response",
    "health_refusal",
    "json_response",
    "new_request_id",
    "read_body",
    "require_scope",
]

_log = logging.getLogger("modelcycle.server")
JSON = "application/json"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


class Problem(Exception):
    """An HTTP answer other than 200 that is not one of our library errors (401, 403, 413,
    415, 503): the status and a message for the ``{"error": ...}`` body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


#: Request ids not handed out yet: drawn from ``os.urandom`` 256 at a time, because each
#: ``os.urandom`` call releases the GIL, and under load the event loop then waits for the
#: batcher and log threads to give it back (5% of its time at 4,000 requests/s).
_FRESH_IDS: list[str] = []


def new_request_id() -> str:
    """A fresh request id: 32 hex characters (128 random bits from ``os.urandom``)."""
    try:
        return _FRESH_IDS.pop()
    except IndexError:
        drawn = os.urandom(16 * 256).hex()
        _FRESH_IDS.extend(drawn[i : i + 32] for i in range(32, len(drawn), 32))
        return drawn[:32]


# a forked worker must never hand out the ids its parent holds
os.register_at_fork(after_in_child=_FRESH_IDS.clear)


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A response whose body is ``payload`` encoded once by orjson."""
    return Response(orjson.dumps(payload), status, headers, JSON)


def status_of(exc: BaseException) -> int:
    """The HTTP status that answers ``exc``."""
    if isinstance(exc, Problem):
        return exc.status
    if isinstance(exc, ModelcycleError):
        return http_status(exc)
    return 500


def error_message(exc: BaseException, request_id: str) -> str:
    """What the client is told of ``exc``: our message, or for an unexpected exception its
    type and the request id to find the traceback in the server log (no internals)."""
    if isinstance(exc, (Problem, ModelcycleError)):
        return exc.message
    return f"internal error ({type(exc).__name__}); see the server log, request {request_id}"


def error_response(exc: BaseException, request_id: str, label: str | None = None) -> Response:
    """``{"error": message}`` with the status of ``exc``; an unexpected exception is logged
    with its traceback and answered 500 without internals."""
    status = status_of(exc)
    if not isinstance(exc, (Problem, ModelcycleError)):
        _log.exception("request %s failed", request_id)
    message = error_message(exc, request_id)
    headers = {"X-Request-Id": request_id}
    if label:
        headers["X-Model-Version"] = label
    return json_response({"error": message}, status, headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes before it is all read."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Problem(400, f"invalid Content-Length header {declared!r}")
        if int(declared) > limit:
            raise Problem(413, f"request body of {declared} bytes is over the limit of {limit}")
        return await request.body()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def require_scope(state: ServerState, request: Request, scope: str) -> None:
    """Refuse the request (401 no or unknown key, 403 a key without ``scope``) when API
    keys are enabled; the key comes from ``Authorization: Bearer`` or ``X-API-Key``."""
    keys = state.keys
    if keys is None:
        return
    secret = request.headers.get("x-api-key")
    if secret is None:
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            secret = value.strip()
    if not secret:
        raise Problem(401, "an API key is required (Authorization: Bearer KEY or X-API-Key)")
    if keys.verify(secret, scope) is not None:
        return
    for other in ("predict", "feedback", "admin"):
        info = keys.verify(secret, other)
        if info is not None:
            raise Problem(403, f"the API key {info.name!r} lacks the scope {scope!r}")
    raise Problem(401, "the API key is unknown or revoked")


def health_refusal(state: ServerState, request: Request) -> Response | None:
    """The 401/403 answer to a health check when health is closed (``auth.open_health``
    false) and the request has no valid ``predict`` key; None when it may proceed."""
    if state.keys is None or state.spec.auth.open_health:
        return None
    try:
        require_scope(state, request, "predict")
    except Problem as exc:
        return error_response(exc, new_request_id())
    return None


class StampHeaders:
    """ASGI middleware: every HTTP response carries ``X-Request-Id`` and ``X-Model-Version``
    (the versions served now) unless its route set them already."""

    def __init__(self, app: ASGIApp, labels: Callable[[], str]) -> None:
        self.app = app
        self.labels = labels

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                names = {name.lower() for name, _ in headers}
                if b"x-request-id" not in names:
                    headers.append((b"x-request-id", new_request_id().encode()))
                if b"x-model-version" not in names:
                    headers.append((b"x-model-version", self.labels().encode()))
            await send(message)

        await self.app(scope, receive, stamped)
