"""The ``modelcycle`` console script: the CLI, with Python's cycle collector held while it starts.

Why: a command such as ``modelcycle run`` imports about 2,000 modules (typer, pydantic, pandas,
scikit-learn, SQLAlchemy, LightGBM ...) before it does any work. Each import leaves thousands
of objects that live as long as the process, none of them garbage, and the cycle collector
walks all of them at every full collection, and once more when the interpreter shuts down.
In ``modelcycle run`` on 100,000 rows (``benchmarks/training.py``) that was 0.3-0.4 s of CPU in
four full collections, plus about 0.45 s in the shutdown collection: a tenth of a run whose
training takes 5 s.

So :func:`main` turns the collector off before the CLI is imported, and :func:`settle` turns
it back on once a command's imports are done, after ``gc.freeze()`` has moved everything alive
into the permanent generation, which collections (the shutdown one included) no longer visit.
Only objects already made are frozen; everything the command makes afterwards is collected as
usual. The root callback of the CLI settles before every command except those in
:data:`modelcycle.cli._app.SETTLE_THEMSELVES`, which import their heavy libraries in their
body and call :func:`settle` once they have (``modelcycle run`` after reading its spec), so a
long-lived command (``serve``, ``loop``) never runs with the collector off.

The script also imports a few modules before the CLI for the commands that need them early
(:data:`_FIRST`): ``modelcycle run`` saves its models with skops, whose import scans
``sys.modules`` in import order once per scipy ufunc (about 800 of them), so numpy and
``scipy.special`` go first: position 172 instead of 362, and 0.15 s instead of 0.33 s for that
scan (see ``modelcycle.models._persist``).

Nothing happens outside this entry point: the CLI called in process (``CliRunner`` in the
tests, or ``modelcycle.cli.main`` from a user's code) never had the collector turned off, and
:func:`settle` does nothing there, so it never freezes a host process's objects.
"""

from __future__ import annotations

import gc
import importlib
import sys

__all__ = ["main", "settle"]

_held = False
#: Modules a command imports before the CLI itself, so that they come first in ``sys.modules``
#: (see the module docstring).
_FIRST: dict[str, tuple[str, ...]] = {"run": ("numpy", "scipy.special")}
#: The CLI's global options that take a value (the command is the first other word).
_VALUED = frozenset({"--store", "--artifacts"})


def _command(argv: list[str]) -> str | None:
    """The command word of ``argv`` (the arguments after the program), if any."""
    words = iter(argv)
    for word in words:
        if word in _VALUED:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def settle() -> None:
    """Freeze what the imports made and turn the collector back on, if :func:`main` held it;
    otherwise (the CLI called in process) do nothing."""
    global _held
    if _held:
        _held = False
        gc.freeze()
        gc.enable()


def main() -> None:
    """Console entry point: the ``modelcycle`` command line, started with the collector held
    (see the module docstring)."""
    global _held
    if gc.isenabled():
        gc.disable()
        _held = True
    for module in _FIRST.get(_command(sys.argv[1:]) or "", ()):
        importlib.import_module(module)
    try:
        from modelcycle.cli import main as cli_main

        cli_main()
    finally:
        settle()
