"""The cleaning steps as estimators, and the :class:`Cleaner` that chains them.

Each step config of a :class:`~modelcycle.data._cleaning.CleaningSpec` has an estimator here
(the type coercer in :mod:`~modelcycle.data._cleaning_coerce`, the outlier step in
:mod:`~modelcycle.data._cleaning_outliers`) whose keyword-only parameters
are the config's fields, stored unchanged. Steps that learn statistics (imputation values,
outlier bounds, an isolation forest) learn them in ``fit`` and keep them in attributes ending
in ``_``: a pipeline fits them on the training split and applies exactly the same to
validation, test and serving data.

``transform`` returns a new frame (the input is never modified) and a
:class:`~modelcycle.data._cleaning.StepReport`. The base class
(:class:`~modelcycle.data._cleaning_base.CleaningStep`) counts rows itself
(``rows_dropped = rows_in - rows_out``), so no step can drop a row uncounted; a step only says
why. Everything is column-wise pandas/numpy: no Python loop ever runs per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from modelcycle.data._cleaning import (
    BaseStepConfig,
    CleaningReport,
    CleaningSpec,
    CoerceConfig,
    DuplicatesConfig,
    MissingConfig,
    OutliersConfig,
    StepConfig,
    StepReport,
)
from modelcycle.data._cleaning_base import (
    CleaningStep,
    _check_columns,
    _check_numeric,
    _each,
    _is_numeric,
    _median,
    _numeric_columns,
    _row_hashes,
    _rows,
)
from modelcycle.data._cleaning_coerce import TypeCoercer
from modelcycle.data._cleaning_outliers import OutlierHandler
from modelcycle.errors import InvalidValueError, invalid_value

__all__ = [
    "Cleaner",
    "CleaningStep",
    "DuplicateRemover",
    "MissingHandler",
    "OutlierHandler",
    "TypeCoercer",
    "clean",
    "step_for",
]


def _plain(value: Any) -> Any:
    """A JSON-friendly Python value from a numpy or pandas scalar."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if isinstance(value, np.generic) else value


class DuplicateRemover(CleaningStep):
    """Drop exact duplicate rows, or rows whose ``subset`` columns repeat an earlier key.

    Nulls compare equal to nulls. Rows are first grouped by a 64-bit row hash and only rows
    sharing a hash are compared exactly, which is many times faster than comparing every
    row of a wide frame.
    """

    config_type = DuplicatesConfig

    def __init__(
        self, *, subset: list[str] | None = None, keep: Literal["first", "last"] = "first"
    ) -> None:
        self.subset = subset
        self.keep = keep

    def _fit(self, df: pd.DataFrame) -> None:
        _check_columns(df, self.subset or [], "duplicates.subset")
        self.columns_ = list(self.subset) if self.subset else []

    def _apply(self, df: pd.DataFrame, report: StepReport) -> pd.DataFrame:
        columns = self.columns_ or list(df.columns)
        _check_columns(df, columns, "duplicates.subset")
        report.columns = columns
        keys = df[columns]
        hashes = _row_hashes(keys)
        ordered = np.sort(hashes)
        repeated = ordered[1:][ordered[1:] == ordered[:-1]]
        duplicated = np.zeros(len(df), dtype=bool)
        if repeated.size:
            candidates = np.isin(hashes, repeated)
            duplicated[candidates] = keys[candidates].duplicated(keep=self.keep).to_numpy()
        report.reason = (
            f"duplicate key ({', '.join(columns)}), kept the {self.keep}"
            if self.columns_
            else f"exact duplicate rows, kept the {self.keep}"
        )
        return _rows(df, ~duplicated)


