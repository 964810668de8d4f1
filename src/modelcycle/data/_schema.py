"""Column kinds and the dataset schema: inferred from data, overridden by the spec.

Kinds say what a column *means* for modelling, which an Arrow type alone does not:

    numeric      real-valued measurements (float columns)
    integer      counts and other whole numbers with many distinct values
    boolean      two-valued columns (true/false, or 0/1 and yes/no declared so)
    categorical  a limited set of labels (low-cardinality strings)
    datetime     timestamps and dates (native, or ISO 8601 strings)
    text         free text (long strings, many distinct values, several words)
    id           one distinct value per row (keys: never features)

Inference looks at the Arrow type, the share of distinct values, string lengths and the column
name; a ``schema:`` section in the pipeline spec overrides any column's kind and adds
constraints (nullable, min/max, categories, unique, regex) that validation checks.
"""

from __future__ import annotations

import enum
import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ColumnKind", "ColumnSchema", "Schema", "infer_schema"]


class ColumnKind(str, enum.Enum):
    """What a column means for modelling (see the module docstring)."""

    NUMERIC = "numeric"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"
    TEXT = "text"
    ID = "id"


class ColumnSchema(BaseModel):
    """One column: its kind and the constraints validation checks.

    ``severity`` applies to this column's constraint checks (``error`` fails validation,
    ``warn`` reports only).
    """

    model_config = ConfigDict(extra="forbid")

    kind: ColumnKind
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    unique: bool = False
    regex: str | None = None
    severity: str = Field(default="error", pattern="^(error|warn)$")


class Schema(BaseModel):
    """Column name -> :class:`ColumnSchema`, in the data's column order."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, ColumnSchema] = Field(default_factory=dict)

    def kinds(self) -> dict[str, ColumnKind]:
        """Column name -> kind."""
        return {name: column.kind for name, column in self.columns.items()}

    def names(self, *kinds: ColumnKind) -> list[str]:
        """Names of the columns of the given kinds (all columns when none are given)."""
        return [n for n, c in self.columns.items() if not kinds or c.kind in kinds]

    def merged_with(self, declared: Schema | None) -> Schema:
        """This (inferred) schema with every declared column's settings taking precedence."""
        if declared is None:
            return self
        columns = dict(self.columns)
        for name, column in declared.columns.items():
            columns[name] = column
        return Schema(columns=columns)


_ID_NAME = re.compile(r"(^|[_\-. ])(id|uuid|key)$|^(id|uuid|rownames|index)([_\-. ]|$)", re.I)
_SAMPLE = 2_000
_TEXT_MIN_WORDS = 4.0
_CATEGORICAL_MAX_SHARE = 0.5
_CATEGORICAL_MAX_DISTINCT = 1_000


def _distinct(column: pa.ChunkedArray) -> int:
    return int(pc.count_distinct(column, mode="only_valid").as_py())


def _looks_like_dates(values: pa.ChunkedArray) -> bool:
    sample = values.drop_null().slice(0, 200)
    if len(sample) == 0:
        return False
    try:
        pc.cast(sample, pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _string_kind(name: str, column: pa.ChunkedArray, rows: int, distinct: int) -> ColumnKind:
    valid = rows - column.null_count
    if valid == 0:
        return ColumnKind.CATEGORICAL
    if _looks_like_dates(column):
        return ColumnKind.DATETIME
    sample = column.drop_null().slice(0, _SAMPLE)
    words = pc.mean(pc.list_value_length(pc.utf8_split_whitespace(sample))).as_py() or 0.0
    if words >= _TEXT_MIN_WORDS:
        return ColumnKind.TEXT
    if distinct == valid and valid > 20 and (_ID_NAME.search(name) or words <= 1.0):
        return ColumnKind.ID
    if distinct <= _CATEGORICAL_MAX_DISTINCT or distinct / valid <= _CATEGORICAL_MAX_SHARE:
        return ColumnKind.CATEGORICAL
    return ColumnKind.TEXT


def _column_kind(name: str, column: pa.ChunkedArray, rows: int) -> ColumnKind:
    kind = column.type
    if pa.types.is_boolean(kind):
        return ColumnKind.BOOLEAN
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return ColumnKind.DATETIME
    if pa.types.is_null(kind):
        return ColumnKind.CATEGORICAL
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return ColumnKind.NUMERIC
    if pa.types.is_dictionary(kind):
        return ColumnKind.CATEGORICAL
    if pa.types.is_integer(kind):
        valid = rows - column.null_count
        if valid > 20 and _ID_NAME.search(name) and _distinct(column) == valid:
            return ColumnKind.ID
        return ColumnKind.INTEGER
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _string_kind(name, column, rows, _distinct(column))
    return ColumnKind.TEXT


def infer_schema(table: pa.Table, declared: Schema | None = None) -> Schema:
    """Infer every column's kind from ``table``; ``declared`` columns override the inference.

    Nothing is constrained by inference alone (every column nullable, no ranges): constraints
    come from the declared schema.
    """
    known = declared.columns if declared is not None else {}
    columns: dict[str, Any] = {}
    for name in table.column_names:
        if name in known:  # declared: no need to look at the values
            columns[name] = known[name]
        else:
            columns[name] = ColumnSchema(kind=_column_kind(name, table[name], table.num_rows))
    return Schema(columns=columns).merged_with(declared)
