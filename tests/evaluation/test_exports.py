"""The public surface of ``modelcycle.evaluation``: every exported name resolves, lazily."""

from __future__ import annotations

import subprocess
import sys

import modelcycle.evaluation as evaluation


def test_every_exported_name_resolves() -> None:
    for name in evaluation.__all__:
        assert getattr(evaluation, name) is not None, name


def test_loading_the_spec_does_not_import_the_scientific_stack() -> None:
    code = (
        "import sys, modelcycle.evaluation as e; e.EvaluationSpec(gates=['roc_auc >= 0.8']);"
        "print(sorted(m for m in ('shap', 'fairlearn', 'sklearn', 'skops') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
