"""The drift report: one self-contained HTML file read from a :class:`DriftSnapshot`.

A verdict, the drift table (test, threshold, statistic, p-value beside its effect size), then
reference vs current distributions per feature, drifted features first. Each chart is an inline
SVG of a few kilobytes (20 bins or 20 categories), so 200 features stay well under 5 MB
(a peer's reports are known for their size, evidently#15). Nothing is recomputed here.
"""

from __future__ import annotations

import os
from pathlib import Path

from modelcycle.monitoring._result import ColumnDrift, DriftSnapshot
from modelcycle.reports import Page, badge, bar_chart, escape, fmt_number, histogram, table

__all__ = ["drift_report"]


#: The columns of a drift table (one row per feature), shared with the monitoring report.
DRIFT_HEAD = [
    "column",
    "drift",
    "kind",
    "test",
    "threshold",
    "statistic",
    "p-value",
    "effect size",
    "missing",
]


def _verdict(snapshot: DriftSnapshot) -> tuple[str, str]:
    text = (
        f"{snapshot.drifted_columns} of {snapshot.tested_columns} columns drifted "
        f"({snapshot.share_drifted:.0%}; dataset drift at {snapshot.drift_share:.0%})"
    )
    if snapshot.dataset_drift:
        return f"Dataset drift: {text}", "fail"
    return f"No dataset drift: {text}", "warn" if snapshot.drifted_columns else "ok"


def _row(column: ColumnDrift) -> list[object]:
    state = badge("drift", "fail") if column.drifted else badge("ok", "ok")
    p_value = "" if column.p_value is None else fmt_number(column.p_value)
    return [
        escape(column.column),
        state,
        escape(column.kind),
        escape(column.test),
        escape(fmt_number(column.threshold)),
        escape(fmt_number(column.statistic)),
        escape(p_value),
        escape(f"{column.effect_measure} {fmt_number(column.effect_size)}"),
        escape(f"{column.current_missing}/{column.current_rows}"),
    ]


def _chart(column: ColumnDrift) -> str:
    chart = column.chart
    if chart.edges:
        return histogram(list(chart.edges), list(chart.reference), list(chart.current))
    rows: list[tuple[str, float]] = []
    for label, ref, cur in zip(chart.labels, chart.reference, chart.current, strict=True):
        rows += [(f"{label} · ref", ref), (f"{label} · cur", cur)]
    return bar_chart([label for label, _ in rows], [value for _, value in rows])


def _card(column: ColumnDrift) -> str:
    state = badge("drift", "fail") if column.drifted else badge("ok", "ok")
    return (
        f'<div class="card"><h3>{escape(column.column)} {state}</h3>'
        f'<div class="meta">{escape(column.test)} {escape(fmt_number(column.statistic))} · '
        f"{escape(column.effect_measure)} {escape(fmt_number(column.effect_size))}</div>"
        f"{_chart(column)}</div>"
    )


def drift_report(
    snapshot: DriftSnapshot, path: str | os.PathLike[str], title: str = "Data drift"
) -> Path:
    """Write the HTML report of ``snapshot`` to ``path``; returns the path."""
    verdict, level = _verdict(snapshot)
    page = Page(
        title=title,
        verdict=verdict,
        level=level,
        subtitle=(
            f"reference {snapshot.reference_rows:,} rows · current {snapshot.current_rows:,} rows"
        ),
    )
    ordered = sorted(snapshot.columns, key=lambda c: (not c.drifted, c.column))
    head = DRIFT_HEAD
    page.add("Drift per column", table(head, [_row(c) for c in ordered], raw=[True] * len(head)))
    if snapshot.multivariate is not None:
        domain = snapshot.multivariate
        state = badge("drift", "fail") if domain.drifted else badge("ok", "ok")
        page.add(
            "Multivariate drift (domain classifier)",
            f"<p>ROC AUC {escape(fmt_number(domain.roc_auc))} (drift above "
            f"{escape(fmt_number(domain.threshold))}) {state} on {domain.reference_rows:,} "
            f"reference and {domain.current_rows:,} current rows.</p>",
        )
    cards = "".join(_card(column) for column in ordered)
    page.add(
        "Reference (blue) vs current (orange)",
        f'<div class="grid">{cards}</div>',
    )
    if snapshot.skipped:
        rows = [[s.column, s.reason] for s in snapshot.skipped]
        page.add("Columns not tested", table(["column", "reason"], rows))
    return page.write(Path(path))
