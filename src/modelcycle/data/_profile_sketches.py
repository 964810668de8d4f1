"""The running accumulators behind a dataset profile, and the small models they fill in.

:mod:`modelcycle.data._profile` holds the snapshots (:class:`ColumnProfile`,
:class:`DatasetProfile`), their queries and :func:`profile_table`; this module holds what those
are computed from: exact moments and extremes (:class:`_Numbers`), exact value counts that spill
into HLL and frequent-items sketches past 100 distinct values (:class:`_Distinct`), and the
quantile, CDF and histogram queries over exact counts or a KLL sketch (:class:`_Distribution`).
The sketch parameters below set the error bounds listed in ``_profile``'s module docstring.

It is a module of its own so that the snapshot models read as one idea and the sketch
bookkeeping as another; it never imports ``_profile`` (which imports it), so the summary models
the accumulators build (:class:`Histogram`, :class:`NumericSummary`, :class:`CategorySummary`)
and the stored :class:`SketchState` live here and are re-exported from ``_profile``.
"""

from __future__ import annotations

import base64
import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import datasketches as ds
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from modelcycle.data._profile_bulk import hll_registers, hll_sketch, kll_sketch

__all__ = ["QUANTILES", "CategorySummary", "Histogram", "NumericSummary", "SketchState"]

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
_KLL_K, _HLL_LG_K, _FREQUENT_LG = 128, 11, 7
_EXACT_LIMIT, _PROBE, _TOP_K, _BINS = 100, 400, 20, 20
_BULK = 2_048  # from this many values (distinct keys) on, sketches are fed in bulk (_profile_bulk)
_HEAVY = ds.frequent_items_error_type.NO_FALSE_POSITIVES


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Histogram(_Frozen):
    """Counts of values in bins ``[edges[i], edges[i+1])``, the last bin closed."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]


class NumericSummary(_Frozen):
    """Statistics of the finite values of a numeric column (of the lengths, for text)."""

    min: float
    max: float
    mean: float
    std: float | None
    zeros: int
    infinite: int
    quantiles: dict[str, float]
    histogram: Histogram


class CategorySummary(_Frozen):
    """Up to 20 ``top`` categories by count, the count of all ``other`` values, and whether the
    counts are ``exact``. Past 100 categories, only those the frequent-items sketch vouches for
    (more frequent than its error) are listed, with estimated counts."""

    top: tuple[tuple[str, int], ...]
    other: int
    exact: bool


class SketchState(_Frozen):
    """What merging and later queries need: exact moments and extremes (epoch microseconds for
    datetimes); exact value counts while at most 100 distinct values, else HLL and, for
    categories, frequent items; KLL of the numbers. Sketches are base64 DataSketches bytes."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    low: float | int | None = None
    high: float | int | None = None
    zeros: int = 0
    infinite: int = 0
    kll: str | None = None
    values: tuple[tuple[float | int | str, int], ...] | None = None
    hll: str | None = None
    frequent: str | None = None


