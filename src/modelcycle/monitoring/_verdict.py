"""Which test decides a column's drift, at which threshold, and the column's verdict.

Defaults follow Evidently's choice by column kind and reference size (``docs/monitoring.md``
puts the two side by side), with one difference that matters on large samples: past
``small_sample`` reference rows the verdict rests on an effect size (normalized Wasserstein
distance, Jensen-Shannon distance), never on a p-value, so a column does not drift merely
because a million rows make any difference significant (evidently#50). The p-value tests (KS,
chi-squared) decide only small samples, and every verdict reports its effect size beside the
p-value. Their p-values are adjusted across columns for the false discovery rate
(Benjamini-Hochberg), so that many correlated columns tested at 0.05 each do not flag a
random split of one data set (Evidently does not adjust; ``correction="none"`` does the same).

    column                             reference <= 1000 rows     reference > 1000 rows
    numeric, > 5 distinct values       ks: p < 0.05               wasserstein (normed) >= 0.1
    numeric <= 5 values, categorical   chisquare: p < 0.05        jensenshannon >= 0.1
"""

from __future__ import annotations

import numpy as np

from modelcycle.errors import invalid_value
from modelcycle.monitoring._result import Chart, ColumnDrift
from modelcycle.monitoring._sketch import NumericSketch, Sketch
from modelcycle.monitoring._stats import category_scores, numeric_scores

__all__ = ["DEFAULT_THRESHOLDS", "TESTS", "adjust_p_values", "check_tests", "column_verdict"]

TESTS = {
    "numeric": ("ks", "wasserstein", "psi"),
    "categorical": ("chisquare", "jensenshannon", "psi"),
}
DEFAULT_THRESHOLDS = {
    "ks": 0.05,
    "chisquare": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
}
_P_VALUE = {"ks": "ks_p_value", "chisquare": "chisquare_p_value"}
_STATISTIC = {"wasserstein": "wasserstein_normed", "jensenshannon": "jensenshannon", "psi": "psi"}
_EFFECT = {"ks": "wasserstein_normed", "chisquare": "cohen_w"}
_FEW_VALUES = 5
_BINS, _TOP = 20, 20


def check_tests(tests: dict[str, str], thresholds: dict[str, float]) -> None:
    """Refuse unknown test names and thresholds outside their range, naming the field."""
    known = set(DEFAULT_THRESHOLDS)
    for column, test in tests.items():
        if test not in known:
            raise invalid_value(
                f"test of column {column!r}", test, f"expected one of {sorted(known)}"
            )
    for test, value in thresholds.items():
        if test not in known:
            raise invalid_value("thresholds", test, f"expected one of {sorted(known)}")
        if not (value > 0 and (test not in _P_VALUE or value < 1)):
            why = "a p-value threshold is in (0, 1)" if test in _P_VALUE else "must be > 0"
            raise invalid_value(f"threshold of {test}", value, why)


def compared_as(ref: Sketch) -> str:
    """``numeric`` or ``categorical``: numeric columns with at most 5 distinct reference values
    are compared as categories (Evidently does the same)."""
    if isinstance(ref, NumericSketch) and ref.values is not None and len(ref.values) <= _FEW_VALUES:
        return "categorical"
    return ref.kind


def default_test(kind: str, reference_rows: int, small_sample: int) -> str:
    """The test a column gets unless the caller names one (see the module docstring)."""
    if kind == "numeric":
        return "ks" if reference_rows <= small_sample else "wasserstein"
    return "chisquare" if reference_rows <= small_sample else "jensenshannon"