class MissingHandler(CleaningStep):
    """Handle nulls in ``columns`` (None: every column with nulls in the fit frame).

    ``drop_rows`` drops rows with a null in any of the columns (None: in any column);
    ``drop_column`` drops the columns whose null share in the fit frame exceeds
    ``max_null_share`` (default 0: any null); ``mean``/``median`` (numeric columns; None picks
    the numeric ones), ``mode`` and ``constant`` fill nulls with a value learned from the fit
    frame (or ``value``); a nullable integer column filled with a fraction becomes Float64.
    ``indicator`` adds an int8 ``<col>_missing`` column (1 where the value was null) per
    imputed or dropped column; indicator columns are fixed at fit, so every split gets the same.
    """

    config_type = MissingConfig

    def __init__(
        self,
        *,
        columns: list[str] | None = None,
        strategy: Literal["drop_rows", "drop_column", "mean", "median", "mode", "constant"],
        value: bool | float | str | None = None,
        indicator: bool = False,
        max_null_share: float | None = None,
    ) -> None:
        self.columns = columns
        self.strategy = strategy
        self.value = value
        self.indicator = indicator
        self.max_null_share = max_null_share

    def _fit(self, df: pd.DataFrame) -> None:
        self.columns_ = self._resolve(df)
        self.statistics_: dict[str, Any] = {}
        self.drop_columns_: list[str] = []
        if self.strategy == "drop_column":
            shares = df[self.columns_].isna().mean()
            limit = self.max_null_share or 0.0
            self.drop_columns_ = [c for c in self.columns_ if shares[c] > limit]
        elif self.strategy != "drop_rows":
            self.statistics_ = self._learn(df)
        flagged = self.drop_columns_ if self.strategy == "drop_column" else self.columns_
        self.indicator_columns_ = list(flagged) if self.indicator else []

    def _resolve(self, df: pd.DataFrame) -> list[str]:
        if self.columns is not None:
            _check_columns(df, self.columns, "missing.columns")
            if self.strategy in ("mean", "median"):
                _check_numeric(
                    df, self.columns, "missing.columns", f"strategy {self.strategy} needs numbers"
                )
            return list(self.columns)
        if self.strategy == "drop_rows":
            return list(df.columns)
        counts = df.isna().sum()
        with_nulls = [c for c in df.columns if counts[c] > 0]
        if self.strategy in ("mean", "median"):
            return _numeric_columns(df, with_nulls)
        return with_nulls

    def _learn(self, df: pd.DataFrame) -> dict[str, Any]:
        if not self.columns_:
            return {}
        frame = df[self.columns_]
        learned: dict[str, Any]
        if self.strategy == "mean":
            learned = frame.mean().to_dict()
        elif self.strategy == "median":
            medians = _each(_median, [frame[c] for c in self.columns_], len(frame))
            learned = dict(zip(self.columns_, medians, strict=True))
            slow = [c for c, value in learned.items() if value is None]
            learned |= frame[slow].median().to_dict() if slow else {}
        elif self.strategy == "mode":
            learned = {c: _mode(frame[c]) for c in self.columns_}
        else:
            learned = {c: _constant_for(frame[c], self.value, c) for c in self.columns_}
        for column, value in learned.items():
            if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
                raise invalid_value(
                    "missing.columns",
                    column,
                    f"the column has no values to learn a {self.strategy} from",
                )
        return learned

    def _apply(self, df: pd.DataFrame, report: StepReport) -> pd.DataFrame:
        _check_columns(df, self.columns_, "missing.columns")
        report.columns = self.columns_
        nulls = df[self.columns_].isna()
        counts = {c: int(n) for c, n in nulls.sum().items() if n}
        indicators = self._indicators(df, nulls)
        if self.strategy == "drop_rows":
            report.rows_flagged = counts
            report.reason = f"null in {', '.join(counts) or 'the columns'}"
            out = _rows(df, ~nulls.any(axis=1).to_numpy())
        elif self.strategy == "drop_column":
            report.columns_dropped = list(self.drop_columns_)
            report.settings = {"max_null_share": self.max_null_share or 0.0}
            out = df.drop(columns=self.drop_columns_)
        else:
            report.imputed = counts
            report.fill_values = {c: _plain(self.statistics_[c]) for c in counts}
            pairs = [(df[c], self.statistics_[c]) for c in counts]
            filled = _each(lambda pair: _filled(*pair), pairs, len(df))
            out = df.assign(**dict(zip(counts, filled, strict=True)))
        report.indicators_added = list(indicators)
        return out.assign(**indicators) if indicators else out

    def _indicators(self, df: pd.DataFrame, nulls: pd.DataFrame) -> dict[str, pd.Series]:
        made = {}
        for column in self.indicator_columns_:
            name = f"{column}_missing"
            if name in df.columns:
                raise invalid_value("missing.indicator", name, "a column of that name exists")
            made[name] = nulls[column].astype("int8")
        return made


def _mode(series: pd.Series) -> Any:
    modes = series.mode(dropna=True)
    return modes.iloc[0] if len(modes) else None


