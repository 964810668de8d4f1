"""Request bodies of every protocol, parsed into the canonical ``Columns`` form.

    columns = rows_to_columns([[42, "Lyon"]], ["age", "city"], field="instances")
    columns = mlflow_json(body_object, schema)         # dataframe_split/records, instances, inputs
    columns = csv_columns(body_bytes, kinds)           # text/csv, values converted per kind

Hand-written rather than through pandas: a 1-row request must cost microseconds, and pandas'
``read_json``/``read_csv`` cost a millisecond before a single value is read. Every error is an
:class:`~modelcycle.errors.InvalidValueError` that names the field (and the row) at fault, so the
server answers 400 and never 500. Values are only shaped here; their types are checked against
the version's signature by the serving stage (``InputSchema.validate``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from modelcycle.errors import InvalidValueError, invalid_value

if TYPE_CHECKING:
    from modelcycle.serving import InputSchema

__all__ = [
    "Columns",
    "columns_from_mapping",
    "csv_columns",
    "load_json",
    "mlflow_json",
    "records",
    "rows_or_records",
    "rows_to_columns",
]

Columns = dict[str, list[Any]]

_MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def load_json(body: bytes, *, what: str = "request body") -> Any:
    """The JSON value of ``body`` (orjson), or a 400 naming what was not JSON."""
    if not body:
        raise InvalidValueError(f"invalid {what}: empty, expected JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidValueError(f"invalid {what}: not valid JSON ({exc})") from None


def rows_to_columns(rows: Any, names: Sequence[str], *, field: str) -> Columns:
    """Positional rows ``[[1, "x"], ...]`` in the order of ``names`` -> Columns."""
    if not isinstance(rows, list):
        raise invalid_value(f"field {field!r}", _short(rows), "expected a list of rows")
    columns: Columns = {name: [] for name in names}
    lists = list(columns.values())
    width = len(names)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            why = f"expected a list of {width} values ({', '.join(names)})"
            raise invalid_value(f"field '{field}[{i}]'", _short(row), why)
        for column, value in zip(lists, row, strict=True):
            column.append(value)
    return columns


def columns_from_mapping(data: Any, *, field: str) -> Columns:
    """``{"a": [1, 2], "b": ["x", "y"]}`` (or scalars for one row) -> Columns."""
    if not isinstance(data, dict):
        raise invalid_value(f"field {field!r}", _short(data), "expected an object of columns")
    columns: Columns = {}
    for key, values in data.items():
        columns[str(key)] = values if isinstance(values, list) else [values]
    return columns


def rows_or_records(rows: Any, schema: InputSchema, *, field: str) -> Columns:
    """Rows given as objects (by name) or as lists (in signature order)."""
    if isinstance(rows, list) and rows and isinstance(rows[0], list):
        return rows_to_columns(rows, schema.names, field=field)
    return records(rows, schema, field=field)


def records(rows: Any, schema: InputSchema, *, field: str) -> Columns:
    """Row objects -> Columns through the signature (errors name the row and field)."""
    if not isinstance(rows, list):
        raise invalid_value(f"field {field!r}", _short(rows), "expected a list of row objects")
    return schema.records_to_columns(rows)


def mlflow_json(payload: Any, schema: InputSchema) -> Columns:
    """An MLflow scoring-server JSON body -> Columns.

    Exactly one of ``dataframe_split`` (``{"columns", "index"?, "data"}``),
    ``dataframe_records`` (row objects), ``instances`` (rows: objects, or lists in signature
    order) or ``inputs`` (columns as an object, or rows), plus an optional ``params``."""
    if not isinstance(payload, dict):
        why = f"expected an object with one of {', '.join(_MLFLOW_KEYS)}"
        raise invalid_value("request body", _short(payload), why)
    found = [key for key in _MLFLOW_KEYS if key in payload]
    unknown = sorted(set(payload) - {*_MLFLOW_KEYS, "params"})
    if unknown:
        raise invalid_value(
            f"field {unknown[0]!r}", "present", f"expected one of {', '.join(_MLFLOW_KEYS)}"
        )
    if len(found) != 1:
        why = f"exactly one of {', '.join(_MLFLOW_KEYS)} is required, got {len(found)}"
        raise InvalidValueError(f"invalid request body: {why}")
    params = payload.get("params")
    if params:
        raise invalid_value("field 'params'", _short(params), "this model takes no parameters")
    key = found[0]
    data = payload[key]
    if key == "dataframe_split":
        return _dataframe_split(data)
    if key == "dataframe_records":
        return records(data, schema, field=key)
    if key == "inputs" and isinstance(data, dict):
        return columns_from_mapping(data, field=key)
    return rows_or_records(data, schema, field=key)


def _dataframe_split(data: Any) -> Columns:
    if not isinstance(data, dict) or not isinstance(data.get("columns"), list):
        why = 'expected {"columns": [...], "data": [[...], ...]}'
        raise invalid_value("field 'dataframe_split'", _short(data), why)
    extra = sorted(set(data) - {"columns", "data", "index"})
    if extra:
        raise invalid_value(f"field 'dataframe_split.{extra[0]}'", "present", "not a known key")
    names = [str(name) for name in data["columns"]]
    if len(set(names)) != len(names):
        raise invalid_value("field 'dataframe_split.columns'", names, "names repeat")
    return rows_to_columns(data.get("data", []), names, field="dataframe_split.data")


def csv_columns(body: bytes, kinds: Mapping[str, str]) -> Columns:
    """A ``text/csv`` body with a header row -> Columns, each value converted per the
    column's kind (numeric -> float, boolean -> bool, empty -> missing); a column the
    signature does not know stays text and the signature check names it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidValueError(f"invalid request body: not UTF-8 text ({exc.reason})") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise InvalidValueError("invalid request body: the CSV has no header row")
    names = [name.strip() for name in header]
    columns: Columns = {name: [] for name in names}
    lists = list(columns.values())
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(names):
            why = f"expected {len(names)} values, got {len(row)}"
            raise invalid_value(f"CSV line {line}", ",".join(row)[:60], why)
        for name, column, text_value in zip(names, lists, row, strict=True):
            column.append(_csv_value(text_value, kinds.get(name), name, line))
    return columns


_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


def _csv_value(text: str, kind: str | None, name: str, line: int) -> Any:
    if text == "":
        return None
    if kind == "numeric":
        try:
            return float(text)
        except ValueError:
            why = "expected a number"
            raise invalid_value(f"field {name!r} (CSV line {line})", text, why) from None
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        raise invalid_value(f"field {name!r} (CSV line {line})", text, "expected true or false")
    return text


def _short(value: Any) -> Any:
    """A value small enough to quote in an error message."""
    if isinstance(value, (dict, list)):
        return type(value).__name__ + f" of {len(value)}"
    return value
