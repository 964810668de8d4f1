"""The ``modelcycle`` command line: a thin view of the library (see ``_app``).

Command modules are imported when their command is used; ``_app.COMMAND_MODULES`` lists them.
"""

from modelcycle.cli._app import COMMAND_MODULES, app, main

__all__ = ["COMMAND_MODULES", "app", "main"]
