"""``evaluate``: the model's final exam on held-out rows, as one JSON-serialisable snapshot.

The snapshot holds everything the report, the gates and later the registry read: metrics by
task (with bootstrap intervals), curves, the confusion matrix, a decision threshold when asked,
cross-validation summaries when folds exist, latency/throughput/size/memory, fairness per
sensitive attribute, explanations, robustness, paired comparisons with reference models
(``better_than``), and the gate results. Nothing downstream recomputes any of it.

    result = evaluate(pipeline, x_test, y_test, task="binary", spec=EvaluationSpec(
        sensitive=["sex"], gates=["roc_auc >= 0.85"]))
    result.passed, result.failed_gates, result.write_report("eval.html")

Each part runs under a rich progress line; a part that cannot apply to the model (SHAP for an
MLP, a threshold for regression) is recorded as absent with the reason in ``notes``, never
silently skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.errors import invalid_value
from modelcycle.evaluation._gates import check_gates, gate_values
from modelcycle.evaluation._spec import EvaluationSpec, ThresholdSpec
from modelcycle.models import Task
from modelcycle.training._metrics import objective

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Evaluation", "evaluate", "headline_metrics"]

_HEADLINE = {
    Task.BINARY: ("roc_auc", "pr_auc", "accuracy", "balanced_accuracy", "f1", "log_loss", "brier"),
    Task.MULTICLASS: ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"),
    Task.REGRESSION: ("rmse", "mae", "r2", "mape"),
}


def headline_metrics(task: Task | str) -> list[str]:
    """The metrics given bootstrap intervals and shown first for ``task``."""
    return list(_HEADLINE[Task(task)])


@dataclass(frozen=True)
class Evaluation:
    """One model's evaluation: the snapshot (JSON) and views of it."""

    snapshot: dict[str, Any]

    @property
    def passed(self) -> bool:
        """True when every gate passed (and when there are none)."""
        return all(g["passed"] for g in self.snapshot["gates"])

    @property
    def failed_gates(self) -> list[dict[str, Any]]:
        """The gates that failed, each with its threshold and measured value."""
        return [g for g in self.snapshot["gates"] if not g["passed"]]

    @property
    def metrics(self) -> dict[str, Any]:
        """The task's metrics (scalars, plus ``per_class`` for classification)."""
        return dict(self.snapshot["metrics"])

    def gate_values(self) -> dict[str, float]:
        """Every number a gate may name (see :func:`modelcycle.evaluation.gate_values`)."""
        return gate_values(self.snapshot)

    def to_dict(self) -> dict[str, Any]:
        """The JSON snapshot."""
        return self.snapshot

    def write_report(self, path: str | Path) -> tuple[Path, Path]:
        """Write the HTML report to ``path`` and its JSON twin beside it (``.json``)."""
        from modelcycle.evaluation._report import write_report

        return write_report(self.snapshot, path)


class _Steps:
    """Runs the parts of an evaluation under one progress line, timing each."""

    def __init__(self, progress: bool, total: int) -> None:
        from rich.progress import Progress

        self.bar = Progress(disable=not progress, transient=True)
        self.task = self.bar.add_task("evaluating", total=total)
        self.seconds: dict[str, float] = {}

    def run(self, name: str, work: Callable[[], Any]) -> Any:
        self.bar.update(self.task, description=f"evaluating: {name}")
        started = time.perf_counter()
        try:
            return work()
        finally:
            self.seconds[name] = round(time.perf_counter() - started, 4)
            self.bar.advance(self.task)


@dataclass
class _Inputs:
    model: Any
    x: pd.DataFrame
    y: np.ndarray[Any, Any]
    task: Task
    spec: EvaluationSpec
    pred: np.ndarray[Any, Any]
    proba: np.ndarray[Any, Any] | None
    classes: np.ndarray[Any, Any] | None
    kinds: dict[str, str]
    goal: str


def _predict(model: Any, x: pd.DataFrame, task: Task) -> tuple[Any, Any, Any]:
    pred = np.asarray(model.predict(x))
    if not task.is_classification:
        return pred, None, None
    classes = np.asarray(model.classes_)
    proba = np.asarray(model.predict_proba(x)) if hasattr(model, "predict_proba") else None
    return pred, proba, classes


def _metrics(inp: _Inputs) -> dict[str, Any]:
    from modelcycle.evaluation import _metrics as m

    if inp.task is Task.REGRESSION:
        return m.regression_metrics(inp.y, inp.pred)
    return m.classification_metrics(inp.y, inp.pred, inp.proba, inp.classes)


def _curves(inp: _Inputs) -> dict[str, Any]:
    from modelcycle.evaluation import _metrics as m

    out: dict[str, Any] = {"confusion": m.confusion(inp.y, inp.pred, inp.classes)}
    if inp.proba is not None:
        out.update(m.classification_curves(inp.y, inp.proba, inp.classes))
    return out


