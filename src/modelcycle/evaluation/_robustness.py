"""Robustness: how the metric moves when inputs get worse, and where the model is weakest.

Live data is noisier than a test split: sensors drift, forms are left half empty, a category
is mistyped. :func:`perturbation_report` measures the metric on perturbed copies of the test
rows (seeded, so two runs agree):

    noise     gaussian noise of ``noise`` x the column's standard deviation on every numeric
              column (integer columns stay whole numbers)
    missing   a share ``missing`` of the values of every feature column set to missing
    swap      a share ``swap`` of the values of every categorical column replaced by another
              category of the same column

and, for each column named in ``columns`` (say the most important ones), the same noise (a
numeric column) or swap (a categorical column) on that column alone. A model that fails on
perturbed rows (one that refuses missing values, say) gets the error in its entry rather than
failing the report: that is a robustness finding too.

:func:`worst_slices` finds the one-column slices (a category; a quantile bin of a number)
where the metric is furthest on the bad side of its overall value.

Metric names and directions come from training's table (``modelcycle.training.METRICS``).
``change`` is ``perturbed - baseline`` as measured; ``degradation`` and ``gap`` are signed so
that positive is worse, whatever the metric's direction.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from modelcycle.errors import invalid_value
from modelcycle.evaluation._metrics import num
from modelcycle.models import Task
from modelcycle.training._metrics import METRICS, Metric, metric_names

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["perturbation_report", "worst_slices"]

Array = np.ndarray[Any, np.dtype[Any]]
Direction = Literal["maximize", "minimize"]
ScoreFn = Callable[[Any, Any, Any], float]
_Perturbed = tuple["pd.DataFrame", int]

_NUMERIC = ("numeric", "integer")
_CATEGORICAL = ("categorical", "boolean")


def _kind(kinds: Mapping[str, Any], name: Any) -> str:
    """A column's kind as a plain string (``ColumnKind`` members or strings)."""
    kind = kinds.get(str(name), "")
    return str(getattr(kind, "value", kind))


def _columns(x: pd.DataFrame, kinds: Mapping[str, Any], wanted: Sequence[str]) -> list[str]:
    return [str(name) for name in x.columns if _kind(kinds, name) in wanted]


def _value(metric: Metric, model: Any, x: Any, y: Any) -> float:
    """``metric`` of a fitted model on rows ``x`` with labels ``y``."""
    classes = getattr(model, "classes_", None)
    proba = model.predict_proba(x) if metric.uses_proba else None
    pred = None if metric.uses_proba else model.predict(x)
    return metric.compute(np.asarray(y), pred, proba, classes)


def _scoring(score: ScoreFn | str, direction: Direction | None) -> tuple[ScoreFn, Direction]:
    if not isinstance(score, str):
        return score, direction or "maximize"
    if score not in METRICS:
        raise invalid_value("score", score, f"unknown metric; known: {', '.join(METRICS)}")
    metric = METRICS[score]
    return (lambda model, x, y: _value(metric, model, x, y)), metric.direction


# -- perturbations ---------------------------------------------------------------------------


def _noise(
    x: pd.DataFrame, columns: Sequence[str], kinds: Mapping[str, Any], scale: float, seed: Any
) -> _Perturbed:
    """Gaussian noise of ``scale`` x std on ``columns`` (rounded for integer columns)."""
    rng = np.random.default_rng(seed)
    noisy = x.copy()
    changed = 0
    for name in columns:
        values = x[name].to_numpy(dtype=np.float64, na_value=np.nan)
        std = float(np.nanstd(values)) if np.isfinite(values).any() else 0.0
        moved = values + rng.normal(0.0, scale * std, size=len(values))
        if _kind(kinds, name) == "integer":
            moved = np.round(moved)
        noisy[name] = moved
        changed += int((moved != values).sum() - np.isnan(values).sum())
    return noisy, changed


