"""Model cards: what a registered model version is for, what it learned from, how well and how
fairly it measured, what it leans on, where it falls short and where it came from.

``modelcycle models card NAME@VERSION`` writes one as GitHub Markdown (to keep beside the code,
paste into a pull request) and as one self-contained HTML page (opens offline). Both render the
same blocks, built from the version's ``info``: plain JSON the registry assembles from the
bundle (intended use, the training data's profile, the evaluation snapshot, the ONNX check,
lineage, environment). So the two always say the same thing, and nothing here recomputes a
metric. A missing part is stated ("not evaluated", "no profile recorded") rather than failing
the card, and the limitations are read off the recorded evidence (small groups, fairness gaps,
robustness losses, the weakest slice, missing values, evaluation notes, ONNX parity), never
boilerplate.

    card = model_card(info)
    card.markdown, card.html, card.write("cards/")
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelcycle.errors import invalid_value
from modelcycle.registry._card_limits import (
    _FALLBACK_HEADLINE,
    _GROUP_COLUMNS,
    _RATE_GAPS,
    _evaluation_of,
    _headline,
    _limitations,
    _map,
    _num,
    _profile,
    _with_interval,
)
from modelcycle.reports import Page, bar_chart, escape, table

if TYPE_CHECKING:
    from modelcycle.data import ColumnProfile

__all__ = ["ModelCard", "model_card"]

_GAPS = (
    *_RATE_GAPS[:1],
    "demographic_parity_ratio",
    *_RATE_GAPS[1:],
    "rmse_difference",
    "mae_difference",
    "mean_prediction_difference",
)
_TOP = 10


@dataclass(frozen=True)
class _Text:
    text: str


@dataclass(frozen=True)
class _Heading:
    text: str


@dataclass(frozen=True)
class _List:
    items: list[str]


@dataclass(frozen=True)
class _Table:
    columns: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class _Chart:
    """Inline SVG, drawn in the HTML page only."""

    svg: str


_Block = _Text | _Heading | _List | _Table | _Chart


@dataclass(frozen=True)
class ModelCard:
    """A model version's card as GitHub Markdown and as a self-contained HTML page."""

    name: str
    version: str
    markdown: str
    html: str

    def write(self, folder: str | Path) -> tuple[Path, Path]:
        """Write ``NAME-vVERSION-card.md`` and ``.html`` into ``folder`` (created); both paths."""
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{self.name}-v{self.version}-card")
        md_path, html_path = target / f"{stem}.md", target / f"{stem}.html"
        md_path.write_text(self.markdown, encoding="utf-8")
        html_path.write_text(self.html, encoding="utf-8")
        return md_path, html_path


def model_card(info: Mapping[str, Any]) -> ModelCard:
    """The card of one model version from its ``info`` (see the module docstring).

    ``info`` needs ``name`` and ``version``; every other part may be missing or null, and the
    card then says what was not recorded.
    """
    if not isinstance(info, Mapping):
        raise invalid_value("model card info", type(info).__name__, "expected a JSON object")
    missing = [key for key in ("name", "version") if info.get(key) in (None, "")]
    if missing:
        raise invalid_value(f"model card info.{missing[0]}", None, "every version has one")
    sections: list[tuple[str, list[_Block]]] = [
        ("Intended use", _intended_use(info)),
        ("Training data", _training_data(info)),
        ("Evaluation", _evaluation(info)),
        ("Fairness", _fairness(info)),
        ("Top features", _features(info)),
        ("Limitations", [_List(_limitations(info) or ["None found in the recorded evidence."])]),
        ("Lineage", _lineage(info)),
    ]
    title = f"Model card: {info['name']} v{info['version']}"
    summary, level = _summary(info)
    meta = _meta(info)
    markdown = _markdown(title, summary, meta, sections)
    page = Page(title, summary, level, meta)
    for heading, blocks in sections:
        page.add(heading, "".join(_html_block(block) for block in blocks))
    return ModelCard(str(info["name"]), str(info["version"]), markdown, page.render())


