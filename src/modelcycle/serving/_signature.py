"""Request validation against a model version's input signature, on the hot path.

A version's signature (``registry.signature_of``) lists its input columns with their kind
(numeric, integer, boolean, categorical, datetime, text, id), whether they held missing values
and, for categorical and boolean columns, the categories seen in training. :class:`InputSchema`
turns it into one converter per column, built once when the model loads, so validating a 1-row
request costs microseconds: no pandas, no per-request schema interpretation, a fast path for
columns whose values already have the right type.

What a request must be (``Columns``: column name -> list of JSON values, one per row):

- every signature column present (``id`` columns may be left out: models drop them), no other
  column, every list the same length, at least one row and at most ``max_rows``;
- numeric columns hold numbers (ints or floats; never strings or booleans), integer columns
  whole numbers, boolean columns ``true``/``false`` (also ``"true"``/``"false"`` and 0/1),
  categorical columns one of the training categories (an unseen one is rejected, or mapped to
  missing when ``unknown_categories="unknown"``; each mapping is counted in
  :attr:`InputSchema.unknown_counts`), datetime columns ISO 8601 strings, text columns strings;
- ``None`` (JSON null) is accepted in every column: the model's preprocessing imputes it.

Every refusal is a :class:`~modelcycle.errors.DataError` (HTTP 422) naming the field and the
row (0-based, as in the row ids ``REQUEST_ID:ROW``), e.g.
``invalid value 'abc' for field 'age' (row 3): expected a number``.

Hand-written rather than pydantic or pandera: those build a model or a frame per request and
cost tens to hundreds of microseconds for a 1-row request, which is the serving budget itself.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from modelcycle.errors import DataError, invalid_value

__all__ = ["Columns", "InputSchema"]

#: Column-major request data: column name -> one JSON value per row.
Columns = dict[str, list[Any]]
_Convert = Callable[[Sequence[Any], str], list[Any]]

_V2_TYPES = {"numeric": "FP64", "integer": "FP64", "boolean": "BOOL"}
_TRUE = {"true": True, "false": False, "True": True, "False": False, "TRUE": True, "FALSE": False}
_SHOWN_CATEGORIES = 10
_INF = float("inf")
#: Beyond this a number is refused (a float64 holds up to ~1.8e308; JSON may hold more).
_LARGEST = 1e300


def _bad(name: str, row: int, value: Any, why: str) -> DataError:
    return DataError(str(invalid_value(f"field {name!r} (row {row})", value, why)))


def _rows(values: Sequence[Any], name: str, convert: Callable[[Any, str, int], Any]) -> list[Any]:
    return [convert(value, name, row) for row, value in enumerate(values)]


# -- one value of each kind (the slow path: only reached when the fast path declines) -----------


def _number(value: Any, name: str, row: int) -> Any:
    kind = type(value)
    if value is None:
        return value
    if kind is bool or not isinstance(value, numbers.Real):
        raise _bad(name, row, value, "expected a number")
    if isinstance(value, int):
        if not -_LARGEST < value < _LARGEST:
            raise _bad(name, row, value, "the number is too large")
        return value
    number = float(value)  # floats, and NumPy scalars from the Python API
    if number != number:  # NaN (only from the Python API; JSON has none): missing
        return None
    if not -_INF < number < _INF:
        raise _bad(name, row, value, "expected a finite number")
    return number


def _integer(value: Any, name: str, row: int) -> Any:
    number = _number(value, name, row)
    if type(number) is float:
        if not number.is_integer():
            raise _bad(name, row, value, "expected a whole number")
        return int(number)
    return number


def _boolean(value: Any, name: str, row: int) -> Any:
    if value is None or type(value) is bool:
        return value
    if isinstance(value, str) and value in _TRUE:
        return _TRUE[value]
    if type(value) is int and value in (0, 1):
        return bool(value)
    raise _bad(name, row, value, "expected true or false")


def _text(value: Any, name: str, row: int) -> Any:
    if value is None or type(value) is str:
        return value
    raise _bad(name, row, value, "expected a string")


def _moment(value: Any, name: str, row: int) -> Any:
    if value is None:
        return value
    if type(value) is not str:
        raise _bad(name, row, value, "expected an ISO 8601 date-time string")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise _bad(name, row, value, "expected an ISO 8601 date-time string") from None
    return value


def _scalar(value: Any, name: str, row: int) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise _bad(name, row, value, "expected a single value (string or number)")


# -- whole columns: a fast path for values of the right type, else value by value -------------


def _numbers(values: Sequence[Any], name: str) -> list[Any]:
    for value in values:  # the fast path: finite floats and ints of a sane size
        kind = type(value)
        if not ((kind is float or kind is int) and -_LARGEST < value < _LARGEST):
            return _rows(values, name, _number)
    return list(values)


def _integers(values: Sequence[Any], name: str) -> list[Any]:
    for value in values:
        if not (type(value) is int and -_LARGEST < value < _LARGEST):
            return _rows(values, name, _integer)
    return list(values)


def _booleans(values: Sequence[Any], name: str) -> list[Any]:
    for value in values:
        if type(value) is not bool:
            return _rows(values, name, _boolean)
    return list(values)


class _Categories:
    """A categorical column's converter: values matched by their string form (what the model's
    preprocessing sees), returned as the training category."""

    def __init__(self, categories: Sequence[Any], policy: str, counts: dict[str, int]) -> None:
        self.lookup = {str(c): c for c in categories}
        self.policy = policy
        self.counts = counts
        shown = ", ".join(map(repr, sorted(self.lookup)[:_SHOWN_CATEGORIES]))
        more = len(self.lookup) - _SHOWN_CATEGORIES
        self.known = shown + (f" and {more} more" if more > 0 else "")

    def __call__(self, values: Sequence[Any], name: str) -> list[Any]:
        lookup = self.lookup
        try:
            return [lookup[value] for value in values]
        except (KeyError, TypeError):
            return _rows(values, name, self.one)

    def one(self, value: Any, name: str, row: int) -> Any:
        if value is None:
            return None
        if not isinstance(value, (str, int, float, bool)):
            raise _bad(name, row, value, "expected a category (string or number)")
        found = self.lookup.get(value if type(value) is str else str(value), _Categories)
        if found is not _Categories:
            return found
        if self.policy == "unknown":
            self.counts[name] = self.counts.get(name, 0) + 1
            return None
        raise _bad(name, row, value, f"unknown category; known: {self.known}")


def _per_value(convert: Callable[[Any, str, int], Any], fast: type | None) -> _Convert:
    """A column converter: values of type ``fast`` pass as they are, else each is converted
    (``fast`` None: every value is)."""

    def column(values: Sequence[Any], name: str) -> list[Any]:
        if fast is not None and all(type(value) is fast for value in values):
            return list(values)
        return _rows(values, name, convert)

    return column


class InputSchema:
    """The validator of one version's inputs (see the module docstring).

    >>> schema = InputSchema({"inputs": [{"name": "age", "kind": "numeric"}]}, max_rows=10)
    >>> schema.validate({"age": [31, None]})
    {'age': [31, None]}
    """

    def __init__(
        self,
        signature: Mapping[str, Any],
        *,
        unknown_categories: Literal["reject", "unknown"] = "reject",
        max_rows: int = 10_000,
    ) -> None:
        if unknown_categories not in ("reject", "unknown"):
            why = "expected 'reject' or 'unknown'"
            raise invalid_value("unknown_categories", unknown_categories, why)
        if max_rows < 1:
            raise invalid_value("max_rows", max_rows, "must be at least 1")
        self.signature = dict(signature)
        self.inputs: list[dict[str, Any]] = [dict(item) for item in signature.get("inputs", [])]
        if not self.inputs:
            raise invalid_value("signature", "inputs", "the signature lists no input columns")
        self.max_rows = max_rows
        self.unknown_categories = unknown_categories
        #: Unseen categories mapped to missing (policy ``unknown``), per column.
        self.unknown_counts: dict[str, int] = {}
        self.names: tuple[str, ...] = tuple(str(item["name"]) for item in self.inputs)
        self.kinds: dict[str, str] = {
            str(i["name"]): str(i.get("kind", "numeric")) for i in self.inputs
        }
        self.optional = frozenset(n for n, kind in self.kinds.items() if kind == "id")
        self._names = frozenset(self.names)
        self._converters = [
            (name, self._converter(item))
            for name, item in zip(self.names, self.inputs, strict=True)
        ]

    def _converter(self, item: Mapping[str, Any]) -> _Convert:
        kind = str(item.get("kind", "numeric"))
        categories = item.get("categories")
        if kind == "numeric":
            return _numbers
        if kind == "integer":
            return _integers
        if kind == "boolean":
            return _booleans
        if kind == "categorical" and categories is not None:
            return _Categories(categories, self.unknown_categories, self.unknown_counts)
        if kind == "categorical" or kind == "id":
            return _per_value(_scalar, str)
        if kind == "datetime":
            return _per_value(_moment, None)
        if kind == "text":
            return _per_value(_text, str)
        raise invalid_value(f"signature column {item.get('name')!r}", kind, "unknown kind")

    # -- requests ---------------------------------------------------------------------------------
    def validate(self, columns: Mapping[str, Any]) -> Columns:
        """``columns`` checked and coerced (see the module docstring); the result holds the
        signature's columns in signature order. Raises DataError naming the field and row."""
        if not isinstance(columns, Mapping):
            why = "expected an object of columns (column name -> list of values)"
            raise DataError(str(invalid_value("inputs", type(columns).__name__, why)))
        self._check_names(columns)
        result: Columns = {}
        rows = -1
        first = ""
        for name, convert in self._converters:
            values = columns.get(name)
            if values is None and name in self.optional:
                continue
            if not isinstance(values, (list, tuple)):
                why = "expected a list of values, one per row"
                raise DataError(str(invalid_value(f"field {name!r}", values, why)))
            if rows < 0:
                rows, first = self._row_count(len(values)), name
            elif len(values) != rows:
                raise DataError(
                    f"field {name!r} has {len(values)} values but field {first!r} has {rows}: "
                    "every column needs one value per row"
                )
            result[name] = convert(values, name)
        if rows < 0:
            raise DataError("a request needs at least one row")
        for name in self.optional:
            result.setdefault(name, [None] * rows)
        return result if len(result) == len(self.names) else {n: result[n] for n in self.names}

    def _check_names(self, columns: Mapping[str, Any]) -> None:
        if columns.keys() == self._names:
            return
        unknown = sorted(str(k) for k in columns if k not in self._names)
        if unknown:
            raise DataError(f"unknown field {unknown[0]!r}: the model reads {self._expected()}")
        missing = [n for n in self.names if n not in columns and n not in self.optional]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise DataError(f"missing field {missing[0]!r}{more}: the model reads it")

    def _expected(self) -> str:
        shown = ", ".join(self.names[:_SHOWN_CATEGORIES])
        more = len(self.names) - _SHOWN_CATEGORIES
        return shown + (f" and {more} more" if more > 0 else "")

    def _row_count(self, rows: int) -> int:
        if rows == 0:
            raise DataError("a request needs at least one row")
        if rows > self.max_rows:
            why = f"at most {self.max_rows} rows per request"
            raise DataError(str(invalid_value("number of rows", rows, why)))
        return rows

    def records_to_columns(self, records: Any) -> Columns:
        """Row objects (``[{"age": 31, ...}, ...]``) as Columns (not yet validated: pass the
        result to :meth:`validate`). Errors name the row and the field."""
        if not isinstance(records, list):
            why = "expected a list of records (one object per row)"
            raise DataError(str(invalid_value("records", type(records).__name__, why)))
        self._row_count(len(records))
        names = self.names
        result: Columns = {name: [] for name in names}
        appenders = [result[name].append for name in names]
        for row, record in enumerate(records):
            if not isinstance(record, dict) or len(record) != len(names):
                self._check_record(row, record)
            try:
                values = [record[name] for name in names]
            except KeyError:  # an optional (id) column left out
                self._check_record(row, record)
                values = [record.get(name) for name in names]
            for append, value in zip(appenders, values, strict=True):
                append(value)
        return result

    def _check_record(self, row: int, record: Any) -> None:
        if not isinstance(record, dict):
            why = "expected an object of field values"
            raise DataError(str(invalid_value(f"record (row {row})", type(record).__name__, why)))
        unknown = [str(k) for k in record if k not in self._names]
        if unknown:
            raise DataError(f"row {row}: unknown field {unknown[0]!r}")
        missing = [n for n in self.names if n not in record and n not in self.optional]
        if missing:
            raise DataError(f"row {row}: missing field {missing[0]!r}")

    # -- metadata ---------------------------------------------------------------------------------
    def v2_inputs(self) -> list[dict[str, Any]]:
        """The inputs as Open Inference Protocol tensor metadata (``shape: [-1]``, one value
        per row): FP64 numbers, BOOL booleans, BYTES for the rest."""
        return [
            {"name": name, "datatype": _V2_TYPES.get(self.kinds[name], "BYTES"), "shape": [-1]}
            for name in self.names
        ]
