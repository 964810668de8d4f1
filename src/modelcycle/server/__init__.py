"""The HTTP server: every serving protocol on one port (an interface over ``serving/``).

    from modelcycle.server import create_app, serve

    app = create_app(client, ServeSpec.from_refs(["cancer@champion"]))   # an ASGI app
    serve(spec, store=None, artifacts=None)   # uvicorn, pre-forked workers sharing the models

Names load on first use so ``import modelcycle.server`` does not import FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelcycle._lazy import lazy_attributes

if TYPE_CHECKING:
    from modelcycle.server._app import create_app
    from modelcycle.server._serve import Startup, freeze_heap, serve
    from modelcycle.server._state import ServerState

__all__ = ["ServerState", "Startup", "create_app", "freeze_heap", "serve"]

_LAZY = {
    "create_app": "modelcycle.server._app",
    "ServerState": "modelcycle.server._state",
    "Startup": "modelcycle.server._serve",
    "freeze_heap": "modelcycle.server._serve",
    "serve": "modelcycle.server._serve",
}

__getattr__ = lazy_attributes("modelcycle.server", _LAZY, globals())
