"""The base class of the cleaning steps and the small helpers every step shares.

:class:`CleaningStep` gives each step the estimator shape (``fit`` returns ``self``, learned
state in attributes ending in ``_``) and counts the rows a step drops itself. It lives apart
from the steps so that steps in modules of their own (:mod:`._cleaning_coerce`) and the
registry in :mod:`._cleaning_steps` can both import it without importing each other.

The column kernels below give the steps exactly the numbers and frames pandas gives, for the
NumPy-backed number columns a large table is made of, at a fraction of the cost, one column
per core (:func:`_each`; NumPy releases the GIL). :func:`_median` and :func:`_quantiles`
select one rank at a time, each within what the previous selection left above it: NumPy's
vectorised selection serves one rank per call, and asked for several at once (as
``np.percentile`` and ``np.median`` ask) it falls back to a scalar loop several times slower.
:func:`_clip_column` writes the bounds where values are outside instead of pandas' masked
``where``. :func:`_row_hashes` is the duplicate finder's first pass: a 64-bit hash per row
from the columns' raw 8-byte values (factorised codes for the others), several times cheaper
than ``pandas.util.hash_pandas_object``; only rows sharing a hash are compared exactly.
"""

from __future__ import annotations

import abc
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd
from pydantic import ValidationError

from modelcycle.data._cleaning import BaseStepConfig, StepReport
from modelcycle.errors import InvalidValueError, invalid_value

__all__ = ["CleaningStep"]

_S = TypeVar("_S", bound="CleaningStep")
_T = TypeVar("_T")
_R = TypeVar("_R")
_PARALLEL_ROWS = 100_000  # below this many rows a column's work is too short to share out


def _check_columns(df: pd.DataFrame, columns: list[str], setting: str) -> None:
    known = set(df.columns)
    for column in columns:
        if column not in known:
            shown = ", ".join(map(str, list(df.columns)[:20]))
            raise invalid_value(setting, column, f"no such column (the data has: {shown})")


def _each(function: Callable[[_T], _R], items: Sequence[_T], rows: int) -> list[_R]:
    """``[function(item) for item in items]``, one thread per core when the columns are long:
    the work per column is NumPy selection and element-wise passes, which release the GIL."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min(cores or 1, len(items))
    if workers < 2 or rows < _PARALLEL_ROWS:
        return [function(item) for item in items]
    with ThreadPoolExecutor(workers, thread_name_prefix="cleaning") as pool:
        return list(pool.map(function, items))


def _numbers(series: pd.Series) -> np.ndarray[Any, Any] | None:
    """A copy of the non-missing values of a NumPy float64 or int64 column; None otherwise."""
    dtype = series.dtype
    if not isinstance(dtype, np.dtype) or dtype.kind not in "fi" or dtype.itemsize != 8:
        return None
    values: np.ndarray[Any, Any] = series.to_numpy()
    present: np.ndarray[Any, Any] = (
        values[~np.isnan(values)] if dtype.kind == "f" else np.array(values, copy=True)
    )
    return present


def _select(values: np.ndarray[Any, Any], ranks: list[int]) -> dict[int, Any]:
    """The order statistics at ``ranks`` (sorted, distinct), partitioning ``values`` in place
    one rank at a time; a rank right after the previous one is the minimum of what is left
    (swapped into its place, so that later ranks select from the values above it)."""
    found: dict[int, Any] = {}
    start = 0
    for rank in ranks:
        if rank == start and rank - 1 in found:
            smallest = start + int(values[start:].argmin())
            values[[start, smallest]] = values[[smallest, start]]
        else:
            values[start:].partition(rank - start)
        found[rank] = values[rank]
        start = rank + 1
    return found


def _median(series: pd.Series) -> float | None:
    """``series.median()`` of a NumPy number column, None for other columns or no values."""
    values = _numbers(series)
    if values is None or not values.size:
        return None
    half = values.size // 2
    if values.size % 2:
        return float(_select(values, [half])[half])
    found = _select(values, [half - 1, half])
    return float(np.mean(np.array([found[half - 1], found[half]])))


def _quantiles(series: pd.Series, qs: list[float]) -> list[float] | None:
    """``series.quantile(qs)`` (linear interpolation) of a NumPy number column, None for other
    columns or no values: NumPy's virtual index ``(n - 1) * q`` and interpolation, exactly."""
    values = _numbers(series)
    if values is None or not values.size:
        return None
    last = values.size - 1
    spans = []
    for q in qs:
        virtual = last * q
        below = last if virtual >= last else math.floor(virtual)
        spans.append((below, min(below + 1, last), virtual - (-1 if virtual >= last else below)))
    found = _select(values, sorted({rank for low, high, _ in spans for rank in (low, high)}))
    return [float(_lerp(found[low], found[high], gamma)) for low, high, gamma in spans]


