"""``modelcycle data ...``: the data stage from the shell (profile, validate, clean, split ...).

Each command lives in its own module (``_data_<command>.py``) and registers on ``data_app``.
"""

from __future__ import annotations

import typer

from modelcycle.cli._app import app

data_app = typer.Typer(
    help="Profile, validate, clean, label, split and version datasets.", no_args_is_help=True
)
app.add_typer(data_app, name="data")
