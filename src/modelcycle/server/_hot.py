"""The prediction routes answered in front of the app's middleware stack.

A prediction request needs none of what sits between uvicorn and its handler: no user
middleware but the header stamp, no exception middleware (the handlers answer every error
themselves, and our library errors get the same answer as the app's handler gives), no
dependency solving, no router walk over every route. Each layer is an ``await`` and a closure
around ``send``; together they cost about a fifth of the event loop's time per request under
load. :class:`HotPaths` is the outermost user middleware: a request that fully matches one of
the plain prediction routes is answered by that route's endpoint at once (its response headers
stamped as ``StampHeaders`` does); everything else, including a wrong method on a prediction
path, goes down the app's stack unchanged. Starlette's ``ServerErrorMiddleware`` stays
outside, so an unexpected exception is still a logged 500.

Hand-written because it is glue: Starlette's ``Route.matches`` does the matching.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from modelcycle.errors import ModelcycleError
from modelcycle.server._common import StampHeaders, error_response, new_request_id

__all__ = ["HotPaths"]


class HotPaths:
    """ASGI middleware answering ``routes`` (plain Starlette routes whose endpoint takes the
    request and returns a finished response) without the rest of the app's stack."""

    def __init__(self, app: ASGIApp, routes: Sequence[Route], labels: Callable[[], str]) -> None:
        self.app = app
        self.routes = tuple(routes)
        self.stamped = StampHeaders(_answer, labels)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            for route in self.routes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)
                    await self.stamped(scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def _answer(scope: Scope, receive: Receive, send: Send) -> None:
    endpoint: Callable[[Request], Awaitable[Any]] = scope["endpoint"]
    request = Request(scope, receive, send)
    try:
        response = await endpoint(request)
    except ModelcycleError as exc:  # what the app's exception handler answers
        response = error_response(exc, new_request_id())
    await response(scope, receive, send)