def _constant_for(series: pd.Series, value: Any, column: str) -> Any:
    """``value`` checked (and for dates parsed) against the column's type."""
    dtype = series.dtype
    setting = f"missing.value for column {column!r}"
    if _is_numeric(series) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise invalid_value(setting, value, f"the column is numeric ({dtype})")
    if pd.api.types.is_bool_dtype(dtype) and not isinstance(value, bool):
        raise invalid_value(setting, value, "the column is boolean")
    if isinstance(dtype, pd.StringDtype) and not isinstance(value, str):
        raise invalid_value(setting, value, "the column holds strings: quote the value")
    if pd.api.types.is_datetime64_any_dtype(dtype):
        try:
            if not isinstance(value, str):
                raise TypeError(value)
            return pd.Timestamp(value)
        except (TypeError, ValueError):
            raise invalid_value(setting, value, "the column holds dates: give ISO 8601") from None
    return value


def _filled(series: pd.Series, value: Any) -> pd.Series:
    """``series.fillna(value)``, a NumPy float column filled by ``np.where`` (several times
    faster than pandas' masked ``where``); integer columns filled with a fraction become
    Float64, categories gain the value."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if series.dtype == np.float64 and number:
        values = series.to_numpy()
        filled = np.where(np.isnan(values), value, values)
        return pd.Series(filled, index=series.index, name=series.name, copy=False)
    if pd.api.types.is_integer_dtype(series.dtype) and not float(value).is_integer():
        series = series.astype("Float64")
    if isinstance(series.dtype, pd.CategoricalDtype) and value not in series.cat.categories:
        series = series.cat.add_categories([value])
    return series.fillna(value)


_STEPS: dict[type[BaseStepConfig], type[CleaningStep]] = {
    DuplicatesConfig: DuplicateRemover,
    MissingConfig: MissingHandler,
    OutliersConfig: OutlierHandler,
    CoerceConfig: TypeCoercer,
}


def step_for(config: StepConfig) -> CleaningStep:
    """A fresh, unfitted estimator for one step config (looked up by the config's class)."""
    return _STEPS[type(config)](**{k: v for k, v in config if k != "type"})


class Cleaner:
    """Chain the steps of a :class:`CleaningSpec`: fit on training data, transform any data.

    Each step is fitted on the output of the steps before it, so statistics are learned from
    the data as it will look when the step runs. ``transform`` applies the fitted steps
    unchanged (a test frame is imputed with the training medians, clipped at the training
    bounds).

    >>> cleaner = Cleaner(CleaningSpec.from_dict({"steps": [{"type": "duplicates"}]}))
    >>> cleaned, report = cleaner.fit_transform(pd.DataFrame({"a": [1, 1, 2]}))
    >>> report.rows_dropped
    1
    """

    def __init__(self, spec: CleaningSpec | Mapping[str, Any]) -> None:
        self.spec = spec

    def get_params(self) -> dict[str, Any]:
        """The parameters, as given."""
        return {"spec": self.spec}

    def fit(self, df: pd.DataFrame) -> Cleaner:
        """Fit every step on ``df`` as transformed by the steps before it."""
        self.fit_transform(df)
        return self

    def fit_transform(self, df: pd.DataFrame) -> tuple[pd.DataFrame, CleaningReport]:
        """Fit on ``df`` and return it cleaned, in one pass."""
        spec = (
            self.spec if isinstance(self.spec, CleaningSpec) else CleaningSpec.from_dict(self.spec)
        )
        self.spec_ = spec
        self.steps_ = [step_for(config) for config in spec.steps]
        return self._run(df, fitting=True)

    def transform(self, df: pd.DataFrame) -> tuple[pd.DataFrame, CleaningReport]:
        """Apply the fitted steps to ``df`` (left unchanged) and report what changed."""
        if not hasattr(self, "steps_"):
            raise InvalidValueError("Cleaner is not fitted: call fit(df) first")
        return self._run(df, fitting=False)

    def _run(self, df: pd.DataFrame, *, fitting: bool) -> tuple[pd.DataFrame, CleaningReport]:
        current, reports = df, []
        for index, (config, step) in enumerate(zip(self.spec_.steps, self.steps_, strict=True)):
            try:
                if fitting:
                    step.fit(current)
                current, report = step.transform(current)
            except InvalidValueError as exc:
                raise type(exc)(f"cleaning steps[{index}] ({config.type}): {exc.message}") from None
            reports.append(report)
        out = current if current is not df else df.copy(deep=False)
        return out, CleaningReport(
            rows_in=len(df),
            rows_out=len(out),
            columns_in=df.shape[1],
            columns_out=out.shape[1],
            steps=reports,
        )


def clean(
    df: pd.DataFrame, spec: CleaningSpec | Mapping[str, Any]
) -> tuple[pd.DataFrame, CleaningReport]:
    """Fit the spec's steps on ``df`` and apply them to it: ``Cleaner(spec).fit_transform(df)``."""
    return Cleaner(spec).fit_transform(df)
