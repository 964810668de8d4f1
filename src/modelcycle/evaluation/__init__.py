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

from typing import TYPE_CHECKING

from modelcycle._lazy import lazy_attributes
from modelcycle.evaluation._gates import check_gates, gate_values, require_gates
from modelcycle.evaluation._spec import EvaluationSpec, Gate, parse_gate

if TYPE_CHECKING:
    from modelcycle.evaluation._dependence import partial_dependence
    from modelcycle.evaluation._evaluate import Evaluation, evaluate, headline_metrics
    from modelcycle.evaluation._explain import (
        explain_row,
        permutation_importance,
        shap_importance,
    )
    from modelcycle.evaluation._fairness import fairness_report, mitigate
    from modelcycle.evaluation._metrics import (
        classification_metrics,
        perplexity,
        regression_metrics,
        select_threshold,
    )
    from modelcycle.evaluation._report import render_report, write_report
    from modelcycle.evaluation._robustness import perturbation_report, worst_slices
    from modelcycle.evaluation._uncertainty import bootstrap_ci, paired_comparison

__all__ = [
    "Evaluation",
    "EvaluationSpec",
    "Gate",
    "bootstrap_ci",
    "check_gates",
    "classification_metrics",
    "evaluate",
    "explain_row",
    "fairness_report",
    "gate_values",
    "headline_metrics",
    "mitigate",
    "paired_comparison",
    "parse_gate",
    "partial_dependence",
    "permutation_importance",
    "perplexity",
    "perturbation_report",
    "regression_metrics",
    "render_report",
    "require_gates",
    "select_threshold",
    "shap_importance",
    "worst_slices",
    "write_report",
]

_LAZY = {
    "Evaluation": "modelcycle.evaluation._evaluate",
    "evaluate": "modelcycle.evaluation._evaluate",
    "headline_metrics": "modelcycle.evaluation._evaluate",
    "render_report": "modelcycle.evaluation._report",
    "write_report": "modelcycle.evaluation._report",
    "classification_metrics": "modelcycle.evaluation._metrics",
    "regression_metrics": "modelcycle.evaluation._metrics",
    "select_threshold": "modelcycle.evaluation._metrics",
    "perplexity": "modelcycle.evaluation._metrics",
    "bootstrap_ci": "modelcycle.evaluation._uncertainty",
    "paired_comparison": "modelcycle.evaluation._uncertainty",
    "fairness_report": "modelcycle.evaluation._fairness",
    "mitigate": "modelcycle.evaluation._fairness",
    "permutation_importance": "modelcycle.evaluation._explain",
    "shap_importance": "modelcycle.evaluation._explain",
    "explain_row": "modelcycle.evaluation._explain",
    "partial_dependence": "modelcycle.evaluation._dependence",
    "perturbation_report": "modelcycle.evaluation._robustness",
    "worst_slices": "modelcycle.evaluation._robustness",
}


__getattr__ = lazy_attributes("modelcycle.evaluation", _LAZY, globals())