def _gate_summary(evaluation: Mapping[str, Any]) -> str:
    gates = [_map(g) for g in evaluation.get("gates") or []]
    failed = [g for g in gates if not g.get("passed")]
    if not gates:
        return "no gates set"
    if failed:
        return f"gates FAIL ({len(failed)} of {len(gates)} failed)"
    return f"gates PASS (all {len(gates)} passed)"


def _summary(info: Mapping[str, Any]) -> tuple[str, str]:
    """The one-line summary under the title and its level (ok, fail, warn)."""
    task = str(info.get("task") or "")
    kind = f"{task} classifier" if task in ("binary", "multiclass") else f"{task} model"
    parts = [f"{info.get('family') or 'model'} {kind}".strip()]
    evaluation = _evaluation_of(info)
    if evaluation is None:
        return " · ".join([*parts, "not evaluated"]), "warn"
    metric = _headline(evaluation)
    if metric is not None:
        parts.append(_with_interval(evaluation, metric))
    parts.append(_gate_summary(evaluation))
    level = str(_map(evaluation.get("verdict")).get("level") or "ok")
    return " · ".join(parts), level


def _meta(info: Mapping[str, Any]) -> str:
    aliases = ", ".join(map(str, info.get("aliases") or [])) or "no alias"
    made = f"registered {info.get('created_at') or 'at an unknown time'}"
    by = f" by {info['created_by']}" if info.get("created_by") else ""
    return f"{aliases} · {made}{by}"


def _intended_use(info: Mapping[str, Any]) -> list[_Block]:
    use = str(info.get("intended_use") or "").strip()
    description = str(info.get("description") or "").strip()
    blocks: list[_Block] = [
        _Text(use or "No intended use was recorded: the pipeline spec has no description.")
    ]
    if description and description != use:
        blocks.append(_Text(f"Description: {description}"))
    classes = info.get("classes") or []
    task = info.get("task") or "unknown"
    if classes:
        blocks.append(_Text(f"Task: {task}, predicting one of {', '.join(map(str, classes))}."))
    else:
        blocks.append(_Text(f"Task: {task}."))
    inputs = [_map(i) for i in _map(info.get("signature")).get("inputs") or []]
    if inputs:
        rows = [
            [
                str(i.get("name")),
                str(i.get("kind") or ""),
                "yes" if i.get("nullable") else "no",
                _shortlist(i.get("categories") or []),
            ]
            for i in inputs
        ]
        blocks += [_Heading("Inputs"), _Table(["input", "kind", "nullable", "categories"], rows)]
    return blocks


def _shortlist(values: Sequence[Any], limit: int = 8) -> str:
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _training_data(info: Mapping[str, Any]) -> list[_Block]:
    dataset = _map(info.get("dataset"))
    shown = f"Dataset {dataset.get('ref') or 'not recorded'}"
    size = f"{_num(dataset.get('rows'))} rows, {_num(dataset.get('columns'))} columns"
    blocks: list[_Block] = [_Text(f"{shown}: {size}.")]
    profile = _profile(info)
    if profile is None:
        blocks.append(_Text("No profile recorded for the training data."))
        return blocks
    rows = [
        [
            column.name,
            column.kind.value,
            f"{column.null_share:.1%}",
            f"{column.distinct}" + ("" if column.distinct_exact else " (estimate)"),
            _column_summary(column),
        ]
        for column in profile.columns
    ]
    blocks.append(_Text(f"Profile of the {profile.rows} training rows:"))
    columns = ["column", "kind", "nulls", "distinct", "mean ± std or top categories"]
    blocks.append(_Table(columns, rows))
    return blocks


def _column_summary(column: ColumnProfile) -> str:
    if column.numeric is not None:
        stats = column.numeric
        return _num(stats.mean) + (f" ± {_num(stats.std)}" if stats.std is not None else "")
    if column.categories is not None:
        top = column.categories.top
        total = column.count or 1
        shown = ", ".join(f"{value} {count / total:.1%}" for value, count in top[:3])
        return shown + (", ..." if len(top) > 3 or column.categories.other else "")
    if column.lengths is not None:
        stats = column.lengths
        spread = f" ± {_num(stats.std)}" if stats.std is not None else ""
        return f"length {_num(stats.mean)}{spread}"
    if column.time_range is not None:
        return f"{column.time_range[0]} to {column.time_range[1]}"
    return ""


