"""The HTML page of a validation report: verdict first, failures next, every check last."""

from __future__ import annotations

import json

from modelcycle.data._validation import CheckResult, ValidationReport
from modelcycle.reports import Page, badge, escape, table

__all__ = ["validation_page"]


def _status(check: CheckResult) -> str:
    if check.passed:
        return badge("pass", "ok")
    return badge(check.severity, "fail" if check.severity == "error" else "warn")


def _example(example: dict[str, object]) -> str:
    value = json.dumps(example.get("value"), default=str)
    if "row" in example:
        return f"row {example['row']}: {value}"
    return f"{value} x{example.get('count', '?')}"


def _rows(checks: list[CheckResult]) -> list[list[object]]:
    return [
        [
            _status(c),
            escape(c.check),
            escape(c.column or "(dataset)"),
            escape(c.message),
            c.failing_rows,
            escape("; ".join(_example(e) for e in c.examples)),
        ]
        for c in checks
    ]


def validation_page(report: ValidationReport) -> Page:
    """Render ``report`` as a self-contained page."""
    failed = report.errors + report.warnings
    if report.passed:
        verdict = f"Passed: {len(report.checks)} checks, {len(report.warnings)} warning(s)"
        level = "warn" if report.warnings else "ok"
    else:
        verdict = (
            f"Failed: {len(report.errors)} error(s), {len(report.warnings)} warning(s) "
            f"in {len(report.checks)} checks"
        )
        level = "fail"
    page = Page(f"Validation of {report.source}", verdict, level, subtitle=f"{report.rows} rows")
    columns = ["status", "check", "column", "result", "failing rows", "examples"]
    raw = [True] * len(columns)
    if failed:
        page.add("Failed checks", table(columns, _rows(failed), raw))
    page.add("All checks", table(columns, _rows(report.checks), raw))
    return page
