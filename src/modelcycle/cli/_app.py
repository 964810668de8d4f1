"""The root of the ``modelcycle`` command: global options and error handling.

Commands are thin: they parse, call the library through a :class:`~modelcycle.tracking.Client`
built from the global options, and format. Library imports happen inside command bodies so
``modelcycle --help`` does not pay for SQLAlchemy or scikit-learn.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from modelcycle._version import __version__

if TYPE_CHECKING:
    from modelcycle.tracking import Client

__all__ = ["app", "main", "state"]


@dataclass
class _State:
    store: str | None = None
    artifacts: str | None = None
    debug: bool = False

    def client(self) -> Client:
        """A tracking client on the stores chosen by the global options."""
        from modelcycle.tracking import Client

        return Client(self.store, self.artifacts)


state = _State()

app = typer.Typer(
    name="modelcycle",
    help="Carry a machine-learning model through its whole life.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"modelcycle {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            envvar="MODELCYCLE_STORE",
            help="Metadata store URL (default: SQLite under ./.modelcycle/).",
        ),
    ] = None,
    artifacts: Annotated[
        str | None,
        typer.Option(
            "--artifacts",
            envvar="MODELCYCLE_ARTIFACTS",
            help="Artifact store URL or folder (default: ./.modelcycle/artifacts).",
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback when a command fails.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Carry a machine-learning model through its whole life."""
    state.store, state.artifacts, state.debug = store, artifacts, debug


def main() -> None:
    """Console entry point: run the app; our errors become one line and exit status 1."""
    from modelcycle.errors import EXIT_CODE, ModelcycleError

    try:
        app()
    except ModelcycleError as exc:
        if state.debug or "--debug" in sys.argv:
            traceback.print_exc()
        typer.echo(f"error: {exc.message}", err=True)
        raise SystemExit(EXIT_CODE) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise SystemExit(130) from None