def _strings(values: pa.Array) -> pa.Array:
    """The values as Arrow strings (labels of any type are counted as their text)."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes:
    return base64.b64decode(text or "")


class _Distribution:
    """Quantiles, CDF and bin counts: from exact value counts when kept, else from KLL."""

    def __init__(self, n: int, kll: str | None, exact: Sequence[tuple[Any, int]] | None) -> None:
        self.n = n
        self.kll = ds.kll_doubles_sketch.deserialize(_unb64(kll)) if exact is None and n else None
        self.values = np.array([value for value, _ in exact or ()], float)
        self.cumulative = np.cumsum([count for _, count in exact or ()], dtype=float)

    def quantiles(self, qs: Sequence[float]) -> list[float]:
        if self.kll is not None:
            return [float(x) for x in self.kll.get_quantiles(list(qs), inclusive=True)]
        at = np.searchsorted(self.cumulative, np.asarray(qs, float) * self.n, side="left")
        return [float(x) for x in self.values[np.minimum(at, self.values.size - 1)]]

    def cdf(self, points: np.ndarray, inclusive: bool) -> np.ndarray:
        """Share of values ``<=`` (inclusive) or ``<`` each point."""
        if self.kll is None:
            at = np.searchsorted(self.values, points, side="right" if inclusive else "left")
            return np.concatenate([[0.0], self.cumulative])[at] / max(self.n, 1)
        unique, back = np.unique(points, return_inverse=True)
        return np.asarray(self.kll.get_cdf(unique.tolist(), inclusive=inclusive)[:-1])[back]

    def histogram(self, edges: np.ndarray) -> Histogram:
        below = self.cdf(edges, inclusive=False)
        below[-1] = self.cdf(edges[-1:], inclusive=True)[0]
        counts = np.rint(np.diff(below) * self.n).astype(int)
        return Histogram(edges=tuple(edges.tolist()), counts=tuple(counts.tolist()))


class _Numbers:
    """Exact moments (Chan's parallel update), extremes and zeros, plus KLL, of finite values."""

    def __init__(self, state: SketchState) -> None:
        self.n, self.mean, self.m2 = state.n, state.mean, state.m2
        self.low = math.inf if state.low is None else float(state.low)
        self.high = -math.inf if state.high is None else float(state.high)
        self.zeros, self.infinite = state.zeros, state.infinite
        self.kll = ds.kll_doubles_sketch(_KLL_K)
        if state.kll:
            self.kll = ds.kll_doubles_sketch.deserialize(_unb64(state.kll))
        self.rng = np.random.default_rng(0)  # offsets of the bulk-built sketches' compactions

    def update(self, ordered: np.ndarray, infinite: int = 0) -> None:
        """Add sorted finite values, and count ``infinite`` values (not summarised)."""
        self.infinite += infinite
        if not ordered.size:
            return
        mean = float(ordered.mean())
        deviations = ordered - mean
        deviations *= deviations  # in place: one temporary, not two
        m2 = float(deviations.sum())
        zeros = int(np.searchsorted(ordered, 0.0, "right") - np.searchsorted(ordered, 0.0))
        self._add(ordered.size, mean, m2, float(ordered[0]), float(ordered[-1]), zeros)
        if ordered.size < _BULK:
            self.kll.update(ordered)
        else:  # the sketch of the sorted chunk, merged: a fraction of the cost of updates
            self.kll.merge(kll_sketch(ordered, _KLL_K, self.rng))

    def merge(self, other: _Numbers) -> None:
        if other.n:
            self._add(other.n, other.mean, other.m2, other.low, other.high, other.zeros)
            self.kll.merge(other.kll)
        self.infinite += other.infinite

    def _add(self, n: int, mean: float, m2: float, low: float, high: float, zeros: int) -> None:
        total = self.n + n
        delta = mean - self.mean
        self.mean += delta * (n / total)
        self.m2 += m2 + delta * delta * (self.n * n / total)
        self.n = total
        self.low, self.high = min(self.low, low), max(self.high, high)
        self.zeros += zeros

    def state(self) -> dict[str, Any]:
        if not self.n:
            return {"infinite": self.infinite}
        names = ("n", "mean", "m2", "low", "high", "zeros", "infinite")
        return {name: getattr(self, name) for name in names} | {"kll": _b64(self.kll.serialize())}

    def summary(self, dist: _Distribution, integer: bool) -> NumericSummary | None:
        if not self.n:
            return None
        if self.low == self.high:
            edges = np.array([self.low - 0.5, self.high + 0.5])
        elif integer and self.high - self.low < _BINS:  # one bin per integer
            edges = np.arange(self.low, self.high + 2.0) - 0.5
        else:
            edges = np.linspace(self.low, self.high, _BINS + 1)
        std = math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else None
        names = (f"p{round(q * 100)}" for q in QUANTILES)
        quantiles = dict(zip(names, dist.quantiles(QUANTILES), strict=True))
        return NumericSummary(
            min=self.low,
            max=self.high,
            mean=self.mean,
            std=std,
            zeros=self.zeros,
            infinite=self.infinite,
            quantiles=quantiles,
            histogram=dist.histogram(edges),
        )


class _Distinct:
    """Exact value counts while at most 100 distinct values, then HLL (plus frequent items
    for categories); the switch happens once and carries every value seen so far. Numbers
    past that go into HLL registers in bulk (``bulk``), folded into the sketch when read."""

    def __init__(self, frequencies: bool, state: SketchState) -> None:
        self.frequencies = frequencies
        self.counts = None if state.values is None else dict(state.values)
        self.hll = ds.hll_sketch.deserialize(_unb64(state.hll)) if state.hll else None
        self.bulk: np.ndarray | None = None
        self.frequent = None
        if state.frequent:
            self.frequent = ds.frequent_strings_sketch.deserialize(_unb64(state.frequent))

    def update(self, keys: np.ndarray | pa.Array) -> None:
        """Add non-missing keys: a sorted NumPy array of numbers (float64, or int64 for
        datetimes), or an Arrow array of labels, counted as their text."""
        if isinstance(keys, np.ndarray):
            self._update_sorted(keys)
            return
        probe = self.counts is not None and len(keys) > _PROBE
        if probe and len(pc.unique(keys[:_PROBE])) > _EXACT_LIMIT:
            self._spill()  # spill early, skip exact counting
        if self.counts is not None or self.frequencies:
            counted = pc.value_counts(keys)  # then only the distinct values become text
            self._add(_strings(counted.field(0)).to_pylist(), counted.field(1).to_pylist())
        else:  # text and ids past 100 values: mostly distinct, deduplicating would not pay
            self._add(_strings(keys).to_numpy(zero_copy_only=False).tolist(), [])

    def _update_sorted(self, ordered: np.ndarray) -> None:
        if not ordered.size:
            return
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        unique = ordered[starts]
        if self.counts is not None and unique.size <= _EXACT_LIMIT:
            counts = np.diff(np.append(starts, ordered.size))
            self._add(unique.tolist(), counts.tolist())
            return
        if self.counts is not None:
            self._spill()
        if unique.size < _BULK:
            self._add(unique.tolist(), [])
        else:
            self.bulk = hll_registers(unique, _HLL_LG_K, self.bulk)

    def _fold(self) -> None:
        """Union the bulk registers into the HLL sketch."""
        if self.bulk is None:
            return
        union = ds.hll_union(_HLL_LG_K)
        union.update(self.hll)
        union.update(hll_sketch(self.bulk, _HLL_LG_K))
        self.hll, self.bulk = union.get_result(ds.tgt_hll_type.HLL_8), None

    def merge(self, other: _Distinct) -> None:
        if other.counts is not None:
            self._add(list(other.counts), list(other.counts.values()))
            return
        if self.counts is not None:
            self._spill()
        self._fold()
        other._fold()
        union = ds.hll_union(_HLL_LG_K)
        union.update(self.hll)
        union.update(other.hll)
        self.hll = union.get_result(ds.tgt_hll_type.HLL_8)
        if self.frequent is not None:
            self.frequent.merge(other.frequent)

    def _add(self, values: list[Any], counts: list[int]) -> None:
        if self.counts is None:
            deque(map(self.hll.update, values), maxlen=0)  # type: ignore[union-attr]
            if self.frequent is not None:
                deque(map(self.frequent.update, values, counts), maxlen=0)
            return
        for value, count in zip(values, counts, strict=True):
            self.counts[value] = self.counts.get(value, 0) + count
        if len(self.counts) > _EXACT_LIMIT:
            self._spill()

    def _spill(self) -> None:
        counts, self.counts = self.counts or {}, None
        self.hll = ds.hll_sketch(_HLL_LG_K, ds.tgt_hll_type.HLL_8)
        if self.frequencies:
            self.frequent = ds.frequent_strings_sketch(_FREQUENT_LG)
        self._add(list(counts), list(counts.values()))

    def count(self) -> tuple[int, bool]:
        if self.counts is not None:
            return len(self.counts), True
        self._fold()
        return (round(self.hll.get_estimate()) if self.hll else 0), False

    def state(self) -> dict[str, Any]:
        if self.counts is not None:
            return {"values": tuple(sorted(self.counts.items()))}
        self._fold()
        union = ds.hll_union(_HLL_LG_K)
        union.update(self.hll)
        hll = _b64(union.get_result(ds.tgt_hll_type.HLL_4).serialize_compact())
        return {"hll": hll, "frequent": self.frequent and _b64(self.frequent.serialize())}

    def categories(self, count: int) -> CategorySummary:
        if self.counts is not None:
            pairs = list(self.counts.items())
        else:
            items = self.frequent.get_frequent_items(_HEAVY)  # type: ignore[union-attr]
            pairs = [(item, int(estimate)) for item, estimate, _, _ in items]
        top = tuple((str(v), int(n)) for v, n in sorted(pairs, key=lambda p: (-p[1], p[0])))
        other = max(count - sum(n for _, n in top[:_TOP_K]), 0)
        return CategorySummary(top=top[:_TOP_K], other=other, exact=self.counts is not None)
