"""Partial dependence on the raw input columns: the average prediction as one column sweeps
a grid, through scikit-learn's ``partial_dependence`` on the whole pipeline (see ``_explain``
for the other explanations and why they speak of raw columns)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.errors import invalid_value
from modelcycle.evaluation._explain import Array, _json_value, _sample
from modelcycle.evaluation._metrics import num

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["partial_dependence"]

_PERCENTILES = (0.05, 0.95)  # scikit-learn's partial-dependence grid range


def _is_categorical(column: pd.Series, kind: str | None) -> bool:
    import pandas as pd

    if kind is not None:
        return kind in ("categorical", "boolean", "text")
    numeric = pd.api.types.is_numeric_dtype(column)
    return not numeric or pd.api.types.is_bool_dtype(column)


def _grid(column: pd.Series, categorical: bool, resolution: int) -> Array:
    """scikit-learn's grid, on the non-missing values: the sorted categories (the
    ``resolution`` most frequent ones), the sorted values when fewer than ``resolution``,
    else evenly spaced values between the 5th and 95th percentiles."""
    from scipy.stats.mstats import mquantiles

    present = column.dropna()
    if categorical:
        frequent = present.value_counts().index[:resolution].tolist()
        return np.asarray(sorted(frequent, key=str), dtype=object)
    values = present.to_numpy(dtype=np.float64)
    uniques = np.unique(values)
    if len(uniques) < resolution:
        return uniques
    low, high = mquantiles(values, prob=_PERCENTILES, axis=0)
    if np.isclose(low, high):  # scikit-learn refuses this grid: span the whole range instead
        low, high = uniques[0], uniques[-1]
    return np.linspace(low, high, num=resolution, endpoint=True)


def partial_dependence(
    model: Any,
    x: pd.DataFrame,
    features: list[str],
    *,
    grid_resolution: int = 20,
    max_rows: int = 1000,
    kinds: Mapping[str, str] | None = None,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """The average prediction as each raw column in ``features`` sweeps its grid.

    Uses scikit-learn's ``partial_dependence`` (brute method, on the whole pipeline) over at
    most ``max_rows`` rows. A column is categorical when ``kinds`` says so (``categorical``,
    ``boolean``, ``text``) or, without ``kinds``, when it is not numeric. Returns ``{feature:
    {kind, grid, average}}``; ``average`` is the positive class probability (binary) or the
    prediction (regression); for multiclass it is one list per class, in ``classes`` order.
    Missing values never enter the grid.
    """
    missing = [name for name in features if name not in x.columns]
    if missing:
        raise invalid_value("features", missing, "not columns of x")
    rows, _ = _sample(x, None, max_rows, seed)
    known = kinds or {}
    result: dict[str, dict[str, Any]] = {}
    for name in features:
        categorical = _is_categorical(rows[name], known.get(name))
        kind = "categorical" if categorical else "numeric"
        grid = _grid(rows[name], categorical, grid_resolution)
        curve = _curve(model, rows, name, grid, categorical) if len(grid) else {}
        result[name] = {"kind": kind, "grid": [], "average": [], **curve}  # empty: all missing
    return result


def _curve(model: Any, rows: pd.DataFrame, name: str, grid: Array, categorical: bool) -> Any:
    """scikit-learn's partial dependence of ``model`` on column ``name`` over ``grid``."""
    import pandas as pd
    from sklearn.inspection import partial_dependence as sk_partial_dependence

    if not categorical and pd.api.types.is_integer_dtype(rows[name]):
        # scikit-learn refuses integer columns (the grid would be rounded): sweep as floats
        rows = rows.assign(**{name: rows[name].astype(float)})
    found = sk_partial_dependence(
        model,
        rows,
        [name],
        categorical_features=[name] if categorical else None,
        custom_values={name: grid},
        kind="average",
    )
    average = np.asarray(found["average"], dtype=float)
    curve: dict[str, Any] = {"grid": [_json_value(v) for v in found["grid_values"][0]]}
    if len(average) == 1:
        return {**curve, "average": [num(v) for v in average[0]]}
    classes = [_json_value(c) for c in getattr(model, "classes_", [])]
    return {**curve, "average": [[num(v) for v in c] for c in average], "classes": classes}
