"""Compile parsed run filters and order-by terms into SQLAlchemy expressions.

Metrics compare by their latest value (``latest_metrics``); a run without the metric does not
match a comparison and sorts last. Params and tags are strings and compare as strings (use
``=``, ``!=``, ``like``, ``in``); ordering them with ``<`` is refused with an explanation rather
than silently comparing text.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from modelcycle.errors import FilterSyntaxError
from modelcycle.store import _schema as s
from modelcycle.store._filter import And, Comparison, Field, Node, Not, Or, OrderTerm
from modelcycle.types import RunStatus

__all__ = ["compile_filter", "compile_order_by"]

_TABLES = {"metrics": s.latest_metrics, "params": s.params, "tags": s.tags}
_TEXT_OPS = {"=", "!=", "like", "ilike", "in", "not in", "is null", "is not null"}
_TIME_ATTRIBUTES = {"start_time", "end_time"}


def _apply(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "is null":
        return column.is_(None)  # type: ignore[no-any-return]
    if op == "is not null":
        return column.is_not(None)  # type: ignore[no-any-return]
    if op == "in":
        return column.in_(value)  # type: ignore[no-any-return]
    if op == "not in":
        return column.not_in(value)  # type: ignore[no-any-return]
    if op == "like":
        return column.like(value)  # type: ignore[no-any-return]
    if op == "ilike":
        return column.ilike(value)  # type: ignore[no-any-return]
    operators = {
        "=": column.__eq__,
        "!=": column.__ne__,
        "<": column.__lt__,
        "<=": column.__le__,
        ">": column.__gt__,
        ">=": column.__ge__,
    }
    return operators[op](value)  # type: ignore[no-any-return]


def _values(cmp: Comparison) -> tuple[Any, ...]:
    return cmp.value if isinstance(cmp.value, tuple) else (cmp.value,)


def _check_kind(cmp: Comparison, numeric: bool) -> None:
    for value in _values(cmp):
        if cmp.op in ("is null", "is not null"):
            return
        if numeric and not isinstance(value, float):
            raise FilterSyntaxError(
                f"invalid filter on {cmp.field}: metrics are numbers, got {value!r}"
            )
        if not numeric and isinstance(value, float) and cmp.op in ("like", "ilike"):
            raise FilterSyntaxError(f"invalid filter on {cmp.field}: like needs a quoted pattern")
    if numeric and cmp.op in ("like", "ilike"):
        raise FilterSyntaxError(f"invalid filter on {cmp.field}: like applies to text, not metrics")
    if not numeric and cmp.op not in _TEXT_OPS:
        raise FilterSyntaxError(
            f"invalid filter on {cmp.field}: {cmp.field.entity or 'this attribute'} are text and "
            f"support =, !=, like, ilike, in; '{cmp.op}' would compare text, not numbers"
        )


def _as_text(value: Any) -> Any:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def _entity_condition(cmp: Comparison) -> ColumnElement[bool]:
    table = _TABLES[cmp.field.entity]
    numeric = cmp.field.entity == "metrics"
    _check_kind(cmp, numeric)
    if cmp.op == "is null":
        return ~_exists(table, cmp.field.key, sa.true())
    if cmp.op == "is not null":
        return _exists(table, cmp.field.key, sa.true())
    value = cmp.value if numeric else _convert(cmp.value, _as_text)
    return _exists(table, cmp.field.key, _apply(table.c.value, cmp.op, value))


def _exists(table: sa.Table, key: str, condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return (
        sa.select(sa.literal(1))
        .where(table.c.run_id == s.runs.c.run_id, table.c.key == key, condition)
        .exists()
    )


def _convert(value: Any, fn: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(fn(v) for v in value)
    return fn(value)


def _time_value(value: Any) -> Any:
    if isinstance(value, float) or value is None:
        return None if value is None else int(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FilterSyntaxError(
            f"invalid time {value!r}: use ISO 8601 (2026-01-31 or 2026-01-31T12:00) or epoch ms"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp() * 1000)


def _status_value(value: Any) -> Any:
    if value is None:
        return None
    text = str(value).upper()
    if text not in RunStatus.__members__:
        raise FilterSyntaxError(
            f"invalid status {value!r}: one of {', '.join(RunStatus.__members__)}"
        )
    return text


def _attribute_condition(cmp: Comparison) -> ColumnElement[bool]:
    key = cmp.field.key
    if key in _TIME_ATTRIBUTES:
        return _apply(s.runs.c[key], cmp.op, _convert(cmp.value, _time_value))
    _check_kind(cmp, numeric=False)
    if key == "status":
        return _apply(s.runs.c.status, cmp.op, _convert(cmp.value, _status_value))
    if key == "experiment":
        return _apply(s.experiments.c.name, cmp.op, _convert(cmp.value, _as_text))
    return _apply(s.runs.c[key], cmp.op, _convert(cmp.value, _as_text))


def compile_filter(node: Node) -> ColumnElement[bool]:
    """A WHERE clause over ``runs`` joined with ``experiments``."""
    if isinstance(node, And):
        return sa.and_(compile_filter(node.left), compile_filter(node.right))
    if isinstance(node, Or):
        return sa.or_(compile_filter(node.left), compile_filter(node.right))
    if isinstance(node, Not):
        return sa.not_(compile_filter(node.operand))
    if node.field.entity:
        return _entity_condition(node)
    return _attribute_condition(node)


def _order_column(field: Field) -> Any:
    if not field.entity:
        return s.experiments.c.name if field.key == "experiment" else s.runs.c[field.key]
    table = _TABLES[field.entity]
    return (
        sa.select(table.c.value)
        .where(table.c.run_id == s.runs.c.run_id, table.c.key == field.key)
        .scalar_subquery()
    )


def compile_order_by(terms: list[OrderTerm]) -> list[Any]:
    """ORDER BY expressions; missing values sort last either way; newest runs break ties."""
    clauses: list[Any] = []
    for term in terms:
        column = _order_column(term.field)
        ordered = column.desc() if term.direction == "desc" else column.asc()
        clauses.append(ordered.nulls_last())
    clauses.extend([s.runs.c.start_time.desc(), s.runs.c.run_id])
    return clauses
