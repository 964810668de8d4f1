"""The limitations section of a model card, read off the recorded evidence: failed gates, a
small evaluation set, evaluation notes, groups too small to measure, fairness gaps above
:data:`FAIRNESS_GAP`, robustness losses, the weakest slice, missing values in training
columns, the ONNX check, a missing profile or git commit. Never boilerplate.

Also the small readers of ``info`` the card's other sections share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from modelcycle.reports import fmt_number

#: Differences of rates (selection, TPR, FPR, accuracy) above this are named as limitations.
FAIRNESS_GAP = 0.1
_RATE_GAPS = (
    "demographic_parity_difference",
    "equalized_odds_difference",
    "equal_opportunity_difference",
    "accuracy_difference",
)
_GROUP_COLUMNS = {
    "count": "rows",
    "selection_rate": "selection rate",
    "accuracy": "accuracy",
    "tpr": "TPR",
    "fpr": "FPR",
    "rmse": "RMSE",
    "mae": "MAE",
}
_FALLBACK_HEADLINE = ("roc_auc", "accuracy", "f1", "f1_macro", "rmse", "mae", "r2")
_SMALL_EVALUATION = 500


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return str(value) if isinstance(value, int) else fmt_number(value)


def _evaluation_of(info: Mapping[str, Any]) -> Mapping[str, Any] | None:
    found = info.get("evaluation")
    return found if isinstance(found, Mapping) and found else None


def _headline(evaluation: Mapping[str, Any]) -> str | None:
    """The objective when it was measured, else the first metric with an interval."""
    metrics, intervals = _map(evaluation.get("metrics")), _map(evaluation.get("intervals"))
    goal = str(evaluation.get("objective"))
    if isinstance(metrics.get(goal), (int, float)):
        return str(goal)
    candidates = [*intervals, *_FALLBACK_HEADLINE]
    return next((k for k in candidates if isinstance(metrics.get(k), (int, float))), None)


def _with_interval(evaluation: Mapping[str, Any], metric: str) -> str:
    value = _map(evaluation.get("metrics")).get(metric)
    ci = _map(_map(evaluation.get("intervals")).get(metric))
    if not ci:
        return f"{metric} {_num(value)}"
    level = round(100 * float(ci.get("confidence") or 0.95))
    bounds = f"{_num(ci.get('low'))} to {_num(ci.get('high'))}"
    return f"{metric} {_num(value)} ({level}% interval {bounds})"


def _profile(info: Mapping[str, Any]) -> Any:
    found = _map(info.get("dataset")).get("profile")
    if not isinstance(found, Mapping) or not found:
        return None
    from modelcycle.data import DatasetProfile

    return DatasetProfile.from_dict(dict(found))


def _limitations(info: Mapping[str, Any]) -> list[str]:
    """What the recorded evidence says this version does badly or cannot vouch for."""
    evaluation = _evaluation_of(info)
    found = _data_limits(info) + _delivery_limits(info)
    if evaluation is None:
        return ["Not evaluated: quality, fairness and robustness are unknown.", *found]
    checks: tuple[Callable[[Mapping[str, Any]], list[str]], ...] = (
        _evaluation_limits,
        _fairness_limits,
        _robustness_limits,
    )
    return [item for check in checks for item in check(evaluation)] + found


def _evaluation_limits(evaluation: Mapping[str, Any]) -> list[str]:
    found = [
        f"Failed gate {g.get('gate')}: measured {_num(g.get('value'))}."
        for g in map(_map, evaluation.get("gates") or [])
        if not g.get("passed")
    ]
    rows, metric = evaluation.get("rows"), _headline(evaluation)
    if isinstance(rows, int) and rows < _SMALL_EVALUATION and metric is not None:
        shown = _with_interval(evaluation, metric)
        found.append(f"Evaluated on only {rows} rows: {shown}.")
    found += [f"Evaluation note: {note}" for note in evaluation.get("notes") or []]
    return found


def _fairness_limits(evaluation: Mapping[str, Any]) -> list[str]:
    found = []
    overall_rmse = _map(evaluation.get("metrics")).get("rmse")
    for attribute, report in _map(evaluation.get("fairness")).items():
        report = _map(report)
        small = _map(report.get("small_groups"))
        if small:
            listed = ", ".join(f"{g} ({n} rows)" for g, n in small.items())
            found.append(f"Fairness by {attribute}: groups too small to measure: {listed}.")
        gaps = sorted(
            ((k, float(report[k])) for k in _RATE_GAPS if _above(report.get(k), FAIRNESS_GAP)),
            key=lambda item: -item[1],
        )
        if gaps:
            listed = ", ".join(f"{k.replace('_', ' ')} {_num(v)}" for k, v in gaps)
            spread = _spread(report, "selection_rate")
            found.append(f"Fairness by {attribute}: {listed} (above {FAIRNESS_GAP}){spread}.")
        rmse_gap = report.get("rmse_difference")
        if isinstance(overall_rmse, (int, float)) and _above(rmse_gap, FAIRNESS_GAP * overall_rmse):
            spread = _spread(report, "rmse")
            found.append(f"Fairness by {attribute}: RMSE difference {_num(rmse_gap)}{spread}.")
    return found


def _above(value: Any, limit: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > limit


def _spread(report: Mapping[str, Any], key: str) -> str:
    """``"; selection rate from 0.08 (male) to 0.67 (female)"`` over the measured groups."""
    values = {
        str(name): float(g[key])
        for name, g in _map(report.get("groups")).items()
        if isinstance(_map(g).get(key), (int, float))
    }
    if len(values) < 2:
        return ""
    low, high = min(values, key=values.__getitem__), max(values, key=values.__getitem__)
    shown = _GROUP_COLUMNS.get(key, key)
    return f"; {shown} from {_num(values[low])} ({low}) to {_num(values[high])} ({high})"


def _robustness_limits(evaluation: Mapping[str, Any]) -> list[str]:
    robustness = _map(evaluation.get("robustness"))
    found, goal = [], evaluation.get("objective") or "the metric"
    perturbations = [_map(p) for p in robustness.get("perturbations") or []]
    for p in perturbations:
        if p.get("error"):
            found.append(f"Fails under {_perturbation(p)}: {p['error']}")
    measured = [p for p in perturbations if isinstance(p.get("degradation"), (int, float))]
    worst = max(measured, key=lambda p: float(p["degradation"]), default=None)
    if worst is not None and float(worst["degradation"]) > 0:
        found.append(
            f"Largest robustness loss: under {_perturbation(worst)}, {goal} falls from "
            f"{_num(worst.get('baseline'))} to {_num(worst.get('perturbed'))}."
        )
    slices = _map(robustness.get("slices"))
    listed = [_map(s) for s in slices.get("slices") or []]
    weakest = max(listed, key=lambda s: float(s.get("gap") or 0.0), default=None)
    if weakest is not None and _above(weakest.get("gap"), 0.0):
        found.append(
            f"Weakest slice: {weakest.get('slice')} ({_num(weakest.get('size'))} rows), "
            f"{slices.get('metric') or 'metric'} {_num(weakest.get('metric'))} against "
            f"{_num(weakest.get('overall'))} overall."
        )
    return found


def _perturbation(entry: Mapping[str, Any]) -> str:
    columns = entry.get("columns")
    shown = ", ".join(map(str, columns)) if isinstance(columns, list) else str(columns or "")
    return f"{entry.get('perturbation')} on {shown}" if shown else str(entry.get("perturbation"))


def _data_limits(info: Mapping[str, Any]) -> list[str]:
    profile = _profile(info)
    if profile is None:
        return ["No training-data profile recorded: drift has no reference to compare with."]
    gaps = sorted((c for c in profile.columns if c.nulls), key=lambda c: -c.null_share)
    if not gaps:
        return []
    listed = ", ".join(f"{c.name} {c.null_share:.1%}" for c in gaps[:5])
    more = f" and {len(gaps) - 5} more columns" if len(gaps) > 5 else ""
    return [f"Missing values in the training data: {listed}{more}."]


def _delivery_limits(info: Mapping[str, Any]) -> list[str]:
    found = []
    onnx = info.get("onnx")
    if not isinstance(onnx, Mapping):
        found.append("No ONNX parity check recorded: only the native model is known to work.")
    elif not onnx.get("ready"):
        found.append(f"No ONNX export: {onnx.get('reason') or 'reason not recorded'}.")
    elif _map(onnx.get("parity")).get("passed") is False:
        found.append(f"ONNX predictions differ from the native model: {dict(onnx['parity'])}.")
    if not _map(info.get("lineage")).get("git_commit"):
        found.append("No git commit recorded: the code that trained it cannot be pinned.")
    return found
