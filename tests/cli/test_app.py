"""The CLI root: command modules load on demand, and the table of them is complete."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import modelcycle.cli
from modelcycle.cli import COMMAND_MODULES

Invoke = Callable[..., tuple[int, str, str]]  # the `cli` fixture of conftest.py

# In a fresh interpreter: the command tree (every command path) Typer builds from what the
# given modules registered, after importing the table's modules, or every module of the package.
_TREE = """
import importlib, json, pkgutil, sys
import typer
import modelcycle.cli as cli
from modelcycle.cli import COMMAND_MODULES, app
every = [m.name for m in pkgutil.iter_modules(cli.__path__)]
for name in (every if sys.argv[1] == "all" else COMMAND_MODULES):
    importlib.import_module(f"modelcycle.cli.{name}")
def paths(group, prefix=()):
    found = [prefix]
    for name, command in group.commands.items():
        path = (*prefix, name)
        found += paths(command, path) if hasattr(command, "commands") else [path]
    return found
print(json.dumps(sorted(paths(typer.main.get_command(app)))))
"""

# In a fresh interpreter: run `modelcycle ARGS` and print the command modules it imported.
_LOADED = """
import json, sys
from modelcycle.cli import main
sys.argv = ["modelcycle", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith("modelcycle.cli."))))
"""


def _python(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def test_the_table_names_every_module_that_registers_a_command() -> None:
    modules = {m.name for m in pkgutil.iter_modules(modelcycle.cli.__path__)}
    assert set(COMMAND_MODULES) <= modules
    from_table = json.loads(_python(_TREE, "table"))
    from_all = json.loads(_python(_TREE, "all"))
    assert from_table == from_all  # no module outside the table adds a command
    top = {path[0] for path in from_all if len(path) == 1}
    assert top == {name for names in COMMAND_MODULES.values() for name in names}


def test_a_command_imports_only_its_own_modules(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/m.db"
    loaded = json.loads(_python(_LOADED, "--store", store, "runs", "list", "--json"))
    assert loaded == ["modelcycle.cli._app", "modelcycle.cli._format", "modelcycle.cli._runs"]
    loaded = json.loads(_python(_LOADED, "data", "split", "--help"))
    data_modules = [m for m, names in COMMAND_MODULES.items() if "data" in names]
    assert {f"modelcycle.cli.{m}" for m in data_modules} <= set(loaded)
    assert "modelcycle.cli._run" not in loaded


def test_help_lists_every_command_with_its_help(cli: Invoke) -> None:
    code, out, _ = cli("--help")
    assert code == 0
    listed = {line.split()[1] for line in out.splitlines() if line.startswith("│ ")}
    assert {name for names in COMMAND_MODULES.values() for name in names} <= listed
    assert "│ run " in out and "Run the pipeline: read, validate" in out  # the command's help


def test_an_unknown_command_suggests_names_from_every_module(cli: Invoke) -> None:
    code, _, err = cli("modles")
    assert code == 2
    assert "No such command 'modles'" in err
    assert "'models'" in err