def _missing(x: pd.DataFrame, columns: Sequence[str], share: float, seed: Any) -> _Perturbed:
    """A share of each column's values set to missing; how many were present before."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    holed = x.copy()
    injected = 0
    for name in columns:
        hit = rng.random(len(x)) < share
        injected += int((hit & x[name].notna().to_numpy()).sum())
        column = x[name]
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_integer_dtype(column):
            column = column.astype(np.float64 if _numeric(column) else object)
        holed[name] = column.where(~hit)
    return holed, injected


def _numeric(column: pd.Series) -> bool:
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(column)
    return bool(numeric and not pd.api.types.is_bool_dtype(column))


def _swaps(x: pd.DataFrame, columns: Sequence[str], share: float, seed: Any) -> _Perturbed:
    """A share of each column's present values replaced by another category of the column,
    drawn uniformly."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    swapped = x.copy()
    changed = 0
    for name in columns:
        codes, categories = pd.factorize(x[name])
        hit = (rng.random(len(x)) < share) & (codes >= 0)
        if len(categories) < 2 or not hit.any():
            continue
        draw = rng.integers(0, len(categories) - 1, size=int(hit.sum()))
        new = codes.copy()
        new[hit] = draw + (draw >= codes[hit])  # skip the row's own category
        values = np.asarray(categories, dtype=object)[np.maximum(new, 0)]
        values[codes < 0] = None
        swapped[name] = pd.Series(values, index=x.index, dtype=x[name].dtype)
        changed += int(hit.sum())
    return swapped, changed


def _perturbed(
    x: pd.DataFrame,
    kind: str,
    columns: Sequence[str],
    kinds: Mapping[str, Any],
    share: float,
    seed: Any,
) -> _Perturbed:
    if kind == "noise":
        return _noise(x, columns, kinds, share, seed)
    if kind == "missing":
        return _missing(x, columns, share, seed)
    return _swaps(x, columns, share, seed)


def _entry(
    kind: str,
    columns: Sequence[str],
    affected: int,
    baseline: float,
    perturbed: float,
    direction: Direction,
) -> dict[str, Any]:
    change = perturbed - baseline
    relative = change / abs(baseline) if baseline else math.nan
    return {
        "perturbation": kind,
        "columns": list(columns),
        "affected": affected,
        "baseline": num(baseline),
        "perturbed": num(perturbed),
        "change": num(change),
        "relative_change": num(relative),
        "degradation": num(-change if direction == "maximize" else change),
    }


def _plans(
    x: pd.DataFrame, kinds: Mapping[str, Any], shares: Mapping[str, float], columns: Sequence[str]
) -> list[tuple[str, list[str]]]:
    """(perturbation, columns) of every entry of the report, in report order."""
    numeric, categorical = _columns(x, kinds, _NUMERIC), _columns(x, kinds, _CATEGORICAL)
    everything = [str(c) for c in x.columns]
    plans = [
        (k, c)
        for k, c in (("noise", numeric), ("missing", everything), ("swap", categorical))
        if c and shares[k] > 0
    ]
    for name in columns:
        if name in numeric and shares["noise"] > 0:
            plans.append(("noise", [name]))
        elif name in categorical and shares["swap"] > 0:
            plans.append(("swap", [name]))
    return plans


def perturbation_report(
    model: Any,
    x: pd.DataFrame,
    y: Any,
    *,
    score: ScoreFn | str,
    kinds: Mapping[str, Any],
    noise: float = 0.1,
    missing: float = 0.1,
    swap: float = 0.1,
    seed: int = 0,
    columns: Sequence[str] = (),
    direction: Direction | None = None,
) -> list[dict[str, Any]]:
    """The metric on perturbed copies of ``x`` (see the module docstring).

    ``score`` is a metric name of training's table or ``score(model, x, y) -> float`` (then
    ``direction`` says which way is better; default ``maximize``); ``kinds`` maps column ->
    kind (``numeric``, ``integer``, ``categorical``, ``boolean`` ...: ``ColumnKind`` values).
    A zero share skips that perturbation. Returns ``[{perturbation: "noise"|"missing"|"swap",
    columns, affected (values changed), baseline, perturbed, change, relative_change,
    degradation}]``: the three global perturbations, then one entry per column of ``columns``.
    """
    scorer, goal = _scoring(score, direction)
    labels = np.asarray(y)
    baseline = float(scorer(model, x, labels))
    shares = {"noise": noise, "missing": missing, "swap": swap}
    report = []
    for position, (kind, names) in enumerate(_plans(x, kinds, shares, columns)):
        # one random stream per entry, so adding an entry never changes the others
        frame, affected = _perturbed(x, kind, names, kinds, shares[kind], [seed, position])
        try:
            value = float(scorer(model, frame, labels))
        except (ValueError, TypeError) as exc:  # the model refuses perturbed rows
            failed = {"perturbation": kind, "columns": names, "affected": affected}
            report.append(
                {**failed, "baseline": num(baseline), "perturbed": None, "error": str(exc)}
            )
            continue
        report.append(_entry(kind, names, affected, baseline, value, goal))
    return report


# -- slices ----------------------------------------------------------------------------------


def _category_slices(name: str, column: pd.Series) -> list[tuple[str, Array]]:
    present = column.notna().to_numpy()
    labels = column.astype(object).where(column.notna(), None).to_numpy()
    found = [(f"{name} = {value}", present & (labels == value)) for value in _distinct(labels)]
    return [*found, (f"{name} is missing", ~present)]


