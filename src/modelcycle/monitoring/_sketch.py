"""Mergeable, serialisable per-column sketches: the state a drift check compares.

A drift reference is summarised once, chunk by chunk, and stored; every later check reads the
stored sketch and never the reference rows again (a peer recomputes its reference on every
run, evidently#506). Both sides of a check use the same sketches, so a current window can
also be built chunk by chunk, merged across partitions, and kept.

:class:`NumericSketch` keeps, over the finite values, exact count, mean, variance (Chan's
parallel update), minimum and maximum; exact value counts while at most 100 distinct values;
and a KLL quantile sketch (Apache DataSketches, ``k = 1024`` by default). KLL keeps every value
until it holds about ``k`` of them, so small samples are exact. Past that, its normalized rank
error is at most ~0.3% at 99% confidence for ``k = 1024`` (DataSketches' published bound
``2.296 / k**0.9723``; ~2% for the data stage's ``k = 128`` profiles). That bounds the error of
everything computed from it: a KS statistic is off by at most twice the rank error, a PSI bin
share by the rank error, and a Wasserstein distance by the rank error times the spread of the
values it moves (measured against scipy on real data in ``tests/monitoring``). Each chunk is
sorted once (NumPy, GIL released) and turned into a KLL sketch in bulk by the data stage's
:func:`~modelcycle.data._profile_bulk.kll_sketch`, then merged with DataSketches' own merge.

:class:`CategorySketch` keeps exact counts per category (labels as text). A category past
``max_categories`` distinct values is counted in ``overflow`` (never dropped silently): the
tests treat the overflow as one more category.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import datasketches as ds
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelcycle.data._profile_bulk import kll_sketch
from modelcycle.errors import DataError

__all__ = ["CategorySketch", "NumericSketch", "Sketch", "sketch_from_dict"]

KLL_K = 1024
_EXACT_LIMIT = 100
_BULK = 2_048
OVERFLOW = "(other categories)"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class NumericSketch:
    """Moments, extremes, exact counts of up to 100 distinct values, and KLL, of one column."""

    kind = "numeric"

    def __init__(self, name: str, k: int = KLL_K) -> None:
        self.name, self.k = name, k
        self.n = self.nulls = self.infinite = 0
        self.mean = self.m2 = 0.0
        self.low, self.high = math.inf, -math.inf
        self.values: dict[float, int] | None = {}
        self.kll = ds.kll_doubles_sketch(k)
        self._rng = np.random.default_rng(0)
        self._cached: tuple[np.ndarray, np.ndarray] | None = None  # distribution(), until fed

    def update(self, chunk: pa.Array | pa.ChunkedArray) -> None:
        """Add one chunk of the column's values (nulls and NaN counted as missing)."""
        self._cached = None
        values = _floats(self.name, chunk)
        mask = np.isfinite(values)
        if mask.all():  # the common case: one sorted copy, no filtering
            finite = np.sort(values)
        else:
            finite = np.sort(values[mask])
            missing = int(np.count_nonzero(np.isnan(values)))
            self.nulls += missing
            self.infinite += values.size - missing - finite.size
        if not finite.size:
            return
        mean = float(finite.mean())
        deviations = finite - mean
        self._add(finite.size, mean, float(np.dot(deviations, deviations)))
        self.low, self.high = min(self.low, float(finite[0])), max(self.high, float(finite[-1]))
        if finite.size < _BULK:
            self.kll.update(finite)
        else:
            self.kll.merge(kll_sketch(finite, self.k, self._rng))
        if self.values is not None:
            changes = finite[1:] != finite[:-1]
            if np.count_nonzero(changes) >= _EXACT_LIMIT:  # more than 100 distinct: stop early
                self.values = None
                return
            starts = np.flatnonzero(np.concatenate(([True], changes)))
            counts = np.diff(np.append(starts, finite.size))
            self._count(dict(zip(finite[starts].tolist(), counts.tolist(), strict=True)))

    def _add(self, n: int, mean: float, m2: float) -> None:
        total = self.n + n
        delta = mean - self.mean
        self.mean += delta * (n / total)
        self.m2 += m2 + delta * delta * (self.n * n / total)
        self.n = total

    def _count(self, counts: dict[float, int]) -> None:
        if self.values is None:
            return
        for value, count in counts.items():
            self.values[value] = self.values.get(value, 0) + count
        if len(self.values) > _EXACT_LIMIT:
            self.values = None

    def merge(self, other: NumericSketch) -> NumericSketch:
        """Add ``other``'s values (the sketch of both columns' values); returns ``self``."""
        self._cached = None
        self.nulls += other.nulls
        self.infinite += other.infinite
        if other.n:
            self._add(other.n, other.mean, other.m2)
            self.low, self.high = min(self.low, other.low), max(self.high, other.high)
            self.kll.merge(other.kll)
            self.values = None if other.values is None else self.values
            self._count(other.values or {})
        return self

    @property
    def std(self) -> float:
        """Population standard deviation (``ddof=0``, as ``numpy.std``) of the finite values."""
        return math.sqrt(self.m2 / self.n) if self.n else 0.0

    @property
    def rows(self) -> int:
        """Values seen, missing ones included."""
        return self.n + self.nulls + self.infinite

    def distribution(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted distinct values and their weights: exact while counted, else KLL's retained
        items with their weights (which add up to ``n``)."""
        if self._cached is None:
            self._cached = self._distribution()
        return self._cached

    def _distribution(self) -> tuple[np.ndarray, np.ndarray]:
        if self.values is not None:
            items = np.array(sorted(self.values), float)
            return items, np.array([self.values[v] for v in items.tolist()], float)
        if not self.n:
            return np.empty(0), np.empty(0)
        pairs = np.array(list(self.kll), float)
        order = np.argsort(pairs[:, 0], kind="stable")
        return pairs[order, 0], pairs[order, 1]

    def to_dict(self) -> dict[str, Any]:
        """JSON form; :func:`sketch_from_dict` reads it back exactly."""
        return {
            "kind": self.kind,
            "name": self.name,
            "k": self.k,
            "n": self.n,
            "nulls": self.nulls,
            "infinite": self.infinite,
            "mean": self.mean,
            "m2": self.m2,
            "low": self.low if self.n else None,
            "high": self.high if self.n else None,
            "values": None if self.values is None else sorted(self.values.items()),
            "kll": _b64(self.kll.serialize()),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericSketch:
        """Inverse of :meth:`to_dict`."""
        sketch = cls(data["name"], int(data["k"]))
        sketch.n, sketch.nulls, sketch.infinite = data["n"], data["nulls"], data["infinite"]
        sketch.mean, sketch.m2 = float(data["mean"]), float(data["m2"])
        if sketch.n:
            sketch.low, sketch.high = float(data["low"]), float(data["high"])
        values = data["values"]
        sketch.values = None if values is None else {float(v): int(c) for v, c in values}
        sketch.kll = ds.kll_doubles_sketch.deserialize(base64.b64decode(data["kll"]))
        return sketch


class CategorySketch:
    """Exact counts per category (as text) of one column, up to ``max_categories`` of them."""

    kind = "categorical"

    def __init__(self, name: str, max_categories: int = 1000) -> None:
        self.name, self.max_categories = name, max_categories
        self.counts: dict[str, int] = {}
        self.nulls = self.overflow = 0

    def update(self, chunk: pa.Array | pa.ChunkedArray) -> None:
        """Add one chunk of the column's values (labels of any type count as their text)."""
        self.nulls += chunk.null_count
        if chunk.null_count == len(chunk):
            return
        counted = pc.value_counts(chunk.drop_null() if chunk.null_count else chunk)
        labels = counted.field(0)
        if pa.types.is_dictionary(labels.type):
            labels = labels.dictionary_decode()
        if not pa.types.is_string(labels.type):
            labels = pc.cast(labels, pa.string())
        self._count(zip(labels.to_pylist(), counted.field(1).to_pylist(), strict=True))

    def _count(self, pairs: Any) -> None:
        for label, count in pairs:
            if label in self.counts or len(self.counts) < self.max_categories:
                self.counts[label] = self.counts.get(label, 0) + count
            else:
                self.overflow += count

    def merge(self, other: CategorySketch) -> CategorySketch:
        """Add ``other``'s counts; returns ``self``."""
        self.nulls += other.nulls
        self.overflow += other.overflow
        self._count(other.counts.items())
        return self

    @property
    def n(self) -> int:
        """Non-missing values seen."""
        return sum(self.counts.values()) + self.overflow

    @property
    def rows(self) -> int:
        """Values seen, missing ones included."""
        return self.n + self.nulls

    def frequencies(self) -> dict[str, int]:
        """Category -> count, with the overflow as one more category when there is one."""
        return self.counts | ({OVERFLOW: self.overflow} if self.overflow else {})

    def to_dict(self) -> dict[str, Any]:
        """JSON form; :func:`sketch_from_dict` reads it back exactly."""
        return {
            "kind": self.kind,
            "name": self.name,
            "max_categories": self.max_categories,
            "nulls": self.nulls,
            "overflow": self.overflow,
            "counts": self.counts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategorySketch:
        """Inverse of :meth:`to_dict`."""
        sketch = cls(data["name"], int(data["max_categories"]))
        sketch.nulls, sketch.overflow = int(data["nulls"]), int(data["overflow"])
        sketch.counts = {str(k): int(v) for k, v in data["counts"].items()}
        return sketch


Sketch = NumericSketch | CategorySketch


def sketch_from_dict(data: dict[str, Any]) -> Sketch:
    """A sketch from its JSON form (either kind)."""
    if data.get("kind") == "numeric":
        return NumericSketch.from_dict(data)
    if data.get("kind") == "categorical":
        return CategorySketch.from_dict(data)
    raise DataError(f"invalid drift reference: column sketch of unknown kind {data.get('kind')!r}")


def _floats(name: str, chunk: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The chunk as float64, NaN where missing.

    Read from the Arrow buffers with ``numpy.frombuffer`` (no copy when the column is float64
    without nulls) rather than ``to_numpy``: pyarrow's ``to_numpy`` imports pandas (~60 MB of
    resident memory) even for a zero-copy float column, which a drift check does not need."""
    if isinstance(chunk, pa.ChunkedArray):
        parts = [_floats(name, part) for part in chunk.chunks]
        return parts[0] if len(parts) == 1 else np.concatenate([np.empty(0), *parts])
    try:
        if chunk.type != pa.float64():
            chunk = pc.cast(chunk, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        why = str(exc).splitlines()[0]
        raise DataError(f"column {name!r}: cannot read values as numbers: {why}") from None
    validity, data = chunk.buffers()
    if data is None:  # Arrow lets a producer omit the values of an empty or all-null array
        return np.full(len(chunk), np.nan)
    values = np.frombuffer(data, np.float64, len(chunk), chunk.offset * 8)
    if not chunk.null_count:
        return values
    bits = np.frombuffer(validity, np.uint8)
    valid = np.unpackbits(bits, count=chunk.offset + len(chunk), bitorder="little")
    return np.where(valid[chunk.offset :].astype(bool), values, np.nan)