def _evaluation(info: Mapping[str, Any]) -> list[_Block]:
    evaluation = _evaluation_of(info)
    if evaluation is None:
        return [_Text("Not evaluated: no evaluation was recorded for this version.")]
    metrics, intervals = _map(evaluation.get("metrics")), _map(evaluation.get("intervals"))
    scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    names = [k for k in intervals if k in scalars] or [
        k for k in _FALLBACK_HEADLINE if k in scalars
    ]
    rows = []
    for name in names:
        ci = _map(intervals.get(name))
        shown = f"{_num(ci.get('low'))} to {_num(ci.get('high'))}" if ci else "not computed"
        rows.append([name, _num(scalars[name]), shown])
    level = next((c.get("confidence") for c in map(_map, intervals.values())), None) or 0.95
    where = f"{_num(evaluation.get('rows'))} {evaluation.get('split') or 'held-out'} rows"
    blocks: list[_Block] = [
        _Text(f"Evaluated on {where}; objective {evaluation.get('objective') or 'n/a'}."),
        _Table(["metric", "value", f"{round(100 * float(level))}% bootstrap interval"], rows),
        _Heading("Gates"),
    ]
    gates = [_map(g) for g in evaluation.get("gates") or []]
    if not gates:
        blocks.append(_Text("No gates were set: nothing stopped this version."))
        return blocks
    rows = [
        [str(g.get("gate")), _num(g.get("value")), "pass" if g.get("passed") else "FAIL"]
        for g in gates
    ]
    blocks.append(_Table(["gate", "measured", "result"], rows))
    return blocks


def _fairness(info: Mapping[str, Any]) -> list[_Block]:
    evaluation = _evaluation_of(info)
    if evaluation is None:
        return [_Text("Not evaluated: fairness is unknown.")]
    found = _map(evaluation.get("fairness"))
    if not found:
        return [_Text("No sensitive attribute was named, so fairness was not measured.")]
    blocks: list[_Block] = []
    for attribute, report in found.items():
        report = _map(report)
        gaps = [[key.replace("_", " "), _num(report[key])] for key in _GAPS if key in report]
        if report.get("worst_group") is not None:
            gaps.append(["worst group", str(report["worst_group"])])
        groups = {str(k): _map(v) for k, v in _map(report.get("groups")).items()}
        keys = [c for c in _GROUP_COLUMNS if any(c in g for g in groups.values())]
        rows = [[name] + [_num(g.get(c)) for c in keys] for name, g in groups.items()]
        blocks += [_Heading(str(attribute)), _Table(["gap", "value"], gaps)]
        blocks.append(_Table(["group", *(_GROUP_COLUMNS[c] for c in keys)], rows))
        small = _map(report.get("small_groups"))
        if small:
            listed = ", ".join(f"{g} ({n} rows)" for g, n in small.items())
            blocks.append(_Text(f"Too few rows to measure, left out of the gaps: {listed}."))
        if "selection_rate" in keys:
            rates = [float(g.get("selection_rate") or 0.0) for g in groups.values()]
            blocks.append(_Chart(bar_chart(list(groups), rates)))
    return blocks


def _features(info: Mapping[str, Any]) -> list[_Block]:
    evaluation = _evaluation_of(info)
    if evaluation is None:
        return [_Text("Not evaluated: no feature importance was measured.")]
    found = _map(evaluation.get("explanations"))
    if not found:
        return [_Text("Explanations were not computed in the evaluation.")]
    blocks: list[_Block] = [_Heading("Permutation importance")]
    permutation = [_map(r) for r in found.get("permutation") or []][:_TOP]
    goal = evaluation.get("objective") or "the objective"
    rows = [
        [str(i), str(r.get("feature")), f"{_num(r.get('mean'))} ± {_num(r.get('std'))}"]
        for i, r in enumerate(permutation, 1)
    ]
    blocks.append(_Table(["rank", "feature", f"drop in {goal} (mean ± std)"], rows))
    blocks.append(_chart(permutation, "mean"))
    shap = _map(found.get("shap"))
    blocks.append(_Heading(f"SHAP ({shap.get('explainer')} explainer)" if shap else "SHAP"))
    if not shap:
        blocks.append(_Text("SHAP values were not computed for this model."))
        return blocks
    ranked = [_map(r) for r in shap.get("features") or []][:_TOP]
    rows = [
        [str(i), str(r.get("feature")), _num(r.get("mean_abs"))] for i, r in enumerate(ranked, 1)
    ]
    blocks += [_Table(["rank", "feature", "mean |SHAP value|"], rows), _chart(ranked, "mean_abs")]
    return blocks


