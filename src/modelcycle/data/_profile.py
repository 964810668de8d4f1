"""Dataset profiles: per-column statistics computed chunk by chunk, mergeable, stored as JSON.

A :class:`DatasetProfile` is what ``modelcycle data profile`` shows and what a model version
keeps as its drift reference: monitoring compares traffic with the stored profile and never
reads the training data again (a peer recomputes its reference on every run, evidently#506).

Why sketches: a profile is computed in one pass over chunks, must merge (partitions, days of
traffic: ``profile(A).merge(profile(B))`` equals ``profile(A + B)`` within the error below) and
must stay small enough to live beside every model, yet answer questions nobody asked at
profiling time, such as a histogram on a drift test's own bin edges. Exact answers need all the
data; Apache DataSketches give them from a few KB per column with documented error bounds:

    KLL, k=128              quantiles, CDF, histograms   rank error <= 2.1% (99% confidence)
    HLL, lg_k=11            distinct count               relative error ~2.3% (one std)
    frequent items, 2^7     top categories, counts       error <= 2.7% of all values

A column with at most 100 distinct values keeps exact value counts instead, so its distinct
count, frequencies, quantiles and histograms are exact (those are the columns drift tests
branch on); past 100 it moves to the sketches for good. Count, nulls, min, max, zeros, mean and
standard deviation are computed from every value: mean and variance merge with Chan's formulas.
Each chunk is processed with Arrow compute and NumPy. A chunk of numbers is sorted once
(vectorised, without the GIL), which gives its extremes, zeros and distinct values; from 2,048
values on, its KLL sketch and its distinct values' HLL registers are built in bulk, in the
sketches' own binary format (:mod:`._profile_bulk`), instead of one DataSketches call per
value. So columns are profiled on several cores at once. Strings past 100 distinct values
still feed HLL one value per call. Missing means null or NaN; numeric statistics cover finite
values and count the infinite ones.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

import datasketches as ds
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ValidationError

from modelcycle.data._profile_sketches import (
    _HEAVY,
    Histogram,
    _Distinct,
    _Distribution,
    _Frozen,
    _Numbers,
    _strings,
    _unb64,
)
from modelcycle.data._profile_sketches import QUANTILES as QUANTILES
from modelcycle.data._profile_sketches import CategorySummary as CategorySummary
from modelcycle.data._profile_sketches import NumericSummary as NumericSummary
from modelcycle.data._profile_sketches import SketchState as SketchState
from modelcycle.data._schema import ColumnKind, Schema, infer_schema
from modelcycle.errors import DataError, InvalidValueError, NotFoundError, invalid_value

__all__ = ["ColumnProfile", "DatasetProfile", "Histogram", "profile_table"]

_NUMBERS = (ColumnKind.NUMERIC, ColumnKind.INTEGER)
_LABELS = (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN)
_Model = TypeVar("_Model", bound=BaseModel)


class ColumnProfile(_Frozen):
    """One column's statistics: a JSON-serialisable snapshot that can keep merging.

    ``numeric`` is set for numeric and integer columns, ``lengths`` for text, ``categories``
    for categorical and boolean columns, ``time_range`` (first, last as ISO 8601) for
    datetimes; id columns have count, nulls and distinct only.
    """

    name: str
    kind: ColumnKind
    count: int
    nulls: int
    distinct: int
    distinct_exact: bool
    numeric: NumericSummary | None = None
    lengths: NumericSummary | None = None
    categories: CategorySummary | None = None
    time_range: tuple[str, str] | None = None
    state: SketchState

    @property
    def null_share(self) -> float:
        """Missing values as a share of all rows (0 for an empty column)."""
        return self.nulls / (self.count + self.nulls) if self.count + self.nulls else 0.0

    def quantiles(self, qs: Sequence[float]) -> list[float]:
        """Values at normalized ranks ``qs``: the smallest value with at least a share q of the
        values at or below it; exact, or within KLL's rank error. NaN for an empty column."""
        if any(not 0.0 <= q <= 1.0 for q in qs):
            raise invalid_value(f"quantiles of column {self.name!r}", list(qs), "need 0 <= q <= 1")
        dist = self._distribution()
        return dist.quantiles(qs) if dist.n else [math.nan] * len(qs)

    def cdf(self, values: Sequence[float]) -> list[float]:
        """Share of values at or below each of ``values``."""
        dist = self._distribution()
        if not dist.n:
            return [math.nan] * len(values)
        return [float(x) for x in dist.cdf(np.asarray(values, float), inclusive=True)]

    def histogram(self, edges: Sequence[float]) -> Histogram:
        """Counts in the bins ``edges`` (finite, strictly increasing; values outside them are not
        counted, as in ``numpy.histogram``): a drift reference on any chosen bins."""
        bounds = np.asarray(edges, float)
        if bounds.size < 2 or not (np.all(np.diff(bounds) > 0) and np.all(np.isfinite(bounds))):
            why = "need at least two finite, strictly increasing edges"
            raise invalid_value(f"histogram edges of column {self.name!r}", list(edges), why)
        return self._distribution().histogram(bounds)

    def frequencies(self) -> dict[str, int]:
        """Category -> count, exact while at most 100 categories; past that, the estimated
        counts of the categories more frequent than the frequent-items sketch's error."""
        if self.kind not in _LABELS:
            raise invalid_value(f"column {self.name!r}", self.kind.value, "not categorical")
        if self.state.values is not None:
            return {str(value): count for value, count in self.state.values}
        sketch = ds.frequent_strings_sketch.deserialize(_unb64(self.state.frequent))
        return {item: int(n) for item, n, _, _ in sketch.get_frequent_items(_HEAVY)}

    def merge(self, other: ColumnProfile) -> ColumnProfile:
        """The profile of both columns' values together."""
        if other.name != self.name:
            raise InvalidValueError(f"cannot merge column {other.name!r} into {self.name!r}")
        if other.kind != self.kind:
            raise InvalidValueError(
                f"cannot merge profiles of column {self.name!r}: it is {self.kind.value} in "
                f"one and {other.kind.value} in the other"
            )
        merged = _Column.thaw(self)
        merged.merge(_Column.thaw(other))
        return merged.freeze()

    def to_dict(self) -> dict[str, Any]:
        """JSON form (sketches as base64); :meth:`from_dict` reads it back exactly."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnProfile:
        """Inverse of :meth:`to_dict`."""
        return _validated(cls, data)

    def _distribution(self) -> _Distribution:
        if self.kind not in (*_NUMBERS, ColumnKind.TEXT):
            raise invalid_value(f"column {self.name!r}", self.kind.value, "not numeric")
        exact = self.state.values if self.kind in _NUMBERS else None
        return _Distribution(self.state.n, self.state.kll, exact)


class DatasetProfile(_Frozen):
    """A table's profile: rows, Arrow memory size, one :class:`ColumnProfile` per column."""

    format_version: Literal[1] = 1
    rows: int
    memory_bytes: int
    columns: tuple[ColumnProfile, ...]

    @property
    def names(self) -> list[str]:
        """Column names in order."""
        return [column.name for column in self.columns]

    def __getitem__(self, name: str) -> ColumnProfile:
        for column in self.columns:
            if column.name == name:
                return column
        raise NotFoundError(f"column {name!r} is not in the profile (columns: {self.names})")

    def merge(self, other: DatasetProfile) -> DatasetProfile:
        """The profile of both tables' rows together. Columns match by name (the result keeps
        this profile's order) and must be the same, of the same kinds, in both."""
        odd = [n for n in self.names if n not in other.names]
        odd += [n for n in other.names if n not in self.names]
        if odd:
            raise InvalidValueError(f"cannot merge profiles: column {odd[0]!r} is in only one")
        return DatasetProfile(
            rows=self.rows + other.rows,
            memory_bytes=self.memory_bytes + other.memory_bytes,
            columns=tuple(column.merge(other[column.name]) for column in self.columns),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``json.dumps(profile.to_dict())`` stores it."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetProfile:
        """Inverse of :meth:`to_dict`: a stored profile keeps merging and answering queries."""
        return _validated(cls, data)


def _validated(model: type[_Model], data: dict[str, Any]) -> _Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise DataError(f"invalid profile: {where}: {first['msg']}") from None


class _Column:
    """The running profile of one column: fed chunk by chunk, merged, frozen to a snapshot."""

    def __init__(self, name: str, kind: ColumnKind, state: SketchState | None = None) -> None:
        state = state or SketchState(values=())
        self.name, self.kind = name, kind
        self.count = self.nulls = 0
        self.numbers = _Numbers(state) if kind in (*_NUMBERS, ColumnKind.TEXT) else None
        self.distinct = _Distinct(kind in _LABELS, state)
        self.low, self.high = state.low, state.high  # datetimes, as epoch microseconds

    @classmethod
    def thaw(cls, profile: ColumnProfile) -> _Column:
        column = cls(profile.name, profile.kind, profile.state)
        column.count, column.nulls = profile.count, profile.nulls
        return column

    def update(self, chunk: pa.Array) -> None:
        """Add one chunk of the column's values."""
        if self.numbers is not None and self.kind in _NUMBERS:
            values = _floats(self.name, chunk)
            ordered = values[np.isfinite(values)]
            ordered.sort()  # in place: NumPy's vectorised sort, without the GIL
            present = values.size - int(np.count_nonzero(np.isnan(values)))
            self._counted(values.size, present)
            self.numbers.update(ordered, present - ordered.size)
            self.distinct.update(ordered)
        elif self.kind is ColumnKind.DATETIME:
            micros = np.sort(_micros(self.name, chunk).drop_null().to_numpy())
            self._counted(len(chunk), micros.size)
            if micros.size:
                self._extend(int(micros[0]), int(micros[-1]))
            self.distinct.update(micros)
        else:  # labels and text: the distinct values are counted before they become text
            keys = chunk.drop_null() if chunk.null_count else chunk
            self._counted(len(chunk), len(keys))
            if self.numbers is not None:  # text: statistics of the lengths
                lengths = pc.utf8_length(_strings(keys)).to_numpy(zero_copy_only=False)
                self.numbers.update(np.sort(lengths.astype(float)))
            self.distinct.update(keys)

    def _counted(self, rows: int, present: int) -> None:
        self.count, self.nulls = self.count + present, self.nulls + rows - present

    def _extend(self, low: Any, high: Any) -> None:
        self.low = low if self.low is None else min(self.low, low)
        self.high = high if self.high is None else max(self.high, high)

    def merge(self, other: _Column) -> None:
        self._counted(other.count + other.nulls, other.count)
        if self.numbers is not None and other.numbers is not None:
            self.numbers.merge(other.numbers)
        self.distinct.merge(other.distinct)
        if other.low is not None and self.numbers is None:
            self._extend(other.low, other.high)

    def freeze(self) -> ColumnProfile:
        """The snapshot of everything seen so far."""
        state = self.distinct.state()
        if self.numbers is not None:
            state |= self.numbers.state()
        elif self.low is not None:
            state |= {"low": self.low, "high": self.high}
        sketch = SketchState(**state)
        distinct, exact = self.distinct.count()
        fields: dict[str, Any] = {}
        if self.numbers is not None:
            values = sketch.values if self.kind in _NUMBERS else None
            summary = self.numbers.summary(
                _Distribution(sketch.n, sketch.kll, values), self.kind is ColumnKind.INTEGER
            )
            fields["numeric" if self.kind in _NUMBERS else "lengths"] = summary
        elif self.kind in _LABELS:
            fields["categories"] = self.distinct.categories(self.count)
        elif self.kind is ColumnKind.DATETIME and self.low is not None:
            fields["time_range"] = (_iso(self.low), _iso(self.high))
        return ColumnProfile(
            name=self.name,
            kind=self.kind,
            count=self.count,
            nulls=self.nulls,
            distinct=min(distinct, self.count),  # an estimate can overshoot
            distinct_exact=exact,
            state=sketch,
            **fields,
        )


def _iso(micros: Any) -> str:
    """ISO 8601 without a zero fraction or a midnight time: 2014-01-23, 2014-01-23T10:00:00."""
    text = str(np.datetime64(int(micros), "us")).removesuffix(".000000")
    return text.removesuffix("T00:00:00")


def _floats(name: str, chunk: pa.Array) -> np.ndarray:
    """The chunk as float64, NaN where missing."""
    try:
        chunk = chunk if chunk.type == pa.float64() else pc.cast(chunk, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        why = str(exc).splitlines()[0]
        raise DataError(f"column {name!r}: cannot read values as numbers: {why}") from None
    return np.asarray(chunk.to_numpy(zero_copy_only=False), dtype=float)


def _micros(name: str, chunk: pa.Array) -> pa.Array:
    """The chunk as int64 microseconds since the epoch (UTC for time-zone-aware data)."""
    kind = chunk.type
    try:
        if pa.types.is_timestamp(kind):
            return pc.cast(pc.cast(chunk, pa.timestamp("us", tz=kind.tz)), pa.int64())
        text = _strings(chunk) if pa.types.is_dictionary(kind) else chunk
        return pc.cast(pc.cast(text, pa.timestamp("us")), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        why = str(exc).splitlines()[0]
        raise DataError(f"column {name!r}: cannot read values as datetimes: {why}") from None


def profile_table(
    table: pa.Table,
    schema: Schema | None = None,
    *,
    chunk_rows: int = 65_536,
    threads: int | None = None,
) -> DatasetProfile:
    """Profile ``table`` chunk by chunk, ``chunk_rows`` rows at a time.

    Column kinds come from ``schema``; columns it does not declare are inferred. The result
    merges with profiles of other rows of the same columns and round-trips through JSON (see
    the module docstring for what is exact and what is a sketch estimate). Columns are
    profiled ``threads`` at a time (default: one per core this process may use): the work is
    NumPy sorting and hashing and Arrow compute, which release the GIL, and each column is
    profiled on its own, so the number of threads changes only the time it takes.

    >>> profile = profile_table(pa.table({"x": [1.0, 2.0, None]}))
    >>> profile["x"].count, profile["x"].nulls, profile["x"].numeric.mean
    (2, 1, 1.5)
    """
    if chunk_rows < 1:
        raise invalid_value("chunk_rows", chunk_rows, "must be at least 1")
    if threads is not None and threads < 1:
        raise invalid_value("threads", threads, "must be at least 1")
    kinds = _kinds(table, schema)

    def profile(index: int) -> ColumnProfile:
        column = _Column(table.column_names[index], kinds[table.column_names[index]])
        for chunk in _chunks(table.column(index), chunk_rows):
            column.update(chunk)
        return column.freeze()

    workers = min(threads or _cores(), table.num_columns)
    if workers <= 1:
        columns = [profile(index) for index in range(table.num_columns)]
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="profile") as pool:
            columns = list(pool.map(profile, range(table.num_columns)))
    return DatasetProfile(rows=table.num_rows, memory_bytes=table.nbytes, columns=tuple(columns))


def _chunks(column: pa.ChunkedArray, rows: int) -> Iterator[pa.Array]:
    """The column in arrays of ``rows`` values (the last one shorter), whatever its own
    chunking (a CSV read in small blocks has hundreds of chunks): only a slice that spans
    chunks is copied, ``rows`` values at a time."""
    for start in range(0, len(column), rows):
        piece = column.slice(start, rows)
        yield piece.chunk(0) if piece.num_chunks == 1 else piece.combine_chunks()


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _kinds(table: pa.Table, schema: Schema | None) -> dict[str, ColumnKind]:
    names = table.column_names
    if len(set(names)) != len(names):
        raise DataError(f"duplicate column name {next(n for n in names if names.count(n) > 1)!r}")
    declared = schema.kinds() if schema is not None else {}
    missing = [name for name in declared if name not in names]
    if missing:
        raise DataError(f"column {missing[0]!r} is in the schema but not in the data")
    if all(name in declared for name in names):
        return declared
    return infer_schema(table, schema).kinds()
