"""The ``modelcycle`` command line: a thin view of the library (see ``_app``)."""

from modelcycle.cli import (  # noqa: F401  (registers the commands)
    _data,
    _data_clean,
    _data_profile,
    _data_split,
    _data_validate,
    _data_version,
    _demo,
    _evaluate,
    _experiments,
    _feedback,
    _keys,
    _models,
    _models_io,
    _monitor,
    _predict,
    _run,
    _runs,
    _serve,
)
from modelcycle.cli._app import app, main

__all__ = ["app", "main"]