def _distinct(labels: Array) -> list[Any]:
    return sorted({v for v in labels.tolist() if v is not None}, key=str)


def _bin_slices(name: str, column: pd.Series, bins: int) -> list[tuple[str, Array]]:
    """Quantile bins ``[lo, hi)`` (the last one closed), and the missing values."""
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    present = np.isfinite(values)
    if not present.any():
        return [(f"{name} is missing", ~present)]
    edges = np.unique(np.quantile(values[present], np.linspace(0.0, 1.0, bins + 1)))
    found = []
    for i, (low, high) in enumerate(itertools.pairwise(edges)):
        last = i == len(edges) - 2
        upper = values <= high if last else values < high
        label = f"{name} in [{low:.6g}, {high:.6g}{']' if last else ')'}"
        found.append((label, present & (values >= low) & upper))
    if len(edges) == 1:
        found.append((f"{name} = {edges[0]:.6g}", present))
    return [*found, (f"{name} is missing", ~present)]


def _slices(
    rows: pd.DataFrame, kinds: Mapping[str, Any], bins: int
) -> list[tuple[str, str, Array]]:
    """``(column, label, row mask)`` of every non-empty one-column slice."""
    found: list[tuple[str, str, Array]] = []
    for name in rows.columns:
        kind = _kind(kinds, name)
        if kind in _CATEGORICAL:
            slices = _category_slices(str(name), rows[name])
        elif kind in _NUMERIC:
            slices = _bin_slices(str(name), rows[name], bins)
        else:
            continue
        found += [(str(name), label, mask) for label, mask in slices if mask.any()]
    return found


def _checked_metric(task: str, metric: str, proba: Any) -> Metric:
    names = metric_names(Task(task))
    if metric not in names:
        raise invalid_value("metric", metric, f"not a {task} metric; choose one of {names}")
    if METRICS[metric].uses_proba and proba is None:
        raise invalid_value("proba", None, f"{metric} needs predicted probabilities")
    return METRICS[metric]


def worst_slices(
    y_true: Any,
    y_pred: Any,
    x: pd.DataFrame,
    *,
    task: str,
    metric: str,
    kinds: Mapping[str, Any],
    min_size: int = 30,
    top: int = 5,
    bins: int = 4,
    proba: Any = None,
    classes: Any = None,
) -> dict[str, Any]:
    """The one-column slices of ``x`` where ``metric`` is worst compared with overall.

    Slices are each category (and "is missing") of categorical and boolean columns, and
    ``bins`` quantile bins of numeric and integer columns; other kinds are not sliced.
    Returns ``{metric, direction, overall, slices: [{slice, column, size, metric, overall,
    gap}], skipped_small, undefined}``: the ``top`` slices by ``gap`` (how much worse than
    overall; negative when even the worst slice is better), ``skipped_small`` counting slices
    under ``min_size`` rows and ``undefined`` those where the metric is undefined (ROC-AUC
    of a slice with one class). ``classes`` defaults to the sorted labels seen.
    """
    chosen = _checked_metric(task, metric, proba)
    truth, pred = np.asarray(y_true), None if y_pred is None else np.asarray(y_pred)
    prob = None if proba is None else np.asarray(proba)
    if classes is None and Task(task).is_classification:
        seen = truth if pred is None else np.concatenate([truth, pred])
        classes = np.unique(seen)

    def measure(mask: Array) -> float:
        part = None if pred is None else pred[mask]
        return chosen.compute(truth[mask], part, None if prob is None else prob[mask], classes)

    overall = measure(np.ones(len(truth), dtype=bool))
    candidates: list[dict[str, Any]] = []
    skipped = undefined = 0
    for column, label, mask in _slices(x.reset_index(drop=True), kinds, bins):
        size = int(mask.sum())
        if size < min_size:
            skipped += 1
            continue
        value = measure(mask)
        if not np.isfinite(value):
            undefined += 1
            continue
        gap = overall - value if chosen.direction == "maximize" else value - overall
        entry = {"slice": label, "column": column, "size": size, "metric": num(value)}
        candidates.append({**entry, "overall": num(overall), "gap": gap})
    candidates.sort(key=lambda s: -s["gap"])
    for entry in candidates:
        entry["gap"] = num(entry["gap"])
    return {
        "metric": metric,
        "direction": chosen.direction,
        "overall": num(overall),
        "slices": candidates[:top],
        "skipped_small": skipped,
        "undefined": undefined,
    }