def _lerp(a: Any, b: Any, t: float) -> Any:
    """NumPy's interpolation between neighbouring order statistics (``_lerp``)."""
    difference = b - a
    return b - difference * (1 - t) if t >= 0.5 else a + difference * t


_ROW_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_SPLITMIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def _row_hashes(frame: pd.DataFrame) -> np.ndarray[Any, Any]:
    """A 64-bit hash of each row: rows that are duplicates for pandas (nulls equal to nulls)
    always hash alike, other rows almost never do. Each half of the columns is hashed on a
    core of its own, then the two halves are combined."""
    columns = [frame.iloc[:, index] for index in range(frame.shape[1])]
    half = (len(columns) + 1) // 2
    hashes = np.zeros(len(frame), np.uint64)
    halves = [part for part in (columns[:half], columns[half:]) if part]
    for part in _each(_chain, halves, len(frame)):
        hashes ^= part
        hashes *= _ROW_MULTIPLIER
    for shift, multiplier in zip((30, 27), _SPLITMIX, strict=True):  # splitmix64's finaliser
        hashes ^= hashes >> np.uint64(shift)
        hashes *= multiplier
    hashes ^= hashes >> np.uint64(31)
    return hashes


def _chain(columns: list[pd.Series]) -> np.ndarray[Any, Any]:
    """The columns' keys (at least one column) folded row by row: xor, then multiply by an
    odd constant."""
    hashes = np.zeros(len(columns[0]), np.uint64)
    for values in columns:
        hashes ^= _column_keys(values)
        hashes *= _ROW_MULTIPLIER
    return hashes


def _column_keys(values: pd.Series) -> np.ndarray[Any, Any]:
    """Equal values (nulls included) to equal 64-bit keys: the bits of a NumPy number, with
    one zero and one NaN; factorised codes for every other type."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        numbers = values.to_numpy(dtype=np.float64) + 0.0  # a copy, and -0.0 becomes 0.0
        numbers[np.isnan(numbers)] = np.nan
        return numbers.view(np.uint64)
    if isinstance(dtype, np.dtype) and dtype.kind in "iubmM":
        return values.to_numpy().astype(np.int64).view(np.uint64)
    codes, _ = pd.factorize(values)  # every null gets code -1
    return codes.astype(np.int64).view(np.uint64)


def _is_flag(values: pd.Series) -> bool:
    """True for a column with at most two distinct values (0/1 flags, indicator columns)."""
    low, high = values.min(), values.max()
    if pd.isna(low):
        return True
    if isinstance(values.dtype, np.dtype):  # NaN is never between the two
        array = values.to_numpy()
        return not bool(np.any((array > low) & (array < high)))
    return bool(((values == low) | (values == high) | values.isna()).all())


def _clip_column(work: tuple[pd.Series, Any, Any]) -> tuple[dict[str, int], pd.Series | None]:
    """The counts of values below and above the bounds, and ``values.clip(low, high)`` (None
    when nothing is outside); a NumPy column by writing the bounds where it is outside."""
    values, low, high = work
    plain = _plain_numbers(values, low, high)
    array = values.to_numpy() if plain else values
    below, above = _mask(array < low), _mask(array > high)
    counts = {"low": int(np.count_nonzero(below)), "high": int(np.count_nonzero(above))}
    if not (counts["low"] or counts["high"]):
        return counts, None
    if not plain:
        return counts, values.clip(low, high)
    clipped = np.array(array, copy=True)
    clipped[below] = low
    clipped[above] = high
    return counts, pd.Series(clipped, index=values.index, name=values.name, copy=False)


def _plain_numbers(values: pd.Series, low: float, high: float) -> bool:
    """A NumPy number column that holds the bounds without changing type."""
    kind = values.dtype.kind if isinstance(values.dtype, np.dtype) else ""
    return kind == "f" or (kind == "i" and isinstance(low, int) and isinstance(high, int))


def _fences(values: pd.Series, k: float) -> tuple[float, float]:
    """``[q1 - k*IQR, q3 + k*IQR]`` of the column's non-missing values (pandas' quartiles)."""
    quartiles = _quantiles(values, [0.25, 0.75])
    q1, q3 = quartiles if quartiles is not None else values.quantile([0.25, 0.75]).tolist()
    return float(q1 - k * (q3 - q1)), float(q3 + k * (q3 - q1))


def _mask(flags: pd.Series | np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A plain boolean array; unknown (null) counts as False."""
    if isinstance(flags, np.ndarray):
        return flags
    return flags.to_numpy(dtype=bool, na_value=False)


