"""Tail probabilities of the two large-sample drift tests, in plain ``math``.

Why not scipy: ``import scipy.stats`` adds about 60 MB of resident memory (and ``scipy.special``
alone about 20 MB) to a process whose drift check over 100,000 rows x 25 columns otherwise
peaks near 130 MB, a quarter of Evidently's; and past ``small_sample`` reference rows these
p-values are only reported beside the effect size that decides the verdict. Both distributions
have short closed forms that are exact to rounding, so they are computed here and compared with
scipy over a grid in ``tests/monitoring/test_pvalues.py`` (relative difference below 1e-9):

- :func:`kolmogorov_sf`: the Kolmogorov distribution's survival function (scipy's
  ``kstwobign.sf``, i.e. ``scipy.special.kolmogorov``), by the same two series scipy's Cephes
  code uses: the theta-function form of the CDF below ``x = 0.82`` and the alternating series
  ``2 sum (-1)^(k-1) exp(-2 k^2 x^2)`` above it.
- :func:`chi2_sf`: the chi-squared survival function for a whole number of degrees of freedom
  (scipy's ``chi2.sf``), the regularized upper incomplete gamma function ``Q(dof / 2, x / 2)``
  by its finite sums: ``exp(-y) sum_{i<m} y^i / i!`` for even ``dof = 2m`` and
  ``erfc(sqrt y) + sum_{i<m} exp(-y) y^(i+1/2) / Gamma(i+3/2)`` for odd ``dof = 2m + 1``, each
  term in log space so that neither huge statistics nor a thousand categories overflow.

The exact small-sample KS distribution (``kstwo``) has no such form; :mod:`._stats` imports
scipy for it, and only for it, when the samples are small.
"""

from __future__ import annotations

import math

__all__ = ["chi2_sf", "kolmogorov_sf"]

_CUTOVER = 0.82  # Cephes' switch between the two series of the Kolmogorov distribution
_EPSILON = 1e-17  # relative size of the last term kept


def kolmogorov_sf(x: float) -> float:
    """``P(K > x)`` for the Kolmogorov distribution (scipy's ``kstwobign.sf(x)``)."""
    if math.isnan(x):
        return math.nan
    if x <= 0:
        return 1.0
    if x <= _CUTOVER:
        # CDF = sqrt(2 pi) / x * sum_{k>=1} exp(-(2k-1)^2 pi^2 / (8 x^2))
        if x < 0.04:  # the CDF is below 1e-300: the tail is 1 to double precision
            return 1.0
        ln_q = -(math.pi**2) / (8 * x * x)
        total, k = 0.0, 1
        while True:
            term = math.exp(ln_q * (2 * k - 1) ** 2)
            total += term
            if term <= _EPSILON * total:
                break
            k += 1
        return 1.0 - math.sqrt(2 * math.pi) / x * total
    total, k, sign = 0.0, 1, 1.0
    while True:
        term = math.exp(-2.0 * k * k * x * x)
        total += sign * term
        if term <= _EPSILON * abs(total) or term == 0.0:
            break
        k, sign = k + 1, -sign
    return min(max(2.0 * total, 0.0), 1.0)


def chi2_sf(x: float, dof: int) -> float:
    """``P(X > x)`` for a chi-squared variable with ``dof`` (a whole number >= 1) degrees of
    freedom (scipy's ``chi2.sf(x, dof)``)."""
    if dof < 1 or int(dof) != dof:
        raise ValueError(f"degrees of freedom must be a whole number >= 1, not {dof!r}")
    if math.isnan(x):
        return math.nan
    if x <= 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    y, half = x / 2.0, dof // 2
    ln_y = math.log(y)
    if dof % 2 == 0:
        logs = [-y + i * ln_y - math.lgamma(i + 1) for i in range(half)]
        head = 0.0
    else:
        logs = [-y + (i + 0.5) * ln_y - math.lgamma(i + 1.5) for i in range(half)]
        head = math.erfc(math.sqrt(y))
    if not logs:
        return min(head, 1.0)
    top = max(logs)
    tail = math.exp(top) * math.fsum(math.exp(value - top) for value in logs)
    return min(head + tail, 1.0)