def _intervals(inp: _Inputs) -> dict[str, Any]:
    from modelcycle.evaluation._uncertainty import bootstrap_ci

    boot = inp.spec.bootstrap
    names = [n for n in _HEADLINE[inp.task] if inp.proba is not None or n not in _PROBA_ONLY]
    return bootstrap_ci(
        inp.y,
        inp.pred,
        inp.proba,
        inp.classes,
        inp.task.value,
        names,
        resamples=boot.resamples,
        confidence=boot.confidence,
        seed=inp.spec.seed,
    )


_PROBA_ONLY = {"roc_auc", "pr_auc", "log_loss", "brier"}


def _threshold(inp: _Inputs, wanted: ThresholdSpec, proba: Any, classes: Any) -> dict[str, Any]:
    from modelcycle.evaluation._metrics import select_threshold

    return select_threshold(
        inp.y,
        proba[:, 1],
        classes[1],
        target_precision=wanted.target_precision,
        target_recall=wanted.target_recall,
    )


def _system(inp: _Inputs, size_bytes: int | None) -> dict[str, Any]:
    from modelcycle.evaluation import _system as s

    spec = inp.spec.system
    predict = inp.model.predict
    return {
        "latency": s.latency(predict, inp.x, calls=spec.latency_calls),
        "throughput": s.throughput(predict, inp.x, batch_rows=spec.batch_rows),
        "memory": s.peak_memory(predict, inp.x),
        "size_bytes": size_bytes,
    }


def _fairness(inp: _Inputs) -> dict[str, Any]:
    from modelcycle.evaluation._fairness import fairness_report

    missing = [c for c in inp.spec.sensitive if c not in inp.x.columns]
    if missing:
        known = ", ".join(map(str, inp.x.columns))
        raise invalid_value("evaluation.sensitive", missing[0], f"not a column; columns: {known}")
    return fairness_report(
        inp.y,
        inp.pred,
        inp.x[inp.spec.sensitive],
        task=inp.task.value,
        positive=inp.spec.positive,
        intersections=inp.spec.intersections,
    )


def _explanations(inp: _Inputs, notes: list[str]) -> dict[str, Any]:
    from modelcycle.evaluation import _explain as e
    from modelcycle.evaluation._dependence import partial_dependence

    spec = inp.spec.explain
    permutation = e.permutation_importance(
        inp.model,
        inp.x,
        inp.y,
        scoring=inp.goal,
        n_repeats=spec.permutation_repeats,
        seed=inp.spec.seed,
        max_rows=spec.max_rows,
    )
    shap = None
    if spec.shap:
        shap = e.shap_importance(inp.model, inp.x, max_rows=spec.shap_rows, seed=inp.spec.seed)
        if shap is None:
            notes.append("SHAP: this model family has no tree or linear explainer")
    top = [row["feature"] for row in permutation[: spec.partial_dependence]]
    pdp = partial_dependence(inp.model, inp.x, top, kinds=inp.kinds) if top else {}
    example = e.explain_row(
        inp.model, inp.x.iloc[[0]], background=inp.x.head(200), seed=inp.spec.seed
    )
    return {"permutation": permutation, "shap": shap, "partial_dependence": pdp, "example": example}


def _robustness(inp: _Inputs) -> dict[str, Any]:
    from modelcycle.evaluation import _robustness as r

    spec = inp.spec.robustness
    perturbations = r.perturbation_report(
        inp.model,
        inp.x,
        inp.y,
        score=inp.goal,
        kinds=inp.kinds,
        noise=spec.noise,
        missing=spec.missing,
        swap=spec.swap,
        seed=inp.spec.seed,
    )
    slices = r.worst_slices(
        inp.y,
        inp.pred,
        inp.x,
        task=inp.task.value,
        metric="accuracy" if inp.task.is_classification else "mae",
        kinds=inp.kinds,
        min_size=spec.min_slice,
        top=spec.slices,
    )
    return {"perturbations": perturbations, "slices": slices}


def _comparisons(inp: _Inputs, references: Mapping[str, Any]) -> dict[str, Any]:
    from modelcycle.evaluation._uncertainty import paired_comparison

    out = {}
    for name, other in references.items():
        pred, proba, _ = _predict(other, inp.x, inp.task)
        out[name] = paired_comparison(
            inp.y,
            pred,
            inp.pred,
            task=inp.task.value,
            metric=inp.goal,
            proba_a=proba,
            proba_b=inp.proba,
            classes=inp.classes,
            resamples=max(inp.spec.bootstrap.resamples, 200),
            confidence=inp.spec.bootstrap.confidence,
            seed=inp.spec.seed,
        )
    return out


