"""The type-coercion cleaning step: :class:`TypeCoercer` and one converter per column kind.

Converting a column to its declared kind is the one step whose rules are per kind (which
strings are booleans, how ISO 8601 offsets become UTC, why 3.0 is written "3"), so it has a
module of its own; :mod:`._cleaning_steps` registers it with the other steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from modelcycle.data._cleaning import CoerceConfig, StepReport
from modelcycle.data._cleaning_base import CleaningStep, _check_columns, _rows
from modelcycle.data._schema import ColumnKind
from modelcycle.errors import invalid_value

__all__ = ["TypeCoercer"]


class TypeCoercer(CleaningStep):
    """Convert ``columns`` (name -> kind) to the kind's dtype, counting what does not parse.

    numeric -> float64; integer -> Int64 (non-whole numbers fail); boolean -> boolean
    (true/false, yes/no, y/n, t/f, on/off, 1/0); datetime -> datetime64[us] from ISO 8601
    strings (those with UTC offsets become UTC); categorical -> category of strings;
    text -> str. A failure is a non-null value that does not parse: it becomes null
    (``on_failure: null``) or drops its row (``drop_row``), and is counted per column with up
    to 5 example values.
    """

    config_type = CoerceConfig

    def __init__(
        self,
        *,
        columns: Mapping[str, ColumnKind | str],
        on_failure: Literal["null", "drop_row"] = "null",
    ) -> None:
        self.columns = columns
        self.on_failure = on_failure

    def _fit(self, df: pd.DataFrame) -> None:
        _check_columns(df, list(self.columns), "coerce.columns")
        self.columns_ = {c: ColumnKind(kind) for c, kind in self.columns.items()}

    def _apply(self, df: pd.DataFrame, report: StepReport) -> pd.DataFrame:
        _check_columns(df, list(self.columns_), "coerce.columns")
        report.columns = list(self.columns_)
        converted: dict[str, pd.Series] = {}
        failed: dict[str, np.ndarray[Any, Any]] = {}
        for column, kind in self.columns_.items():
            original = df[column]
            converted[column] = _COERCERS[kind](original, column)
            bad = original.notna().to_numpy() & converted[column].isna().to_numpy()
            if bad.any():
                failed[column] = bad
                report.coercion_failures[column] = {
                    "count": int(bad.sum()),
                    "examples": _examples(original, bad),
                }
        out: pd.DataFrame = df.assign(**converted)
        if self.on_failure == "drop_row" and failed:
            report.rows_flagged = {c: int(m.sum()) for c, m in failed.items()}
            report.reason = "values that do not parse as the column's kind"
            out = _rows(out, ~np.logical_or.reduce(list(failed.values())))
        return out


def _examples(values: pd.Series, bad: np.ndarray[Any, Any]) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values[bad].head(100).tolist()))[:5]


def _to_numeric(values: pd.Series, column: str, kind: str = "numeric") -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        raise invalid_value(f"coerce.columns.{column}", kind, "the column holds dates")
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype("float64")
    return pd.to_numeric(values, errors="coerce").astype("float64")


def _to_integer(values: pd.Series, column: str) -> pd.Series:
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("Int64")
    numbers = _to_numeric(values, column, "integer")
    whole = np.isfinite(numbers) & (numbers % 1 == 0) & (numbers.abs() < 2.0**63)
    integers: pd.Series = numbers.where(whole).astype("Int64")
    return integers


_BOOLEAN_WORDS = {
    **dict.fromkeys(["true", "t", "yes", "y", "on", "1", "1.0"], True),
    **dict.fromkeys(["false", "f", "no", "n", "off", "0", "0.0"], False),
}


def _to_boolean(values: pd.Series, column: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean")
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype("float64").map({0.0: False, 1.0: True}).astype("boolean")
    words = values.astype("str").str.strip().str.lower()
    return words.map(_BOOLEAN_WORDS).astype("boolean")


def _to_datetime(values: pd.Series, column: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values
    if pd.api.types.is_numeric_dtype(values.dtype):
        raise invalid_value(
            f"coerce.columns.{column}",
            "datetime",
            f"the column holds numbers ({values.dtype}); only ISO 8601 strings are read as dates",
        )
    text = values.astype("str")
    try:
        dates = pd.to_datetime(text, errors="coerce", format="ISO8601")
    except ValueError:  # several UTC offsets: one timezone is needed, UTC is the neutral one
        dates = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
    if dates.dt.tz is not None:
        dates = dates.dt.tz_convert("UTC")
    return dates.dt.as_unit("us")  # one resolution and zone, whatever the strings held


def _to_text(values: pd.Series, column: str) -> pd.Series:
    if pd.api.types.is_float_dtype(values.dtype):
        present = values.dropna()
        if bool((np.isfinite(present) & (present % 1 == 0)).all()):
            values = values.astype("Int64")  # 3.0 -> "3": floats here are usually ints with nulls
    return values.astype("str")


def _to_category(values: pd.Series, column: str) -> pd.Series:
    return _to_text(values, column).astype("category")


_COERCERS: dict[ColumnKind, Callable[[pd.Series, str], pd.Series]] = {
    ColumnKind.NUMERIC: _to_numeric,
    ColumnKind.INTEGER: _to_integer,
    ColumnKind.BOOLEAN: _to_boolean,
    ColumnKind.DATETIME: _to_datetime,
    ColumnKind.CATEGORICAL: _to_category,
    ColumnKind.TEXT: _to_text,
}
