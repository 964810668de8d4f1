"""The ``modelcycle`` command line: help, JSON output, and one-line errors with exit status 1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer

from modelcycle import __version__
from modelcycle.cli import app
from modelcycle.tracking import Client

Invoke = Callable[..., tuple[int, str, str]]  # the `cli` fixture of conftest.py


@pytest.fixture
def tracked(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Two finished runs in the store named by MODELCYCLE_STORE."""
    monkeypatch.setenv("MODELCYCLE_STORE", store_url)
    monkeypatch.setenv("MODELCYCLE_ARTIFACTS", str(tmp_path / "artifacts"))
    ids = []
    with Client() as client:
        for model, auc in (("lgbm", 0.93), ("logreg", 0.88)):
            with client.start_run("cli", name=model, params={"model": model}) as run:
                run.log_metric("auc", auc)
                run.log_text(f"{model} report", "report.txt")
            ids.append(run.run_id)
    return ids


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    context = typer.Context(group)
    for name in group.list_commands(context):  # the root group loads its commands on demand
        command = group.get_command(context, name)
        if hasattr(command, "commands"):  # a group (typer vendors its own click)
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_every_command_has_help(cli: Invoke) -> None:
    commands = _commands(typer.main.get_command(app))
    assert {("runs", "list"), ("runs", "show"), ("runs", "compare"), ("demo",)} <= set(commands)
    for command in commands:
        code, out, _ = cli(*command, "--help")
        assert code == 0, command
        assert "Usage:" in out


def test_version(cli: Invoke) -> None:
    assert cli("--version") == (0, f"modelcycle {__version__}\n", "")


def test_runs_list_filters_orders_and_prints_json(cli: Invoke, tracked: list[str]) -> None:
    code, out, _ = cli("runs", "list", "--filter", "metrics.auc > 0.9", "--json")
    assert code == 0
    assert [run["name"] for run in json.loads(out)] == ["lgbm"]
    code, out, _ = cli("runs", "list", "-o", "metrics.auc", "--json")
    assert [run["name"] for run in json.loads(out)] == ["logreg", "lgbm"]
    code, out, _ = cli("runs", "list")
    assert code == 0 and "lgbm" in out and "0.93" in out


def test_runs_show_and_compare(cli: Invoke, tracked: list[str]) -> None:
    code, out, _ = cli("runs", "show", tracked[0][:8], "--json")
    shown = json.loads(out)
    assert (code, shown["run_id"], shown["metrics"]) == (0, tracked[0], {"auc": 0.93})
    assert shown["artifacts"][0]["name"] == "report.txt"
    code, out, _ = cli("runs", "compare", *tracked, "--json")
    compared = json.loads(out)
    assert compared["params"] == {"model": ["lgbm", "logreg"]}
    assert compared["differing_params"] == ["model"]
    code, out, _ = cli("runs", "compare", *tracked)
    assert code == 0 and "params.model *" in out


def test_runs_history_and_download(cli: Invoke, tracked: list[str], tmp_path: Path) -> None:
    code, out, _ = cli("runs", "history", tracked[1], "auc", "--json")
    assert (code, [p["value"] for p in json.loads(out)]) == (0, [0.88])
    target = tmp_path / "out.txt"
    code, out, _ = cli("runs", "download", tracked[1], "report.txt", "--to", str(target))
    assert (code, target.read_text()) == (0, "logreg report")


def test_experiments_create_and_list(cli: Invoke, store_url: str) -> None:
    assert cli("--store", store_url, "experiments", "create", "churn")[0] == 0
    code, out, err = cli("--store", store_url, "experiments", "create", "churn")
    assert (code, err) == (1, "error: experiment 'churn' already exists\n")
    code, out, _ = cli("--store", store_url, "experiments", "list", "--json")
    assert [e["name"] for e in json.loads(out)] == ["churn"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["runs", "show", "0000dead"], "error: run '0000dead' not found"),
        (["runs", "list", "-f", "metrics.auc >> 1"], "error: invalid filter 'metrics.auc >> 1'"),
        (
            ["--store", "mysql://x/y", "runs", "list"],
            "error: invalid store URL 'mysql://x/y': unsupported scheme 'mysql'; supported: sqlite",
        ),
        (
            ["--store", "postgresql+psycopg://postgres@127.0.0.1:1/none", "runs", "list"],
            "error: cannot open store postgresql+psycopg://postgres@127.0.0.1:1/none: ",
        ),
        (
            ["--store", "sqlite:///:memory:", "runs", "list"],
            "error: invalid store URL 'sqlite:///:memory:': the SQLite store needs a file",
        ),
    ],
)
def test_errors_are_one_line_naming_the_fault(
    cli: Invoke, tracked: list[str], args: list[str], message: str
) -> None:
    code, _, err = cli(*args)
    assert code == 1
    assert err.startswith(message)
    assert err.count("\n") == 1 and "Traceback" not in err


def test_debug_shows_the_traceback(cli: Invoke, tracked: list[str]) -> None:
    code, _, err = cli("--debug", "runs", "show", "0000dead")
    assert code == 1
    assert "Traceback" in err and "NotFoundError" in err


def test_store_folder_that_cannot_be_created_is_named(cli: Invoke, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = cli("--store", f"sqlite:///{blocker}/sub/m.db", "runs", "list")
    assert code == 1
    assert err.startswith(f"error: cannot open store sqlite:///{blocker}/sub/m.db: cannot create")


def _without_root_powers() -> list[str]:
    """Root ignores file modes; drop the capabilities that let it (as a container user would)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv is not None, "setpriv (util-linux) is needed to test read-only folders as root"
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]


def test_read_only_store_folder_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    command = [
        *_without_root_powers(),
        sys.executable,
        "-m",
        "modelcycle",
        "--store",
        f"sqlite:///{folder}/m.db",
        "runs",
        "list",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    folder.chmod(0o755)
    assert done.returncode == 1
    assert done.stderr == (
        f"error: cannot open store sqlite:///{folder}/m.db: folder {folder} is read-only "
        "(the SQLite store writes its database and journal there)\n"
    )