def _verdict(snapshot: dict[str, Any]) -> dict[str, Any]:
    failed = [g for g in snapshot["gates"] if not g["passed"]]
    goal = snapshot["objective"]
    value = snapshot["metrics"].get(goal)
    shown = f"{goal} {value:.4g}" if isinstance(value, (int, float)) else goal
    if failed:
        text = f"FAIL: {len(failed)} of {len(snapshot['gates'])} gates failed ({shown})"
        return {"level": "fail", "text": text}
    gates = f"all {len(snapshot['gates'])} gates passed" if snapshot["gates"] else "no gates set"
    return {"level": "ok", "text": f"PASS: {gates} ({shown})"}


def evaluate(
    model: Any,
    x: pd.DataFrame,
    y: Sequence[Any] | np.ndarray[Any, Any] | pd.Series,
    *,
    task: Task | str,
    spec: EvaluationSpec | None = None,
    name: str = "model",
    metric: str | None = None,
    kinds: Mapping[str, str] | None = None,
    references: Mapping[str, Any] | None = None,
    cv_folds: Sequence[Mapping[str, float]] | None = None,
    size_bytes: int | None = None,
    context: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> Evaluation:
    """Evaluate the fitted ``model`` on rows ``x`` with true labels ``y``.

    ``metric`` is the objective (default: the task's); ``kinds`` maps columns to their kind
    (``numeric``, ``categorical``...; default: inferred) for robustness; ``references`` are
    models the gates' ``better_than`` compare with on the same rows (``{"champion": model}``);
    ``cv_folds`` the per-fold metrics of a cross-validation; ``size_bytes`` the stored
    model's size; ``context`` what the report shows about the model (run, family, data).
    """
    spec = spec or EvaluationSpec()
    task = Task(task)
    if len(x) == 0:
        raise invalid_value("evaluation rows", 0, "nothing to evaluate")
    labels = np.asarray(y)
    if len(labels) != len(x):
        raise invalid_value("evaluation labels", len(labels), f"{len(x)} rows need as many labels")
    goal = objective(task, metric).name
    steps = _Steps(progress, total=10)
    notes: list[str] = []
    with steps.bar:
        pred, proba, classes = steps.run("predict", lambda: _predict(model, x, task))
        inp = _Inputs(
            model, x, labels, task, spec, pred, proba, classes, dict(kinds or _kinds(x)), goal
        )
        snapshot: dict[str, Any] = {
            "model": {"name": name, **dict(context or {})},
            "task": task.value,
            "objective": goal,
            "rows": len(x),
            "split": spec.split,
        }
        snapshot["metrics"] = steps.run("metrics", lambda: _metrics(inp))
        _optional_parts(inp, steps, snapshot, notes, size_bytes, cv_folds, references)
        snapshot["gates"] = check_gates(spec.gates, snapshot)
    snapshot["notes"] = notes
    snapshot["seconds"] = steps.seconds
    snapshot["verdict"] = _verdict(snapshot)
    return Evaluation(snapshot)


def _optional_parts(
    inp: _Inputs,
    steps: _Steps,
    snapshot: dict[str, Any],
    notes: list[str],
    size_bytes: int | None,
    cv_folds: Sequence[Mapping[str, float]] | None,
    references: Mapping[str, Any] | None,
) -> None:
    spec, task = inp.spec, inp.task
    if task.is_classification:
        snapshot["curves"] = steps.run("curves", lambda: _curves(inp))
    if spec.bootstrap.resamples:
        snapshot["intervals"] = steps.run("bootstrap", lambda: _intervals(inp))
    wanted, proba, classes = spec.threshold, inp.proba, inp.classes
    if wanted is not None:
        if task is Task.BINARY and proba is not None:
            snapshot["threshold"] = steps.run(
                "threshold", lambda: _threshold(inp, wanted, proba, classes)
            )
        else:
            notes.append("threshold: needs a binary classifier with predict_proba")
    if cv_folds:
        from modelcycle.evaluation._uncertainty import cv_summary

        snapshot["cv"] = cv_summary([dict(fold) for fold in cv_folds])
    if spec.system.enabled:
        snapshot["system"] = steps.run("system", lambda: _system(inp, size_bytes))
    if spec.sensitive:
        snapshot["fairness"] = steps.run("fairness", lambda: _fairness(inp))
    if spec.explain.enabled:
        snapshot["explanations"] = steps.run("explanations", lambda: _explanations(inp, notes))
    if spec.robustness.enabled:
        snapshot["robustness"] = steps.run("robustness", lambda: _robustness(inp))
    if references:
        snapshot["comparisons"] = steps.run("comparisons", lambda: _comparisons(inp, references))


def _kinds(x: pd.DataFrame) -> dict[str, str]:
    import pyarrow as pa

    from modelcycle.data import infer_schema

    schema = infer_schema(pa.Table.from_pandas(x, preserve_index=False))
    return {name: column.kind.value for name, column in schema.columns.items()}
