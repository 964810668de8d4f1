"""The drift statistics agree with scipy on real data (exactly while the sketch holds every
value; within the documented KLL error past that)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial import distance

from modelcycle.monitoring._sketch import CategorySketch, NumericSketch
from modelcycle.monitoring._stats import category_scores, numeric_scores


def _numeric(values: np.ndarray) -> NumericSketch:
    sketch = NumericSketch("x")
    sketch.update(pa.array(values))
    return sketch


def _halves(table: pa.Table, seed: int) -> tuple[pa.Table, pa.Table]:
    order = np.random.default_rng(seed).permutation(table.num_rows)
    half = table.num_rows // 2
    return table.take(order[:half]), table.take(order[half:])


@pytest.mark.parametrize("column", ["mean radius", "worst area", "mean concavity"])
def test_small_sample_statistics_equal_scipy(cancer: pa.Table, column: str, seed: int) -> None:
    ref, cur = (part.column(column).to_numpy() for part in _halves(cancer, seed))
    cur = cur * 1.05  # some difference, so the statistics are not all near zero
    scores = numeric_scores(_numeric(ref), _numeric(cur))
    expected = stats.ks_2samp(ref, cur, method="asymp")
    assert scores["ks_statistic"] == pytest.approx(expected.statistic, abs=1e-12)
    assert scores["ks_p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert scores["wasserstein"] == pytest.approx(stats.wasserstein_distance(ref, cur), rel=1e-9)
    assert scores["wasserstein_normed"] == pytest.approx(
        stats.wasserstein_distance(ref, cur) / np.std(ref), rel=1e-9
    )


@pytest.mark.parametrize("column", ["price", "carat", "depth"])
def test_large_sample_statistics_within_the_sketch_error(diamonds: pa.Table, column: str) -> None:
    values = diamonds.column(column).to_numpy().astype(float)
    ref = np.concatenate([values, values * 1.01])  # 108k values: KLL is past exact mode
    cur = values * 1.1 + 0.05 * values.std()
    ours = numeric_scores(_numeric(ref), _numeric(cur))
    ks = stats.ks_2samp(ref, cur, method="asymp").statistic
    assert abs(ours["ks_statistic"] - ks) <= 0.006  # twice the k=1024 rank-error bound
    normed = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert ours["wasserstein_normed"] == pytest.approx(normed, rel=0.02, abs=0.002)


def test_numeric_sketch_merges_like_one_pass(diamonds: pa.Table) -> None:
    values = diamonds.column("table").to_numpy().astype(float)  # 127 distinct values
    whole = _numeric(values)
    parts = _numeric(values[:20_000]).merge(_numeric(values[20_000:]))
    assert (parts.n, parts.low, parts.high) == (whole.n, whole.low, whole.high)
    assert parts.mean == pytest.approx(values.mean()) and parts.std == pytest.approx(values.std())
    probe = _numeric(values[:5_000] + 0.5)
    assert numeric_scores(parts, probe)["ks_statistic"] == pytest.approx(
        numeric_scores(whole, probe)["ks_statistic"], abs=0.006
    )


def _categories(values: pa.Array) -> CategorySketch:
    sketch = CategorySketch("c")
    sketch.update(values)
    return sketch


def test_category_statistics_equal_scipy(diamonds: pa.Table, seed: int) -> None:
    ref_table, cur_table = _halves(diamonds, seed)
    cur = cur_table.filter(pa.compute.greater(cur_table["price"], 2000)).column("clarity")
    ref = ref_table.column("clarity")
    scores = category_scores(_categories(ref), _categories(cur))
    labels = sorted(set(ref.to_pylist()))
    ref_counts = np.array([ref.to_pylist().count(label) for label in labels], float)
    cur_counts = np.array([cur.to_pylist().count(label) for label in labels], float)
    expected = stats.chisquare(cur_counts, ref_counts / ref_counts.sum() * cur_counts.sum())
    assert scores["chisquare_statistic"] == pytest.approx(expected.statistic, rel=1e-9)
    assert scores["chisquare_p_value"] == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)
    assert scores["jensenshannon"] == pytest.approx(
        distance.jensenshannon(ref_counts, cur_counts), rel=1e-9
    )
    assert scores["cohen_w"] == pytest.approx(np.sqrt(expected.statistic / cur_counts.sum()))


def test_a_new_category_is_drift_with_finite_statistics() -> None:
    ref = _categories(pa.array(["a", "b"] * 500))
    cur = _categories(pa.array(["a", "b", "c"] * 300))
    scores = category_scores(ref, cur)
    assert scores["chisquare_p_value"] < 1e-6
    assert all(np.isfinite(value) for value in scores.values())


def test_categories_past_the_limit_are_counted_as_overflow() -> None:
    sketch = CategorySketch("c", max_categories=3)
    sketch.update(pa.array(["a", "b", "c", "d", "e", "a", None]))
    assert sketch.counts == {"a": 2, "b": 1, "c": 1}
    assert (sketch.overflow, sketch.nulls, sketch.n, sketch.rows) == (2, 1, 6, 7)


@pytest.mark.parametrize("statistic", [0.001, 0.004, 0.01, 0.05])
def test_large_sample_ks_p_value_is_the_kolmogorov_limit(statistic: float) -> None:
    from modelcycle.monitoring._stats import ks_p_value

    exact = stats.kstwo.sf(statistic, 500_000)
    assert ks_p_value(statistic, 1_000_000, 1_000_000) == pytest.approx(exact, rel=0.02, abs=1e-300)
