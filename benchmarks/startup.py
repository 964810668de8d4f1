"""Start-up cost: how long ``import modelcycle`` and the ``modelcycle`` command take to start.

Why: every script that tracks a run pays for ``import modelcycle``, and every shell command pays
for the CLI's start, so both must stay fast (the issue's target: ``import modelcycle`` and
``modelcycle --help`` each under 0.5 s). MLflow users complain about its weight (mlflow#16463),
so the same commands of MLflow are timed beside ours, with ``python -c "pass"`` as the floor that
no Python program can beat.

What is measured: the wall time of each command in a fresh subprocess (the interpreter's start,
the imports, the work and the exit), one untimed warm-up first (so bytecode caches exist, as on
any machine after the first run), then the median of ``--runs`` timed runs (default 7). The
commands run in an empty temporary folder with ``MLFLOW_DISABLE_TELEMETRY=true`` (this machine
has no network). Each must exit 0.

Also reported: which heavy libraries (SQLAlchemy, scikit-learn, NumPy, pandas, torch, Ray, SHAP,
ONNX, Alembic) are in ``sys.modules`` after ``import modelcycle``, after touching
``modelcycle.Client`` and after ``modelcycle --help``, and the slowest imports of the two
targeted commands by ``python -X importtime`` (cumulative microseconds).

    .venv/bin/python benchmarks/startup.py              # table; exit 1 when a target is missed
    .venv/bin/python benchmarks/startup.py --no-check   # table only
    .venv/bin/python benchmarks/startup.py --json       # results as JSON on stdout
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

HEAVY = ("sqlalchemy", "sklearn", "numpy", "pandas", "torch", "ray", "shap", "onnx", "alembic")
TARGET_S = 0.5

_BIN = Path(sys.executable).parent
PYTHON = sys.executable


@dataclass(frozen=True)
class Command:
    """One command line to time, and its start-up target if it has one."""

    label: str
    argv: tuple[str, ...]
    target_s: float | None = None


def _py(code: str) -> tuple[str, ...]:
    return (PYTHON, "-c", code)


COMMANDS = (
    Command('python -c "pass"', _py("pass")),
    Command('python -c "import modelcycle"', _py("import modelcycle"), TARGET_S),
    Command(
        'python -c "import modelcycle; modelcycle.Client"',
        _py("import modelcycle; modelcycle.Client"),
    ),
    Command("modelcycle --help", (str(_BIN / "modelcycle"), "--help"), TARGET_S),
    Command("modelcycle runs --help", (str(_BIN / "modelcycle"), "runs", "--help")),
    Command("modelcycle --version", (str(_BIN / "modelcycle"), "--version")),
    Command('python -c "import mlflow"', _py("import mlflow")),
    Command("mlflow --help", (str(_BIN / "mlflow"), "--help")),
)

#: Code run in a subprocess that leaves the loaded module names in the file named by argv[1].
_CLI_THEN_DUMP = """
import json, sys
out, sys.argv = sys.argv[1], ["modelcycle", *sys.argv[2:]]
from modelcycle.cli import main
try:
    main()
except SystemExit:
    pass
