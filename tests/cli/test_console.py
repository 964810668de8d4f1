"""The console script holds the cycle collector while it imports and gives it back before work.

Each subprocess test runs the real entry point (``modelcycle._console.main``) in a fresh
interpreter, with a probe that records the collector's state when the command starts working.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from sklearn.datasets import load_breast_cancer

from modelcycle._console import _command, settle

Invoke = Callable[..., tuple[int, str, str]]  # the `cli` fixture of conftest.py

# Run `modelcycle ARGS` through the console entry point; print the collector's state when the
# tracking client was first made (every command that touches a store makes one as it starts)
# and when the pipeline began (``run`` only), then after the command.
_PROBE = """
import gc, json, sys
import modelcycle.pipeline._runner as runner
import modelcycle.tracking as tracking
seen = {}
real_client, real_run = tracking.Client.__init__, runner.run_pipeline
def client(self, *args, **kwargs):
    seen.setdefault("client", [gc.isenabled(), gc.get_freeze_count() > 0])
    real_client(self, *args, **kwargs)
def run(*args, **kwargs):
    seen["pipeline"] = [gc.isenabled(), gc.get_freeze_count() > 0, "sklearn" in sys.modules]
    return real_run(*args, **kwargs)
tracking.Client.__init__, runner.run_pipeline = client, run
from modelcycle._console import main
sys.argv = ["modelcycle", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    seen["exit"] = exc.code
seen["after"] = [gc.isenabled(), gc.get_freeze_count() > 0]
print(json.dumps(seen))
"""

_SPEC = """
version: 1
name: console
data:
  source: {{path: {path}}}
  target: {{column: target}}
model:
  candidates: [{{family: linear}}]
evaluation: {{enabled: false}}
"""


def _probe(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    seen: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return seen


def test_the_command_word_is_found_after_the_global_options() -> None:
    assert _command(["--store", "sqlite:///m.db", "--artifacts", "a", "run", "p.yaml"]) == "run"
    assert _command(["--store=sqlite:///m.db", "--debug", "runs", "list"]) == "runs"
    assert _command(["--help"]) is None
    assert _command([]) is None


def test_a_command_starts_with_the_collector_on_and_the_imports_frozen(tmp_path: Path) -> None:
    seen = _probe("--store", f"sqlite:///{tmp_path}/m.db", "runs", "list", "--json")
    assert seen == {"client": [True, True], "exit": 0, "after": [True, True]}


def test_run_gives_the_collector_back_after_its_imports_and_before_the_pipeline(
    tmp_path: Path,
) -> None:
    data = tmp_path / "cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(data, index=False)
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(_SPEC.format(path=data))
    store = ["--store", f"sqlite:///{tmp_path}/m.db", "--artifacts", str(tmp_path / "art")]
    seen = _probe(*store, "run", str(spec), "--json")
    assert seen["exit"] == 0
    # frozen after scikit-learn was imported (reading the spec loads the model families)
    assert seen["pipeline"] == [True, True, True]
    assert seen["client"] == [True, True]
    assert seen["after"] == [True, True]


def test_a_failing_run_still_gives_the_collector_back(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    seen = _probe("--store", f"sqlite:///{tmp_path}/m.db", "run", str(missing))
    assert seen["exit"] == 1
    assert seen["after"] == [True, True]


def test_the_cli_in_process_never_turns_the_collector_off_or_freezes(
    cli: Invoke, tmp_path: Path
) -> None:
    frozen = gc.get_freeze_count()
    code, _, _ = cli("--store", f"sqlite:///{tmp_path}/m.db", "runs", "list", "--json")
    settle()  # not held here: nothing to do
    assert code == 0
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


def test_the_options_skipped_before_the_command_are_the_roots_options_that_take_a_value() -> None:
    import typer

    from modelcycle._console import _VALUED
    from modelcycle.cli import app

    root = typer.main.get_command(app)
    valued = {
        name for param in root.params if not getattr(param, "is_flag", False) for name in param.opts
    }
    assert set(_VALUED) == valued
