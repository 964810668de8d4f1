"""The outlier step: clip or drop values outside IQR or z-score bounds, or the rows an
isolation forest calls anomalous (see :class:`OutlierHandler`); registered with the other
steps in :mod:`._cleaning_steps`."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import pandas as pd

from modelcycle.data._cleaning import OutliersConfig, StepReport
from modelcycle.data._cleaning_base import (
    CleaningStep,
    _check_columns,
    _check_numeric,
    _clip_column,
    _each,
    _fences,
    _is_flag,
    _mask,
    _numeric_columns,
    _rows,
)
from modelcycle.errors import invalid_value

__all__ = ["OutlierHandler"]


_DEFAULT_THRESHOLD: dict[str, float | str] = {"iqr": 1.5, "zscore": 3.0, "isolation_forest": "auto"}


class OutlierHandler(CleaningStep):
    """Clip or drop outlying values in ``columns``.

    ``columns`` None means the columns of numeric or integer kind that are not two-valued
    flags (an IQR of 0 would make every 1 of a mostly-0 flag an outlier); the report lists
    the columns chosen.

    ``iqr`` fences values outside ``[q1 - k*IQR, q3 + k*IQR]`` (``threshold`` k, default 1.5);
    ``zscore`` outside ``mean ± k*std`` (k default 3.0, population std). Bounds come from the
    fit frame. Integer columns are clipped to the nearest integers inside the bounds, so they
    stay integers. ``isolation_forest`` drops the rows a seeded
    :class:`sklearn.ensemble.IsolationForest` calls anomalous (``threshold`` is its
    contamination, default ``"auto"``). Nulls are never outliers.
    """

    config_type = OutliersConfig

    def __init__(
        self,
        *,
        columns: list[str] | None = None,
        method: Literal["iqr", "zscore", "isolation_forest"] = "iqr",
        threshold: float | None = None,
        action: Literal["clip", "drop"] = "clip",
        seed: int = 0,
    ) -> None:
        self.columns = columns
        self.method = method
        self.threshold = threshold
        self.action = action
        self.seed = seed

    def _fit(self, df: pd.DataFrame) -> None:
        if self.columns is None:
            numeric = _numeric_columns(df, list(df.columns))
            flags = _each(_is_flag, [df[c] for c in numeric], len(df))
            self.columns_ = [c for c, flag in zip(numeric, flags, strict=True) if not flag]
        else:
            _check_columns(df, self.columns, "outliers.columns")
            _check_numeric(
                df, self.columns, "outliers.columns", f"method {self.method} needs numbers"
            )
            self.columns_ = list(self.columns)
        self.threshold_ = (
            _DEFAULT_THRESHOLD[self.method] if self.threshold is None else self.threshold
        )
        self.bounds_: dict[str, tuple[float, float]] = {}
        self.forest_: Any = None
        if not self.columns_:
            return
        empty = [c for c, n in df[self.columns_].count().items() if n == 0]
        if empty:
            raise invalid_value("outliers.columns", empty[0], "the column has no values")
        if self.method == "isolation_forest":
            from sklearn.ensemble import IsolationForest

            forest = IsolationForest(contamination=self.threshold_, random_state=self.seed)
            self.forest_ = forest.fit(_matrix(df, self.columns_))
        else:
            self.bounds_ = self._bounds(df[self.columns_], float(self.threshold_))

    def _bounds(self, frame: pd.DataFrame, k: float) -> dict[str, tuple[float, float]]:
        if self.method == "iqr":
            fences = _each(lambda values: _fences(values, k), [frame[c] for c in frame], len(frame))
            return dict(zip(frame.columns, fences, strict=True))
        mean, std = frame.mean(), frame.std(ddof=0)
        low, high = mean - k * std, mean + k * std
        return {c: (float(low[c]), float(high[c])) for c in frame.columns}

    def _apply(self, df: pd.DataFrame, report: StepReport) -> pd.DataFrame:
        _check_columns(df, self.columns_, "outliers.columns")
        report.columns = list(self.columns_)
        report.settings = {"threshold": self.threshold_}
        if self.forest_ is not None:
            report.reason = f"isolation forest anomaly (contamination {self.threshold_})"
            if len(df) == 0:
                return df
            return _rows(df, self.forest_.predict(_matrix(df, self.columns_)) != -1)
        report.bounds = {c: [low, high] for c, (low, high) in self.bounds_.items()}
        if self.action == "clip":
            return self._clip(df, report)
        outside = {
            c: _mask((df[c] < low) | (df[c] > high))
            for c, (low, high) in self._typed_bounds(df).items()
        }
        report.rows_flagged = {c: int(m.sum()) for c, m in outside.items() if m.any()}
        report.reason = f"outside the {self.method} bounds (threshold {self.threshold_})"
        if not report.rows_flagged:
            return df
        return _rows(df, ~np.logical_or.reduce([outside[c] for c in report.rows_flagged]))

    def _clip(self, df: pd.DataFrame, report: StepReport) -> pd.DataFrame:
        bounds = self._typed_bounds(df)
        work = [(df[column], low, high) for column, (low, high) in bounds.items()]
        changed = {}
        results = _each(_clip_column, work, len(df))
        for column, (counts, clipped) in zip(bounds, results, strict=True):
            if clipped is not None:
                report.clipped[column] = counts
                changed[column] = clipped
        return df.assign(**changed) if changed else df

    def _typed_bounds(self, df: pd.DataFrame) -> dict[str, tuple[float, float]]:
        """The bounds, rounded inwards to integers for integer columns (which stay integers)."""
        typed: dict[str, tuple[float, float]] = {}
        for column, (low, high) in self.bounds_.items():
            if pd.api.types.is_integer_dtype(df[column].dtype) and math.ceil(low) <= high:
                typed[column] = (math.ceil(low), math.floor(high))
            else:
                typed[column] = (low, high)
        return typed


def _matrix(df: pd.DataFrame, columns: list[str]) -> np.ndarray[Any, Any]:
    matrix: np.ndarray[Any, Any] = df[columns].to_numpy(dtype="float64", na_value=np.nan)
    return matrix
