"""The scipy-free tail probabilities of the large-sample drift tests equal scipy's."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from modelcycle.monitoring._pvalues import chi2_sf, kolmogorov_sf

_GRID = np.concatenate([np.linspace(0.01, 0.2, 39), np.linspace(0.2, 3, 561), [4, 6, 10, 20, 26]])


def test_kolmogorov_tail_equals_scipy_across_both_series() -> None:
    for x in _GRID.tolist():
        expected = stats.kstwobign.sf(x)
        assert kolmogorov_sf(x) == pytest.approx(expected, rel=1e-9, abs=1e-300), x


def test_kolmogorov_tail_at_the_edges() -> None:
    assert kolmogorov_sf(0.0) == kolmogorov_sf(-1.0) == 1.0
    assert kolmogorov_sf(0.82) == pytest.approx(stats.kstwobign.sf(0.82), rel=1e-12)
    assert kolmogorov_sf(40.0) == 0.0
    assert math.isnan(kolmogorov_sf(math.nan))


@pytest.mark.parametrize("dof", [1, 2, 3, 4, 7, 10, 11, 99, 100, 999, 1000])
def test_chi2_tail_equals_scipy_for_whole_degrees_of_freedom(dof: int) -> None:
    points = np.concatenate([[1e-9, 1e-3, 0.5], np.linspace(1, 4 * dof + 60, 200)])
    for x in [*points.tolist(), 10.0 * dof + 500]:
        expected = stats.chi2.sf(x, dof)
        assert chi2_sf(x, dof) == pytest.approx(expected, rel=1e-9, abs=1e-300), (x, dof)


def test_chi2_tail_of_huge_statistics_underflows_like_scipy() -> None:
    assert chi2_sf(1e5, 11) == pytest.approx(stats.chi2.sf(1e5, 11), abs=1e-300)
    assert chi2_sf(math.inf, 3) == 0.0
    assert chi2_sf(0.0, 3) == 1.0
    assert math.isnan(chi2_sf(math.nan, 3))


def test_chi2_refuses_degrees_of_freedom_that_are_not_whole() -> None:
    with pytest.raises(ValueError, match="whole number >= 1"):
        chi2_sf(1.0, 0)
    with pytest.raises(ValueError, match="whole number >= 1"):
        chi2_sf(1.0, 2.5)  # type: ignore[arg-type]