def _rows(df: pd.DataFrame, keep: np.ndarray[Any, Any]) -> pd.DataFrame:
    """The rows of ``df`` where ``keep`` is True (index labels kept, so rows stay traceable)."""
    if keep.all():
        return df  # no copy of a frame that loses nothing
    kept: pd.DataFrame = df.loc[keep]
    return kept


class CleaningStep(abc.ABC):
    """A cleaning step with the estimator shape: ``fit(df) -> self``, ``transform(df)``.

    Subclasses store their keyword-only parameters unchanged (named like their config's
    fields), learn in ``_fit`` and change the frame in ``_apply``, filling in the report.
    """

    config_type: ClassVar[type[BaseStepConfig]]

    def get_params(self) -> dict[str, Any]:
        """The parameters, as given."""
        return {
            name: getattr(self, name) for name in self.config_type.model_fields if name != "type"
        }

    def config(self) -> BaseStepConfig:
        """The parameters validated as this step's config (raises on incoherent settings)."""
        try:
            return self.config_type(**self.get_params())
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join([type(self).__name__, *map(str, first["loc"])])
            message = str(first["msg"]).removeprefix("Value error, ")
            raise InvalidValueError(f"{where}: {message}") from None

    def fit(self: _S, df: pd.DataFrame) -> _S:
        """Check the frame against the parameters and learn what the step needs."""
        self.config()
        self._fit(df)
        return self

    def transform(self, df: pd.DataFrame) -> tuple[pd.DataFrame, StepReport]:
        """The cleaned frame (``df`` itself is left unchanged) and what changed."""
        if not hasattr(self, "columns_"):
            raise InvalidValueError(f"{type(self).__name__} is not fitted: call fit(df) first")
        report = StepReport(step=self.config().model_dump(mode="json"), rows_in=len(df))
        out = self._apply(df, report)
        if out is df:  # a frame of its own: changing it must never change the caller's
            out = df.copy(deep=False)
        report.rows_out = len(out)
        report.rows_dropped = report.rows_in - report.rows_out
        if not report.rows_dropped:
            report.reason, report.rows_flagged = "", {}
        return out, report

    def fit_transform(self, df: pd.DataFrame) -> tuple[pd.DataFrame, StepReport]:
        """``fit(df)`` then ``transform(df)``."""
        return self.fit(df).transform(df)

    @abc.abstractmethod
    def _fit(self, df: pd.DataFrame) -> None:
        """Learn from ``df``; must set ``columns_``."""

    @abc.abstractmethod
    def _apply(self, df: pd.DataFrame, report: StepReport) -> pd.DataFrame:
        """Return the changed frame; record reasons and per-column changes in ``report``."""


def _is_numeric(series: pd.Series) -> bool:
    dtype = series.dtype
    return bool(pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))


def _numeric_columns(df: pd.DataFrame, candidates: list[str]) -> list[str]:
    """The candidates whose kind is numeric or integer (so not ids, booleans or labels)."""
    import pyarrow as pa

    from modelcycle.data._schema import ColumnKind, infer_schema

    numeric = [c for c in candidates if _is_numeric(df[c])]
    if not numeric:
        return []
    # kinds only need the types (and the distinct counts of id-like integer columns): NumPy
    # columns go to Arrow as they are, without turning NaN into nulls
    arrays = [
        pa.array(df[c].to_numpy(), from_pandas=False)
        if isinstance(df[c].dtype, np.dtype)
        else pa.Array.from_pandas(df[c])
        for c in numeric
    ]
    kinds = infer_schema(pa.table(arrays, names=[str(c) for c in numeric])).kinds()
    return [c for c in numeric if kinds[str(c)] in (ColumnKind.NUMERIC, ColumnKind.INTEGER)]


def _check_numeric(df: pd.DataFrame, columns: list[str], setting: str, why: str) -> None:
    for column in columns:
        if not _is_numeric(df[column]):
            raise invalid_value(
                setting,
                column,
                f"column {column!r} is {df[column].dtype}, not numeric; {why} (coerce it first)",
            )
