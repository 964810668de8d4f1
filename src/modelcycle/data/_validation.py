"""Validation: checks from the schema and the spec, each with a severity, run on Arrow data.

Column checks come from the declared schema (``nullable``, ``min``/``max``, ``categories``,
``unique``, ``regex``, and that a declared column exists with values of its kind); dataset
checks from the ``validation:`` section (row-count bounds, the target present and not constant,
all-null columns, and train/serve column match against a reference schema). A failing check
with severity ``error`` fails validation; ``warn`` only reports. Every failing check says how
many rows fail and shows a few of them (1-based data row numbers, header excluded).

All checks are vectorised with ``pyarrow.compute``; no row is looked at in Python.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from modelcycle.data._schema import ColumnKind, ColumnSchema, Schema, infer_schema

__all__ = ["CheckResult", "ValidationReport", "ValidationSpec", "validate"]

SeverityName = Literal["error", "warn"]
_EXAMPLES = 5
_NUMERIC = (ColumnKind.NUMERIC, ColumnKind.INTEGER)


class ValidationSpec(BaseModel):
    """Dataset-level checks and their severities."""

    model_config = ConfigDict(extra="forbid")

    min_rows: int | None = 1
    max_rows: int | None = None
    rows_severity: SeverityName = "error"
    target_severity: SeverityName = "error"
    all_null_severity: SeverityName = "warn"
    unexpected_columns_severity: SeverityName = "warn"


@dataclass
class CheckResult:
    """One check on one column (or the dataset when ``column`` is None)."""

    check: str
    column: str | None
    severity: str
    passed: bool
    message: str
    failing_rows: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ValidationReport:
    """Every check that ran, with the overall verdict."""

    source: str
    rows: int
    checks: list[CheckResult]

    @property
    def passed(self) -> bool:
        """No error-level check failed."""
        return not self.errors

    @property
    def errors(self) -> list[CheckResult]:
        """Failed checks of severity error."""
        return [c for c in self.checks if not c.passed and c.severity == "error"]

    @property
    def warnings(self) -> list[CheckResult]:
        """Failed checks of severity warn."""
        return [c for c in self.checks if not c.passed and c.severity == "warn"]

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the HTML report and ``--json`` read this)."""
        return {
            "source": self.source,
            "rows": self.rows,
            "passed": self.passed,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "checks": [asdict(c) for c in self.checks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationReport:
        """Inverse of :meth:`to_dict`."""
        return cls(data["source"], data["rows"], [CheckResult(**c) for c in data["checks"]])


def _examples(column: pa.ChunkedArray, mask: pa.ChunkedArray) -> list[dict[str, Any]]:
    positions = pc.indices_nonzero(pc.fill_null(mask, False)).slice(0, _EXAMPLES)
    values = pc.take(column, positions).to_pylist()
    return [
        {"row": int(p) + 1, "value": v} for p, v in zip(positions.to_pylist(), values, strict=True)
    ]


def _mask_result(
    check: str, name: str, column: pa.ChunkedArray, mask: pa.ChunkedArray, severity: str, what: str
) -> CheckResult:
    failing = int(pc.sum(pc.fill_null(mask, False)).as_py() or 0)
    message = f"{failing} row(s) {what}" if failing else f"0 rows {what}"
    return CheckResult(
        check,
        name,
        severity,
        failing == 0,
        message,
        failing,
        _examples(column, mask) if failing else [],
    )


def _kind_check(name: str, column: pa.ChunkedArray, spec: ColumnSchema) -> CheckResult | None:
    if spec.kind not in (*_NUMERIC, ColumnKind.DATETIME, ColumnKind.BOOLEAN):
        return None
    target = {
        ColumnKind.NUMERIC: pa.float64(),
        ColumnKind.INTEGER: pa.float64(),
        ColumnKind.DATETIME: pa.timestamp("us"),
        ColumnKind.BOOLEAN: pa.bool_(),
    }[spec.kind]
    if column.type == target or (pa.types.is_integer(column.type) and spec.kind in _NUMERIC):
        return CheckResult("kind", name, "error", True, f"values are {spec.kind.value}")
    try:
        pc.cast(column, target)
        return CheckResult("kind", name, "error", True, f"values are {spec.kind.value}")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed = [_try_cast(v, target) for v in column.drop_null().slice(0, 10_000).to_pylist()]
        bad = next((v for v, ok in parsed if not ok), None)
        return CheckResult(
            "kind",
            name,
            "error",
            False,
            f"declared {spec.kind.value} but holds values like {bad!r}",
        )


def _try_cast(value: Any, target: pa.DataType) -> tuple[Any, bool]:
    try:
        pc.cast(pa.array([value]), target)
        return value, True
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return value, False


def _column_checks(name: str, column: pa.ChunkedArray, spec: ColumnSchema) -> list[CheckResult]:
    sev = spec.severity
    results: list[CheckResult] = []
    kind = _kind_check(name, column, spec)
    if kind is not None:
        results.append(kind)
        if not kind.passed:
            return results
    if not spec.nullable:
        results.append(_mask_result("not_null", name, column, pc.is_null(column), sev, "are null"))
    numeric = column if spec.kind not in _NUMERIC else pc.cast(column, pa.float64())
    if spec.min is not None:
        results.append(
            _mask_result(
                "min", name, column, pc.less(numeric, spec.min), sev, f"are below {spec.min:g}"
            )
        )
    if spec.max is not None:
        results.append(
            _mask_result(
                "max", name, column, pc.greater(numeric, spec.max), sev, f"are above {spec.max:g}"
            )
        )
    if spec.categories is not None:
        text = pc.cast(column, pa.string())
        outside = pc.invert(pc.is_in(text, pa.array(spec.categories, pa.string())))
        results.append(
            _mask_result(
                "categories",
                name,
                column,
                pc.and_(outside, pc.is_valid(column)),
                sev,
                f"are not one of {spec.categories}",
            )
        )
    if spec.regex is not None:
        text = pc.cast(column, pa.string())
        results.append(
            _mask_result(
                "regex",
                name,
                column,
                pc.invert(pc.match_substring_regex(text, spec.regex)),
                sev,
                f"do not match {spec.regex!r}",
            )
        )
    if spec.unique:
        results.append(_unique_check(name, column, sev))
    return results


def _unique_check(name: str, column: pa.ChunkedArray, severity: str) -> CheckResult:
    counts = pc.value_counts(column.drop_null())
    repeated = pc.filter(counts, pc.greater(counts.field("counts"), 1))
    failing = int(pc.sum(repeated.field("counts")).as_py() or 0)
    examples = [
        {"value": v, "count": c}
        for v, c in zip(
            repeated.field("values").to_pylist()[:_EXAMPLES],
            repeated.field("counts").to_pylist()[:_EXAMPLES],
            strict=True,
        )
    ]
    message = (
        f"{len(repeated)} value(s) repeat, in {failing} row(s)"
        if failing
        else "every value is unique"
    )
    return CheckResult("unique", name, severity, failing == 0, message, failing, examples)


def _target_checks(table: pa.Table, target: str, severity: str) -> list[CheckResult]:
    if target not in table.column_names:
        return [
            CheckResult(
                "target_present",
                target,
                severity,
                False,
                f"target column {target!r} is missing (columns: "
                f"{', '.join(table.column_names[:20])})",
            )
        ]
    column = table[target]
    distinct = int(pc.count_distinct(column, mode="only_valid").as_py())
    return [
        CheckResult("target_present", target, severity, True, "target column present"),
        CheckResult(
            "target_not_constant",
            target,
            severity,
            distinct > 1,
            f"target has {distinct} distinct value(s)",
        ),
        _mask_result(
            "target_not_null",
            target,
            column,
            pc.is_null(column),
            "warn",
            "have no target value (they cannot train)",
        ),
    ]


def _row_checks(rows: int, spec: ValidationSpec) -> list[CheckResult]:
    results = []
    if spec.min_rows is not None:
        results.append(
            CheckResult(
                "min_rows",
                None,
                spec.rows_severity,
                rows >= spec.min_rows,
                f"{rows} row(s); at least {spec.min_rows} required",
            )
        )
    if spec.max_rows is not None:
        results.append(
            CheckResult(
                "max_rows",
                None,
                spec.rows_severity,
                rows <= spec.max_rows,
                f"{rows} row(s); at most {spec.max_rows} allowed",
            )
        )
    return results


def _reference_checks(
    table: pa.Table, reference: Schema, spec: ValidationSpec, inferred: Schema
) -> list[CheckResult]:
    results = []
    for name, column in reference.columns.items():
        if name not in table.column_names:
            results.append(
                CheckResult(
                    "column_match",
                    name,
                    "error",
                    False,
                    f"column {name!r} of the reference is missing",
                )
            )
        elif inferred.columns[name].kind != column.kind:
            results.append(
                CheckResult(
                    "column_match",
                    name,
                    "error",
                    False,
                    f"column {name!r} is {inferred.columns[name].kind.value} "
                    f"here but {column.kind.value} in the reference",
                )
            )
    extra = [n for n in table.column_names if n not in reference.columns]
    if extra:
        results.append(
            CheckResult(
                "column_match",
                None,
                spec.unexpected_columns_severity,
                False,
                f"columns not in the reference: {', '.join(extra)}",
            )
        )
    if not results:
        results.append(
            CheckResult("column_match", None, "error", True, "columns match the reference")
        )
    return results


def validate(
    table: pa.Table,
    spec: ValidationSpec | None = None,
    *,
    declared: Schema | None = None,
    target: str | None = None,
    reference: Schema | None = None,
    source: str = "data",
) -> ValidationReport:
    """Run every check on ``table``.

    ``declared`` is the spec's schema: each of its columns must exist and meet its constraints.
    ``target`` must be present and not constant. ``reference`` is the training schema that
    serving data must match (same columns, same kinds).
    """
    spec = spec or ValidationSpec()
    declared = declared or Schema()
    checks = _row_checks(table.num_rows, spec)
    for name, column_spec in declared.columns.items():
        if name not in table.column_names:
            checks.append(
                CheckResult(
                    "column_present",
                    name,
                    "error",
                    False,
                    f"declared column {name!r} is missing from the data",
                )
            )
        elif table[name].null_count < table.num_rows:
            checks.extend(_column_checks(name, table[name], column_spec))
    for name in table.column_names:
        column = table[name]
        if column.null_count == len(column) and len(column):
            checks.append(
                CheckResult(
                    "all_null",
                    name,
                    spec.all_null_severity,
                    False,
                    f"column {name!r} is entirely null",
                )
            )
    if target is not None:
        checks.extend(_target_checks(table, target, spec.target_severity))
    if reference is not None:
        inferred = infer_schema(table, declared)
        checks.extend(_reference_checks(table, reference, spec, inferred))
    return ValidationReport(source, table.num_rows, checks)
