"""Evaluation: the model's final exam before it may be registered or promoted.

    from modelcycle.evaluation import EvaluationSpec, evaluate

    result = evaluate(pipeline, x_test, y_test, task="binary",
                      spec=EvaluationSpec(sensitive=["sex"], gates=["roc_auc >= 0.85"]))
    result.passed                     # every gate held
    result.write_report("eval.html")  # self-contained HTML + eval.json

Metrics by task with bootstrap intervals, curves and the confusion matrix, a decision
threshold, latency/throughput/size/memory, fairness (fairlearn) per sensitive attribute and
their intersections with one mitigation, explanations (permutation importance, SHAP,
partial dependence, one prediction explained), robustness under perturbation and the worst
slices, paired comparisons with reference models, and gates over all of it. The spec and the
gates load at once (the pipeline spec needs them); the rest on first use, so loading a spec
does not import the scientific stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from modelcycle.evaluation._gates import check_gates, gate_values, require_gates
from modelcycle.evaluation._spec import EvaluationSpec, Gate, parse_gate

if TYPE_CHECKING:
    from modelcycle.evaluation._evaluate import Evaluation, evaluate, headline_metrics
    from modelcycle.evaluation._report import render_report, write_report

__all__ = [
    "Evaluation",
    "EvaluationSpec",
    "Gate",
    "check_gates",
    "evaluate",
    "gate_values",
    "headline_metrics",
    "parse_gate",
    "render_report",
    "require_gates",
    "write_report",
]

_LAZY = {
    "Evaluation": "modelcycle.evaluation._evaluate",
    "evaluate": "modelcycle.evaluation._evaluate",
    "headline_metrics": "modelcycle.evaluation._evaluate",
    "render_report": "modelcycle.evaluation._report",
    "write_report": "modelcycle.evaluation._report",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelcycle.evaluation' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