open(out, "w").write(json.dumps(sorted(sys.modules)))
"""

_CODE_THEN_DUMP = """
import json, sys
out = sys.argv[1]
exec(sys.argv[2])
open(out, "w").write(json.dumps(sorted(sys.modules)))
"""

#: What the heavy-module report looks at: a label, the script, and its arguments after OUT.
MODULE_PROBES = (
    ("import modelcycle", _CODE_THEN_DUMP, ("import modelcycle",)),
    ("modelcycle.Client", _CODE_THEN_DUMP, ("import modelcycle; modelcycle.Client",)),
    ("modelcycle --help", _CLI_THEN_DUMP, ("--help",)),
    ("modelcycle runs --help", _CLI_THEN_DUMP, ("runs", "--help")),
)


class CommandFailed(RuntimeError):
    """A measured command did not exit 0."""


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHONPROFILE")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    return env


def _run(argv: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(list(argv), cwd=cwd, env=_environment(), capture_output=True, check=False)
    if done.returncode != 0:
        error = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise CommandFailed(f"{' '.join(argv)} exited {done.returncode}: {error[0]}")
    return done


def time_command(command: Command, runs: int, cwd: Path) -> list[float]:
    """Wall seconds of ``runs`` fresh runs of ``command``, after one untimed warm-up."""
    _run(command.argv, cwd)
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        _run(command.argv, cwd)
        seconds.append(time.perf_counter() - start)
    return seconds


def loaded_modules(script: str, args: Sequence[str], cwd: Path) -> list[str]:
    """Module names in ``sys.modules`` once ``script`` has run with ``args`` in a subprocess."""
    out = cwd / "modules.json"
    _run([PYTHON, "-c", script, str(out), *args], cwd)
    names: list[str] = json.loads(out.read_text())
    return names


def slowest_imports(argv: Sequence[str], cwd: Path, top: int = 6) -> list[tuple[str, int]]:
    """The ``top`` imports with the largest cumulative time (us) under ``-X importtime``."""
    done = _run([PYTHON, "-X", "importtime", *argv], cwd)
    found = []
    for line in done.stderr.decode(errors="replace").splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            found.append((parts[2].rstrip(), int(parts[1])))
    return sorted(found, key=lambda item: -item[1])[:top]


def measure(runs: int) -> dict[str, Any]:
    """Every timing, the heavy-module report and the slowest imports, as data."""
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        cwd = Path(tmp)
        timings = []
        for command in COMMANDS:
            seconds = time_command(command, runs, cwd)
            print(f"timed: {command.label}", file=sys.stderr)
            timings.append(
                {
                    "command": command.label,
                    "median_s": statistics.median(seconds),
                    "min_s": min(seconds),
                    "max_s": max(seconds),
                    "target_s": command.target_s,
                    "met": None
                    if command.target_s is None
                    else statistics.median(seconds) < command.target_s,
                    "samples_s": seconds,
                }
            )
        modules = {}
        for label, script, args in MODULE_PROBES:
            names = loaded_modules(script, args, cwd)
            roots = {name.split(".")[0] for name in names}
            modules[label] = {"count": len(names), "heavy": [h for h in HEAVY if h in roots]}
        cli_help = ["-c", _CLI_THEN_DUMP, str(cwd / "unused.json"), "--help"]
        imports = {
            "import modelcycle": slowest_imports(["-c", "import modelcycle"], cwd),
            "modelcycle --help": slowest_imports(cli_help, cwd),
        }
    return {"timings": timings, "modules": modules, "slowest_imports": imports}


def machine_facts() -> dict[str, Any]:
    """Versions and cores, printed with the results."""
    return {
        "python": platform.python_version(),
        "modelcycle": version("modelcycle"),
        "mlflow": version("mlflow"),
        "cores": os.cpu_count(),
        "load average at start": f"{os.getloadavg()[0]:.2f}",
    }


def print_report(results: dict[str, Any], facts: dict[str, Any], runs: int) -> None:
    """The human report: timings, heavy modules and slowest imports."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console.width = 120
    floor = results["timings"][0]["median_s"]
    table = Table(title=f"Start-up in a fresh process: median of {runs} runs after a warm-up")
    table.add_column("command", no_wrap=True)
    for name in ("median s", "min s", "max s", "over floor s", "target", "result"):
        table.add_column(name, justify="right")
    for row in results["timings"]:
        result = {None: "-", True: "[green]met[/]", False: "[red]MISSED[/]"}[row["met"]]
        target = "-" if row["target_s"] is None else f"< {row['target_s']:g} s"
        table.add_row(
            row["command"],
            *(f"{row[key]:.3f}" for key in ("median_s", "min_s", "max_s")),
            f"{row['median_s'] - floor:+.3f}",
            target,
            result,
        )
    console.print(table)
    modules = Table(title="Heavy libraries loaded (of: " + ", ".join(HEAVY) + ")")
    modules.add_column("after", no_wrap=True)
    modules.add_column("modules loaded", justify="right")
    modules.add_column("heavy libraries", no_wrap=True)
    for label, info in results["modules"].items():
        modules.add_row(label, str(info["count"]), ", ".join(info["heavy"]) or "none")
    console.print(modules)
    for label, slowest in results["slowest_imports"].items():
        shown = ", ".join(f"{name.strip()} {us / 1000:.0f} ms" for name, us in slowest)
        console.print(f"slowest imports of {label} (cumulative): {shown}")
    console.print(", ".join(f"{key} {value}" for key, value in facts.items()))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command (median)")
    parser.add_argument("--no-check", action="store_true", help="exit 0 even if a target is missed")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, report, and return the exit status (1: a target missed, 2: a command failed)."""
    args = parse_args(argv)
    facts = machine_facts()
    try:
        results = measure(args.runs)
    except CommandFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"machine": facts, "runs": args.runs, **results}, indent=2))
    else:
        print_report(results, facts, args.runs)
    missed = [row["command"] for row in results["timings"] if row["met"] is False]
    if missed and not args.no_check:
        print(f"target missed: {'; '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
