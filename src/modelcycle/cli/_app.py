"""The root of the ``modelcycle`` command: global options, lazy command loading, errors.

Commands are thin: they parse, call the library through a :class:`~modelcycle.tracking.Client`
built from the global options, and format. Library imports happen inside command bodies so
``modelcycle --help`` does not pay for SQLAlchemy or scikit-learn.

Each command module registers its commands on :data:`app` when it is imported, and
:data:`COMMAND_MODULES` says which module defines which top-level command: a command's
module is imported only when that command is looked up (``modelcycle run`` imports and builds
the run command alone), while ``--help`` and an unknown command's suggestions import all.
A new command module goes into that table, or its commands are never found.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer
from typer import _click  # Typer's vendored click: the types of its groups
from typer.core import TyperGroup

from modelcycle._version import __version__

if TYPE_CHECKING:
    from modelcycle.tracking import Client

__all__ = ["COMMAND_MODULES", "SETTLE_THEMSELVES", "app", "main", "state"]

#: Each command module (under ``modelcycle.cli``) and the top-level commands or command
#: groups it defines or adds subcommands to, in ``--help`` order.
COMMAND_MODULES: dict[str, list[str]] = {
    "_data": ["data"],
    "_data_clean": ["data"],
    "_data_profile": ["data"],
    "_data_split": ["data"],
    "_data_validate": ["data"],
    "_data_version": ["data"],
    "_demo": ["demo"],
    "_evaluate": ["evaluate"],
    "_experiments": ["experiments"],
    "_feedback": ["feedback"],
    "_keys": ["keys"],
    "_models": ["models", "audit"],
    "_models_io": ["models"],
    "_monitor": ["monitor"],
    "_monitor_ops": ["monitor"],
    "_predict": ["predict"],
    "_retrain": ["retrain", "loop"],
    "_run": ["run"],
    "_runs": ["runs"],
    "_serve": ["serve"],
}

#: Commands that turn the cycle collector back on themselves once their imports are done
#: (``modelcycle._console.settle``, which says why it is held); the root callback does it
#: before any other command.
SETTLE_THEMSELVES = frozenset({"run"})


class _LazyGroup(TyperGroup):
    """The root command group: imports a command's modules when the command is looked up."""

    def list_commands(self, ctx: _click.Context) -> list[str]:
        """Every command in the table (listing them shows their help: all are loaded)."""
        self._load(list(COMMAND_MODULES))
        return list(dict.fromkeys(name for names in COMMAND_MODULES.values() for name in names))

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        """The command ``cmd_name``, its modules imported and the command built on first use."""
        if cmd_name not in self.commands:
            self._load([module for module, names in COMMAND_MODULES.items() if cmd_name in names])
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        """As Typer's, with every command loaded first when ``args[0]`` is none of ours (so
        the "did you mean" suggestions know every name)."""
        if args and not any(args[0] in names for names in COMMAND_MODULES.values()):
            self._load(list(COMMAND_MODULES))
        return super().resolve_command(ctx, args)

    def _load(self, modules: list[str]) -> None:
        missing = [m for m in modules if f"{__package__}.{m}" not in sys.modules]
        for module in missing:
            importlib.import_module(f"{__package__}.{module}")  # registers on ``app``
        if missing or any(n not in self.commands for m in modules for n in COMMAND_MODULES[m]):
            built = typer.main.get_command(app)  # click commands of all registered so far
            if not isinstance(built, TyperGroup):  # the root has a callback: always a group
                raise TypeError(f"the modelcycle CLI root built as {type(built).__name__}")
            for name, command in built.commands.items():
                self.commands.setdefault(name, command)


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
    cls=_LazyGroup,
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
    ctx: typer.Context,
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
    if ctx.invoked_subcommand not in SETTLE_THEMSELVES:
        from modelcycle._console import settle

        settle()


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
