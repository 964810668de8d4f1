"""The ``modelcycle`` command line: a thin view of the library (see ``_app``)."""

from modelcycle.cli import _data, _demo, _experiments, _runs  # noqa: F401  (registers commands)
from modelcycle.cli._app import app, main

__all__ = ["app", "main"]