def column_verdict(
    name: str,
    ref: Sketch,
    cur: Sketch,
    test: str | None,
    thresholds: dict[str, float],
    small_sample: int,
) -> ColumnDrift:
    """Every statistic of the column, and the verdict of ``test`` (default by kind and size)."""
    kind = compared_as(ref)
    chosen = test or default_test(kind, ref.n, small_sample)
    if chosen not in TESTS[kind]:
        why = f"a {kind} column takes one of {list(TESTS[kind])}"
        raise invalid_value(f"test of column {name!r}", chosen, why)
    if isinstance(ref, NumericSketch) and isinstance(cur, NumericSketch) and kind == "numeric":
        scores, chart = numeric_scores(ref, cur), _numeric_chart(ref, cur)
    else:
        scores, chart = category_scores(ref, cur), _category_chart(ref, cur)
    threshold = thresholds.get(chosen, DEFAULT_THRESHOLDS[chosen])
    if chosen in _P_VALUE:
        statistic = p_value = scores[_P_VALUE[chosen]]
        drifted = p_value < threshold
    else:
        statistic, p_value = scores[_STATISTIC[chosen]], None
        drifted = statistic >= threshold
    effect = _EFFECT.get(chosen) or _STATISTIC[chosen]
    return ColumnDrift(
        column=name,
        kind=kind,  # type: ignore[arg-type]
        test=chosen,
        threshold=threshold,
        statistic=statistic,
        p_value=p_value,
        effect_measure=effect,
        effect_size=scores[effect],
        drifted=bool(drifted),
        scores=scores,
        reference_rows=ref.rows,
        current_rows=cur.rows,
        reference_missing=ref.nulls,
        current_missing=cur.nulls,
        chart=chart,
    )


def adjust_p_values(verdicts: list[ColumnDrift]) -> list[ColumnDrift]:
    """The verdicts with the p-values of the p-value tests adjusted together for the false
    discovery rate (Benjamini-Hochberg, scipy's ``false_discovery_control``): with many
    correlated columns, raw p < 0.05 per column makes a random split of one data set flag
    half of them now and then; adjusted, the false alarms all but vanish."""
    tested = [i for i, v in enumerate(verdicts) if v.test in _P_VALUE and v.p_value is not None]
    if len(tested) < 2:
        return verdicts
    from scipy.stats import false_discovery_control  # only when there is something to adjust

    raw = [verdicts[i].p_value or 0.0 for i in tested]
    adjusted = false_discovery_control(raw, method="bh")
    result = list(verdicts)
    for i, value in zip(tested, adjusted.tolist(), strict=True):
        update = {"statistic": value, "drifted": value < verdicts[i].threshold}
        result[i] = verdicts[i].model_copy(update=update)
    return result


def _shares(items: np.ndarray, weights: np.ndarray, inner: np.ndarray) -> tuple[float, ...]:
    cumulative = np.concatenate([[0.0], np.cumsum(weights)])
    below = cumulative[np.searchsorted(items, inner, side="left")] / cumulative[-1]
    return tuple(np.diff(np.concatenate([[0.0], below, [1.0]])).round(6).tolist())


def _numeric_chart(ref: NumericSketch, cur: NumericSketch) -> Chart:
    """20 equal bins between the 0.5th and 99.5th percentiles of both sides (tails in the end
    bins), so one outlier does not flatten the picture."""
    ref_x, ref_w = ref.distribution()
    cur_x, cur_w = cur.distribution()
    ends = []
    for items, weights in ((ref_x, ref_w), (cur_x, cur_w)):
        cumulative = np.cumsum(weights) / weights.sum()
        at = np.searchsorted(cumulative, [0.005, 0.995])
        ends.extend(items[np.minimum(at, items.size - 1)].tolist())
    low, high = min(ends), max(ends)
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, _BINS + 1)
    return Chart(
        edges=tuple(edges.tolist()),
        reference=_shares(ref_x, ref_w, edges[1:-1]),
        current=_shares(cur_x, cur_w, edges[1:-1]),
    )


def _category_chart(ref: Sketch, cur: Sketch) -> Chart:
    from modelcycle.monitoring._stats import _frequencies

    ref_counts, cur_counts = _frequencies(ref), _frequencies(cur)
    ref_total, cur_total = max(sum(ref_counts.values()), 1), max(sum(cur_counts.values()), 1)
    labels = sorted(
        set(ref_counts) | set(cur_counts),
        key=lambda label: (
            -(ref_counts.get(label, 0) / ref_total + cur_counts.get(label, 0) / cur_total)
        ),
    )
    shown, rest = labels[:_TOP], labels[_TOP:]

    def shares(counts: dict[str, int], total: int) -> tuple[float, ...]:
        head = [counts.get(label, 0) / total for label in shown]
        tail = [sum(counts.get(label, 0) for label in rest) / total] if rest else []
        return tuple(round(share, 6) for share in head + tail)

    return Chart(
        labels=tuple(shown) + (("(rest)",) if rest else ()),
        reference=shares(ref_counts, ref_total),
        current=shares(cur_counts, cur_total),
    )