def _chart(rows: Sequence[Mapping[str, Any]], key: str) -> _Chart:
    shown = [r for r in rows if isinstance(r.get(key), (int, float))]
    values = [max(float(r[key]), 0.0) for r in shown]
    return _Chart(bar_chart([str(r.get("feature")) for r in shown], values))


def _lineage(info: Mapping[str, Any]) -> list[_Block]:
    lineage, hashes = _map(info.get("lineage")), _map(info.get("hashes"))
    onnx = _map(info.get("onnx"))
    onnx_state = "not checked"
    if onnx:
        onnx_state = "ready" if onnx.get("ready") else f"not ready: {onnx.get('reason')}"
        if onnx.get("parity"):
            parity = ", ".join(f"{k} {_num(v)}" for k, v in _map(onnx["parity"]).items())
            onnx_state += f" (parity: {parity})"
    registered = f"{info.get('created_at') or 'n/a'} by {info.get('created_by') or 'unknown'}"
    rows: list[list[Any]] = [
        ["registered", registered],
        ["training run", lineage.get("run_id")],
        ["pipeline run", lineage.get("pipeline_run_id")],
        ["dataset", lineage.get("dataset") or _map(info.get("dataset")).get("ref")],
        ["spec sha256", lineage.get("spec_sha256")],
        ["git commit", lineage.get("git_commit") or "not recorded"],
        ["mitigates", lineage.get("mitigates") or "none"],
        ["bundle sha256", hashes.get("bundle")],
        ["model sha256", hashes.get("model")],
        ["ONNX", onnx_state],
    ]
    blocks: list[_Block] = [_Table(["record", "value"], [[k, _num(v)] for k, v in rows])]
    environment = _map(info.get("environment"))
    packages = _map(environment.get("packages"))
    blocks += [_Heading("Environment"), _Text(f"Python {environment.get('python') or 'n/a'}.")]
    if packages:
        versions = [[str(k), str(v)] for k, v in sorted(packages.items())]
        blocks.append(_Table(["package", "version"], versions))
    return blocks


def _md_cell(value: str) -> str:
    return " ".join(value.split()).replace("|", "\\|") or " "


def _md_block(block: _Block) -> str:
    if isinstance(block, _Text):
        return block.text
    if isinstance(block, _Heading):
        return f"### {_md_cell(block.text)}"
    if isinstance(block, _List):
        return "\n".join(f"- {' '.join(item.split())}" for item in block.items)
    if isinstance(block, _Table):
        lines = [block.columns, ["---"] * len(block.columns), *block.rows]
        return "\n".join("| " + " | ".join(map(_md_cell, line)) + " |" for line in lines)
    return ""


def _markdown(
    title: str, summary: str, meta: str, sections: Sequence[tuple[str, Sequence[_Block]]]
) -> str:
    parts = [f"# {title}", f"**{summary}**", meta]
    for heading, blocks in sections:
        parts.append(f"## {heading}")
        parts.extend(text for text in map(_md_block, blocks) if text)
    return "\n\n".join(parts) + "\n"


def _html_block(block: _Block) -> str:
    if isinstance(block, _Text):
        return f"<p>{escape(block.text)}</p>"
    if isinstance(block, _Heading):
        return f"<h3>{escape(block.text)}</h3>"
    if isinstance(block, _List):
        return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, _Table):
        return table(block.columns, block.rows)
    return f'<div class="card">{block.svg}</div>'
