"""The package's public surface, its import weight, and its code-quality gates."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import modelcycle
import modelcycle.store
import modelcycle.tracking

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ["sqlalchemy", "alembic", "sklearn", "numpy", "pandas", "torch", "ray", "shap", "onnx"]


def test_top_level_names_are_pinned() -> None:
    assert modelcycle.__all__ == [
        "ActiveRun",
        "Client",
        "ModelcycleError",
        "Run",
        "RunStatus",
        "__version__",
        "start_run",
    ]
    for name in modelcycle.__all__:
        assert getattr(modelcycle, name) is not None


def test_store_and_tracking_names_are_pinned() -> None:
    assert sorted(modelcycle.store.__all__) == [
        "ArtifactRef",
        "ArtifactStore",
        "MetadataStore",
        "PointRow",
        "open_artifact_store",
        "open_metadata_store",
        "supported_schemes",
        "validate_artifact_name",
    ]
    assert sorted(modelcycle.tracking.__all__) == [
        "ActiveRun",
        "Client",
        "Experiments",
        "MetricWriter",
        "RunComparison",
        "Runs",
        "default_client",
        "start_run",
    ]


def test_unknown_top_level_name_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = modelcycle.nope  # type: ignore[attr-defined]


def _modules_loaded_by(code: str) -> list[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    return [name for name in HEAVY if name in loaded]


def test_import_modelcycle_loads_no_heavy_library() -> None:
    assert _modules_loaded_by("import modelcycle") == []


def test_cli_help_loads_no_heavy_library() -> None:
    code = (
        "import sys\nsys.argv = ['modelcycle', '--help']\nfrom modelcycle.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert _modules_loaded_by(code) == []


@pytest.mark.slow
def test_ruff_finds_nothing() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff is not None, "ruff is part of the [dev] extra"
    folders = [name for name in ("src", "tests", "benchmarks") if (ROOT / name).is_dir()]
    for args in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [ruff, *args, *folders],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_mypy_strict_finds_nothing() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
