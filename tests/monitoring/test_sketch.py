"""A numeric sketch reads Arrow columns of every layout (nulls, sliced offsets, several chunks,
integers, all missing) as the values NumPy sees, without pyarrow's pandas-backed conversion."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from modelcycle.errors import DataError
from modelcycle.monitoring._sketch import NumericSketch, _floats


def _layouts(rng: np.random.Generator) -> dict[str, pa.Array | pa.ChunkedArray]:
    values = rng.normal(size=1_003)
    missing = rng.random(1_003) < 0.1
    with_nulls = pa.array(values, mask=missing)
    integers = pa.array(rng.integers(-50, 50, 1_003), mask=missing, type=pa.int32())
    return {
        "float64": pa.array(values),
        "float64 with nulls": with_nulls,
        "slice at an odd offset": with_nulls.slice(13, 700),
        "int32 with nulls, sliced": integers.slice(5),
        "float32": pa.array(values.astype(np.float32)),
        "boolean": pa.array(values > 0, mask=missing),
        "chunked": pa.chunked_array([with_nulls.slice(0, 400), with_nulls.slice(400)]),
        "no chunks": pa.chunked_array([], pa.float64()),
        "all null": pa.array([None] * 9, pa.float64()),
        "null type": pa.nulls(4),
    }


def test_floats_equal_numpy_for_every_layout(seed: int) -> None:
    for name, column in _layouts(np.random.default_rng(seed)).items():
        expected = np.asarray(column.to_numpy(zero_copy_only=False) if len(column) else [], float)
        got = _floats("x", column)
        assert got.dtype == np.float64, name
        np.testing.assert_array_equal(got, expected, err_msg=name)


def test_sketch_counts_missing_and_moments_on_sliced_nullable_columns(seed: int) -> None:
    column = _layouts(np.random.default_rng(seed))["slice at an odd offset"]
    values = np.asarray(column.to_numpy(zero_copy_only=False), float)
    sketch = NumericSketch("x")
    sketch.update(column)
    finite = values[~np.isnan(values)]
    assert (sketch.n, sketch.nulls) == (finite.size, column.null_count)
    assert sketch.mean == pytest.approx(finite.mean()) and sketch.std == pytest.approx(finite.std())
    assert (sketch.low, sketch.high) == (finite.min(), finite.max())


def test_a_column_that_is_not_numeric_is_refused_by_name() -> None:
    with pytest.raises(DataError, match="column 'city': cannot read values as numbers"):
        _floats("city", pa.array(["Paris", "Lyon"]))
