"""The evaluation report: one self-contained HTML page (verdict first) and its JSON twin.

Rendered from the snapshot alone (see :func:`modelcycle.evaluation.evaluate`): the page
never recomputes a number, so the HTML, the JSON and the gates always agree.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelcycle.reports import (
    Page,
    badge,
    bar_chart,
    escape,
    fmt_number,
    heatmap,
    histogram,
    line_chart,
    scatter,
    table,
)

__all__ = ["render_report", "to_json", "write_report"]


def _plain(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None; NumPy scalars become Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(snapshot: Mapping[str, Any]) -> str:
    """The snapshot as JSON text (strict: no NaN)."""
    return json.dumps(_plain(snapshot), indent=2, allow_nan=False)


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return fmt_number(float(value))


def _gates(snapshot: Mapping[str, Any]) -> str:
    rows = []
    for gate in snapshot.get("gates", []):
        level = "ok" if gate["passed"] else "fail"
        rows.append(
            [
                escape(gate["gate"]),
                escape(_num(gate.get("value"))),
                badge("pass" if gate["passed"] else "FAIL", level),
                escape(gate.get("note", "")),
            ]
        )
    if not rows:
        return "<p>No gates are set in the spec: nothing stops this model.</p>"
    return table(["gate", "measured", "result", "note"], rows, raw=(True, True, True, True))


def _metrics(snapshot: Mapping[str, Any]) -> str:
    """Headline metrics (those with intervals) first, then the rest in a compact grid."""
    metrics = snapshot.get("metrics", {})
    intervals = snapshot.get("intervals") or {}
    cv = snapshot.get("cv") or {}
    scalars = {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}
    headline = [k for k in scalars if k in intervals] or list(scalars)[:4]
    rows = []
    for key in headline:
        ci = intervals.get(key) or {}
        fold = cv.get(key) or cv.get(f"val_{key}") or {}
        rows.append(
            [
                key,
                _num(scalars[key]),
                f"[{_num(ci.get('low'))}, {_num(ci.get('high'))}]" if ci else "",
                f"{_num(fold.get('mean'))} ± {_num(fold.get('std'))}" if fold else "",
            ]
        )
    level = f"{round(100 * _confidence(intervals))}%"
    columns = ["metric", "value", f"{level} bootstrap interval", "cross-validation (mean ± std)"]
    body = table(columns, rows)
    rest = [(k, v) for k, v in scalars.items() if k not in headline]
    if rest:
        cells = "".join(
            f'<div class="card"><div class="meta">{escape(k)}</div><b>{escape(_num(v))}</b></div>'
            for k, v in rest
        )
        body += f'<h3>Other metrics</h3><div class="grid small">{cells}</div>'
    per_class = metrics.get("per_class")
    if per_class:
        rows = [
            [
                label,
                _num(v.get("precision")),
                _num(v.get("recall")),
                _num(v.get("f1")),
                _num(v.get("support")),
            ]
            for label, v in per_class.items()
        ]
        body += "<h3>Per class</h3>" + table(["class", "precision", "recall", "f1", "rows"], rows)
    return body


def _confidence(intervals: Mapping[str, Any]) -> float:
    for interval in intervals.values():
        if isinstance(interval, Mapping) and interval.get("confidence"):
            return float(interval["confidence"])
    return 0.95


def _card(title: str, svg: str) -> str:
    return f'<div class="card"><h3>{escape(title)}</h3>{svg}</div>'


def _per_class(curve: Mapping[str, Any], xkey: str, ykey: str) -> list[tuple[str, Any, Any]]:
    if xkey in curve:
        return [("positive class", curve[xkey], curve[ykey])]
    return [(str(label), c[xkey], c[ykey]) for label, c in curve.items() if xkey in c]


def _curves(snapshot: Mapping[str, Any]) -> str:
    curves = snapshot.get("curves") or {}
    cards = []
    unit = (0.0, 1.0)
    if curves.get("roc"):
        series = _per_class(curves["roc"], "fpr", "tpr")
        svg = line_chart(
            series,
            x_label="false positive rate",
            y_label="true positive rate",
            x_range=unit,
            y_range=unit,
            diagonal=True,
        )
        cards.append(_card("ROC curve", svg))
    if curves.get("pr"):
        series = _per_class(curves["pr"], "recall", "precision")
        svg = line_chart(series, x_label="recall", y_label="precision", x_range=unit, y_range=unit)
        cards.append(_card("Precision-recall curve", svg))
    if curves.get("calibration"):
        series = _per_class(curves["calibration"], "prob_pred", "prob_true")
        svg = line_chart(
            series,
            x_label="predicted probability",
            y_label="observed frequency",
            x_range=unit,
            y_range=unit,
            diagonal=True,
            markers=True,
        )
        cards.append(_card("Calibration", svg))
    confusion = curves.get("confusion")
    if confusion:
        cards.append(_card("Confusion matrix", heatmap(confusion["labels"], confusion["matrix"])))
    body = f'<div class="grid">{"".join(cards)}</div>'
    threshold = snapshot.get("threshold")
    if threshold:
        body += "<h3>Decision threshold</h3>" + _threshold(threshold)
    return body


def _threshold(found: Mapping[str, Any]) -> str:
    goal = str(found.get("goal") or "target").replace("target_", "")
    wanted = f"{goal} >= {_num(found.get('target'))}"
    if not found.get("achievable"):
        return f"<p>No threshold reaches {escape(wanted)} on these rows.</p>"
    return (
        f"<p>To reach {escape(wanted)}, predict the positive class when its probability is at "
        f"least <b>{escape(_num(found.get('threshold')))}</b>: precision "
        f"{escape(_num(found.get('precision')))}, recall {escape(_num(found.get('recall')))} "
        "on these rows.</p>"
    )


def _residuals(snapshot: Mapping[str, Any]) -> str:
    residuals = snapshot.get("metrics", {}).get("residuals") or {}
    sample = residuals.get("sample") or {}
    hist = residuals.get("histogram") or {}
    cards = [
        _card(
            "Residual against prediction",
            scatter(
                sample.get("predicted", []),
                sample.get("residual", []),
                x_label="predicted",
                y_label="true - predicted",
            ),
        ),
        _card("Residual distribution", histogram(hist.get("edges", []), hist.get("counts", []))),
    ]
    quantiles = residuals.get("quantiles") or {}
    rows = [
        [k, _num(v)]
        for k, v in {
            "mean": residuals.get("mean"),
            "std": residuals.get("std"),
            **quantiles,
        }.items()
    ]
    return f'<div class="grid">{"".join(cards)}</div>' + table(["residual", "value"], rows)


_GAPS = (
    ("demographic_parity_difference", "demographic parity difference"),
    ("demographic_parity_ratio", "demographic parity ratio"),
    ("equalized_odds_difference", "equalized odds difference"),
    ("equal_opportunity_difference", "equal opportunity difference"),
    ("accuracy_difference", "accuracy difference"),
    ("rmse_difference", "RMSE difference"),
    ("worst_group", "worst group"),
)
_GROUP_COLUMNS = ("count", "selection_rate", "accuracy", "tpr", "fpr", "precision", "rmse", "mae")


def _fairness(snapshot: Mapping[str, Any]) -> str:
    """One summary row per attribute (the gaps a gate may name), then each attribute's
    groups beside a chart of their selection rates."""
    found = snapshot.get("fairness") or {}
    gaps = [key for key, _ in _GAPS if any(key in report for report in found.values())]
    labels = dict(_GAPS)
    rows = [
        [attribute] + [_num(report.get(k)) for k in gaps] for attribute, report in found.items()
    ]
    parts = [table(["attribute", *(labels[k] for k in gaps)], rows)]
    for attribute, report in found.items():
        groups = report.get("groups") or {}
        columns = [c for c in _GROUP_COLUMNS if any(c in g for g in groups.values())]
        rows = [[group] + [_num(v.get(c)) for c in columns] for group, v in groups.items()]
        chart = ""
        if "selection_rate" in columns:
            rates = [float(g.get("selection_rate") or 0) for g in groups.values()]
            chart = _card("Selection rate by group", bar_chart(list(groups), rates))
        small = report.get("small_groups") or {}
        note = (
            f"<p class=meta>Left out of the gaps (too few rows): "
            f"{escape(', '.join(f'{g} ({n})' for g, n in small.items()))}</p>"
            if small
            else ""
        )
        parts.append(
            f"<h3>{escape(attribute)}</h3>"
            f'<div class="grid"><div style="grid-column:span 2">'
            f"{table(['group', *columns], rows)}{note}</div>{chart}</div>"
        )
    return "".join(parts)


def _importance(rows: Sequence[Mapping[str, Any]], key: str, top: int = 15) -> str:
    shown = [r for r in rows[:top] if r.get(key) is not None]
    return bar_chart([str(r["feature"]) for r in shown], [max(float(r[key]), 0.0) for r in shown])


def _explanations(snapshot: Mapping[str, Any]) -> str:
    found = snapshot.get("explanations") or {}
    cards = []
    if found.get("permutation"):
        cards.append(
            _card("Permutation importance (metric drop)", _importance(found["permutation"], "mean"))
        )
    shap = found.get("shap")
    if shap:
        cards.append(
            _card(
                f"SHAP mean |value| ({shap.get('explainer')})",
                _importance(shap.get("features", []), "mean_abs"),
            )
        )
    for feature, curve in (found.get("partial_dependence") or {}).items():
        grid, average = curve.get("grid", []), curve.get("average", [])
        if curve.get("kind") == "categorical" or not all(isinstance(g, (int, float)) for g in grid):
            svg = bar_chart([str(g) for g in grid], [float(a) for a in average])
        else:
            svg = line_chart(
                [(feature, grid, average)], x_label=feature, y_label="average prediction"
            )
        cards.append(_card(f"Partial dependence: {feature}", svg))
    body = f'<div class="grid">{"".join(cards)}</div>'
    example = found.get("example")
    if example:
        rows = [
            [c["feature"], _num(c.get("value")), _num(c.get("contribution"))]
            for c in example.get("contributions", [])
        ]
        body += (
            f"<h3>One prediction explained ({escape(example.get('method', ''))})</h3>"
            f"<p>The first evaluated row is predicted "
            f"<b>{escape(_num(example.get('prediction')))}</b>. The model's "
            f"{escape(example.get('output_kind') or 'output')} goes from the base value "
            f"{escape(_num(example.get('base_value')))} to "
            f"{escape(_num(example.get('output')))}; the largest contributions:</p>"
            + table(["feature", "value", "contribution"], rows)
        )
    return body


def _robustness(snapshot: Mapping[str, Any]) -> str:
    found = snapshot.get("robustness") or {}
    rows = []
    for row in found.get("perturbations", []):
        columns = row.get("columns")
        shown = ", ".join(map(str, columns)) if isinstance(columns, list) else str(columns)
        rows.append(
            [
                row.get("perturbation"),
                shown[:60],
                _num(row.get("baseline")),
                _num(row.get("perturbed")),
                _num(row.get("change")),
            ]
        )
    body = table(["perturbation", "columns", "baseline", "perturbed", "change"], rows)
    slices = found.get("slices")
    listed = slices.get("slices", []) if isinstance(slices, Mapping) else slices or []
    if listed:
        rows = [
            [
                s.get("slice"),
                _num(s.get("size")),
                _num(s.get("metric")),
                _num(s.get("overall")),
                _num(s.get("gap")),
            ]
            for s in listed
        ]
        body += "<h3>Worst slices</h3>" + table(["slice", "rows", "metric", "overall", "gap"], rows)
    return body


_SYSTEM = (
    ("latency", "p50_ms", "latency per row, median (ms)"),
    ("latency", "p99_ms", "latency per row, p99 (ms)"),
    ("latency", "calls", "single-row calls timed"),
    ("throughput", "rows_per_second", "batch throughput (rows/s)"),
    ("throughput", "batch_rows", "rows per batch"),
    ("memory", "peak_mb", "peak memory while predicting (MB, Python allocations)"),
)


def _system(snapshot: Mapping[str, Any]) -> str:
    system = snapshot.get("system") or {}
    rows = [
        [label, _num((system.get(part) or {}).get(key))]
        for part, key, label in _SYSTEM
        if (system.get(part) or {}).get(key) is not None
    ]
    if system.get("size_bytes") is not None:
        rows.append(["model size on disk (MB)", _num(system["size_bytes"] / 1e6)])
    return table(["measure", "value"], rows)


def _comparisons(snapshot: Mapping[str, Any]) -> str:
    rows = [
        [
            ref,
            c.get("metric"),
            _num(c.get("a")),
            _num(c.get("b")),
            _num(c.get("difference")),
            f"[{_num(c.get('low'))}, {_num(c.get('high'))}]",
            _num(c.get("p_value")),
            c.get("better"),
        ]
        for ref, c in (snapshot.get("comparisons") or {}).items()
    ]
    columns = [
        "reference",
        "metric",
        "reference value",
        "this model",
        "difference",
        "interval",
        "p",
        "better",
    ]
    return table(columns, rows)


def render_report(snapshot: Mapping[str, Any]) -> str:
    """The HTML page of an evaluation snapshot."""
    model = snapshot.get("model", {})
    subtitle = " · ".join(
        str(part)
        for part in (
            model.get("name"),
            model.get("family"),
            model.get("run_id"),
            f"{snapshot.get('task')} · {snapshot.get('rows')} {snapshot.get('split', '')} rows",
        )
        if part
    )
    verdict = snapshot.get("verdict", {"text": "", "level": "ok"})
    page = Page(
        f"Evaluation: {model.get('name', 'model')}", verdict["text"], verdict["level"], subtitle
    )
    page.add("Gates", _gates(snapshot))
    page.add("Metrics", _metrics(snapshot))
    if snapshot.get("curves"):
        page.add("Curves and confusion matrix", _curves(snapshot))
    if snapshot.get("task") == "regression":
        page.add("Residuals", _residuals(snapshot))
    if snapshot.get("fairness"):
        page.add("Fairness by group", _fairness(snapshot))
    if snapshot.get("explanations"):
        page.add("What drives the predictions", _explanations(snapshot))
    if snapshot.get("robustness"):
        page.add("Robustness", _robustness(snapshot))
    if snapshot.get("comparisons"):
        page.add("Paired comparison on the same rows", _comparisons(snapshot))
    if snapshot.get("system"):
        page.add("Speed and size", _system(snapshot))
    if snapshot.get("notes"):
        page.add(
            "Notes", "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in snapshot["notes"]) + "</ul>"
        )
    return page.render()


def write_report(snapshot: Mapping[str, Any], path: str | Path) -> tuple[Path, Path]:
    """Write the HTML report to ``path`` and the JSON twin beside it; both paths returned."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report(snapshot), encoding="utf-8")
    twin = target.with_suffix(".json")
    twin.write_text(to_json(snapshot), encoding="utf-8")
    return target, twin
