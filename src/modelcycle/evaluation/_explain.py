"""Explanations: which input columns a model relies on, globally and for one prediction.

Everything is reported on the RAW input columns a user knows (``age``, ``sex``), not on the
preprocessor's outputs (``categorical_onehot__sex_female``): contributions of the transformed
features are summed back to the column they came from (additivity makes the sum a valid
contribution of the column).

    permutation_importance  score drop when one column is shuffled; any model (the whole
                            pipeline is scored, so every family works)
    shap_importance         mean |SHAP| per column, from shap's exact explainers: TreeExplainer
                            for decision trees, random forests and LightGBM, LinearExplainer for
                            linear models; None for other families (no exact explainer; the
                            model-agnostic estimate costs too many predictions per row for a
                            global summary: use permutation importance for them)
    explain_row             the top contributions to one prediction: exact SHAP for tree and
                            linear models; for every other family, SHAP values by permutation
                            sampling on the raw columns (a bounded number of model calls)
    partial_dependence      the average prediction as one column sweeps a grid (in
                            ``_dependence``)

What SHAP values add up to is the model's own output scale: the margin (log-odds for binary
classifiers) for LightGBM and linear classifiers, the probability for scikit-learn trees and
for the permutation path, the prediction for regressors. ``explain_row`` says which in
``output_kind``. Binary models are explained for their positive class (``classes_[1]``);
``explain_row`` on a multiclass model explains the predicted class, ``shap_importance``
averages mean |SHAP| over the classes.

Rows are sampled (seeded) to ``max_rows`` so an explanation costs seconds, not minutes.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.errors import invalid_value
from modelcycle.evaluation._metrics import num
from modelcycle.training._metrics import METRICS

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "explain_row",
    "explainer_kind",
    "permutation_importance",
    "shap_importance",
    "source_columns",
]

Array = np.ndarray[Any, np.dtype[Any]]
_TREE_MODULES = ("sklearn.tree", "sklearn.ensemble._forest", "lightgbm")
_LINEAR_MODULES = ("sklearn.linear_model",)
_BACKGROUND = 100  # rows of background data for linear SHAP and the permutation path


def _shap() -> Any:
    with warnings.catch_warnings():
        # shap's plotting module calls a matplotlib colormap method that matplotlib marks
        # pending deprecation, at import time; we never plot.
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap
    return shap


def _sample(x: pd.DataFrame, y: Any, max_rows: int, seed: int) -> tuple[pd.DataFrame, Any]:
    """At most ``max_rows`` rows of ``x`` (and the matching ``y``), seeded."""
    if max_rows < 1:
        raise invalid_value("max_rows", max_rows, "must be at least 1")
    if len(x) <= max_rows:
        return x, y
    picked = np.sort(np.random.default_rng(seed).choice(len(x), max_rows, replace=False))
    return x.iloc[picked], None if y is None else np.asarray(y)[picked]


def _scorer(scoring: str) -> Any:
    """A scorer ``(estimator, x, y) -> higher is better``: our metric table, else sklearn's."""
    if scoring not in METRICS:
        from sklearn.metrics import get_scorer, get_scorer_names

        if scoring not in get_scorer_names():
            known = ", ".join(METRICS)
            raise invalid_value("scoring", scoring, f"unknown; use one of {known} or sklearn's")
        return get_scorer(scoring)
    metric = METRICS[scoring]
    sign = 1.0 if metric.direction == "maximize" else -1.0

    def score(estimator: Any, x: Any, y: Any) -> float:
        classes = getattr(estimator, "classes_", None)
        proba = estimator.predict_proba(x) if metric.uses_proba else None
        pred = None if metric.uses_proba else estimator.predict(x)
        return sign * metric.compute(np.asarray(y), pred, proba, classes)

    return score


def permutation_importance(
    model: Any,
    x: pd.DataFrame,
    y: Any,
    *,
    scoring: str,
    n_repeats: int = 5,
    seed: int = 0,
    max_rows: int = 2000,
) -> list[dict[str, Any]]:
    """How much the score drops when each raw column is shuffled, most important first.

    ``scoring`` is a metric of training's table (``roc_auc``, ``log_loss``, ``rmse`` ...; a
    lower-is-better metric is negated, so a positive ``mean`` always means the column helps)
    or a scikit-learn scorer name. Returns ``[{feature, mean, std}]`` over ``n_repeats``
    shuffles of at most ``max_rows`` rows.
    """
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    rows, labels = _sample(x, y, max_rows, seed)
    found = sk_permutation_importance(
        model, rows, labels, scoring=_scorer(scoring), n_repeats=n_repeats, random_state=seed
    )
    result = [
        {"feature": str(name), "mean": num(mean), "std": num(std)}
        for name, mean, std in zip(
            x.columns, found.importances_mean, found.importances_std, strict=True
        )
    ]
    return sorted(result, key=lambda item: -np.inf if item["mean"] is None else -item["mean"])


def _parts(pipeline: Any) -> tuple[Any, Any]:
    """(preprocessor or None, final estimator) of a fitted pipeline (or a bare estimator)."""
    steps = getattr(pipeline, "steps", None)
    if steps is None or len(steps) < 2:
        return None, pipeline if steps is None else steps[-1][1]
    return pipeline[:-1], steps[-1][1]


def explainer_kind(pipeline: Any) -> str | None:
    """``"tree"``, ``"linear"`` or None: which exact SHAP explainer suits the final model."""
    module = type(_parts(pipeline)[1]).__module__
    if module.startswith(_TREE_MODULES):
        return "tree"
    if module.startswith(_LINEAR_MODULES):
        return "linear"
    return None


def _column_of(feature: str, columns: Sequence[str]) -> str:
    """The input column an output feature comes from: the longest ``col`` with ``feature`` in
    ``(col, col_<suffix>)`` (one-hot ``sex_female``, date part ``when_year``)."""
    matches = [c for c in columns if feature == c or feature.startswith(f"{c}_")]
    return max(matches, key=len) if matches else feature


def source_columns(preprocessor: Any, raw_columns: Sequence[str]) -> list[str]:
    """For each output feature of a fitted preprocessor, the raw column it comes from.

    Reads a ``ColumnTransformer``'s transformers (``build_preprocessor`` makes one); for any
    other preprocessor, output features are matched to raw columns by name.
    """
    names = [str(n) for n in preprocessor.get_feature_names_out()]
    transformers = getattr(preprocessor, "transformers_", None)
    slices = getattr(preprocessor, "output_indices_", None)
    if transformers is None or slices is None:
        return [_column_of(name, raw_columns) for name in names]
    sources = list(names)
    for label, _transformer, columns in transformers:
        chosen = [str(c) for c in np.atleast_1d(columns)] if label in slices else []
        part = slices.get(label, slice(0, 0))
        for position in range(part.start, part.stop):
            feature = names[position].removeprefix(f"{label}__")
            sources[position] = chosen[0] if len(chosen) == 1 else _column_of(feature, chosen)
    return sources


def _features(preprocessor: Any, x: pd.DataFrame) -> Array:
    """The transformed features of ``x`` as a dense float array."""
    out: Any = x if preprocessor is None else preprocessor.transform(x)
    if hasattr(out, "toarray"):
        out = out.toarray()
    return np.asarray(out, dtype=np.float64)


def _explainer(kind: str, model: Any, background: Array) -> Any:
    shap = _shap()
    if kind == "tree":
        return shap.TreeExplainer(model)
    masker = shap.maskers.Independent(background, max_samples=_BACKGROUND)
    return shap.LinearExplainer(model, masker)


def _one_output(values: Array, base: Any, column: int | None) -> tuple[Array, Array]:
    """SHAP values (rows, features) and base values (rows,) of output ``column`` of a
    per-class explanation (a single-output explanation is returned as it is)."""
    bases = np.asarray(base, dtype=float)
    bases = bases.reshape(len(values), -1) if bases.ndim else np.full((len(values), 1), bases)
    if values.ndim == 2:
        return values, bases[:, 0]
    return values[:, :, column or 0], bases[:, column or 0]


def _grouped(values: Array, sources: Sequence[str]) -> tuple[list[str], Array]:
    """Per-row contributions summed by raw column, columns in first-appearance order."""
    columns = list(dict.fromkeys(sources))
    membership = np.zeros((len(sources), len(columns)))
    for position, source in enumerate(sources):
        membership[position, columns.index(source)] = 1.0
    return columns, values @ membership


def _ranked(names: Sequence[str], scores: Array) -> list[dict[str, Any]]:
    pairs = sorted(zip(names, scores.tolist(), strict=True), key=lambda pair: -pair[1])
    return [{"feature": str(name), "mean_abs": num(score)} for name, score in pairs]


def shap_importance(
    pipeline: Any, x: pd.DataFrame, *, max_rows: int = 500, seed: int = 0
) -> dict[str, Any] | None:
    """Mean |SHAP| per raw column and per transformed feature, or None (see the module
    docstring: only tree and linear models have an exact, fast explainer).

    Returns ``{explainer: "tree"|"linear", features: [{feature, mean_abs}], transformed:
    [{feature, mean_abs}]}``, each list largest first; ``features`` sums each row's
    transformed contributions by raw column before taking the absolute value.
    """
    kind = explainer_kind(pipeline)
    if kind is None:
        return None
    preprocessor, model = _parts(pipeline)
    rows, _ = _sample(x, None, max_rows, seed)
    features = _features(preprocessor, rows)
    names, sources = _names(preprocessor, list(x.columns), features.shape[1])
    explained = _explainer(kind, model, features)(features)
    values = np.asarray(explained.values, dtype=float)
    classes = getattr(model, "classes_", ())
    if values.ndim == 3 and len(classes) == 2:
        values = values[:, :, 1]  # binary: the positive class
    if values.ndim == 3:  # multiclass: mean over classes of the per-column magnitudes
        columns, grouped = _grouped(values.transpose(0, 2, 1).reshape(-1, values.shape[1]), sources)
        by_column = np.abs(grouped).mean(axis=0)
        by_feature = np.abs(values).mean(axis=(0, 2))
    else:
        columns, grouped = _grouped(values, sources)
        by_column, by_feature = np.abs(grouped).mean(axis=0), np.abs(values).mean(axis=0)
    return {
        "explainer": kind,
        "features": _ranked(columns, by_column),
        "transformed": _ranked(names, by_feature),
    }


def _names(preprocessor: Any, raw: Sequence[Any], width: int) -> tuple[list[str], list[str]]:
    """The transformed features' names and the raw column each comes from."""
    if preprocessor is None or not hasattr(preprocessor, "get_feature_names_out"):
        names = [str(c) for c in raw] if len(raw) == width else [f"x{i}" for i in range(width)]
        return names, names
    last = preprocessor[-1] if hasattr(preprocessor, "steps") else preprocessor
    names = [str(name) for name in preprocessor.get_feature_names_out()]
    return names, source_columns(last, [str(c) for c in raw])


# -- one prediction --------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    """A raw input value as JSON: numbers as floats (NaN as None), the rest as strings."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.number):
        return num(value)
    return str(value)


def _class_column(classes: Any, prediction: Any) -> int | None:
    """Which output to explain: the positive class (binary), the predicted class (multiclass),
    None for a regressor."""
    if classes is None:
        return None
    labels = list(np.asarray(classes).tolist())
    return 1 if len(labels) == 2 else labels.index(np.asarray(prediction).item())


def _output_kind(kind: str | None, model: Any, column: int | None) -> str:
    if column is None:
        return "value"
    if kind == "linear" or (kind == "tree" and type(model).__module__.startswith("lightgbm")):
        return "margin"
    return "probability"


def _exact_row(
    kind: str, pipeline: Any, row: pd.DataFrame, background: pd.DataFrame, column: int | None
) -> tuple[list[str], Array, float]:
    """Raw columns, their contributions and the base value from tree or linear SHAP."""
    preprocessor, model = _parts(pipeline)
    features = _features(preprocessor, row)
    explained = _explainer(kind, model, _features(preprocessor, background))(features)
    values, base = _one_output(
        np.asarray(explained.values, dtype=float), explained.base_values, column
    )
    _, sources = _names(preprocessor, list(row.columns), features.shape[1])
    columns, grouped = _grouped(values, sources)
    return columns, grouped[0], float(base[0])


def _coalitions(row: pd.DataFrame, background: pd.DataFrame, order: Array) -> pd.DataFrame:
    """``len(order) + 1`` copies of ``background``: copy ``k`` takes the row's values in the
    first ``k`` columns of ``order`` (the coalitions along one permutation)."""
    import pandas as pd

    size = len(background)
    frame = pd.concat([background] * (len(order) + 1), ignore_index=True)
    for position, column in enumerate(order):
        name = row.columns[column]
        switched = np.arange(len(frame)) >= (position + 1) * size
        frame[name] = frame[name].where(~switched, row[name].iloc[0])
    return frame


def _permutation_row(
    pipeline: Any,
    row: pd.DataFrame,
    background: pd.DataFrame,
    column: int | None,
    seed: int,
    max_evals: int,
) -> tuple[list[str], Array, float]:
    """Raw columns, contributions and base value by permutation sampling of SHAP values.

    The algorithm of shap's ``PermutationExplainer`` (antithetic permutations, interventional
    background), on the raw frame so any column type works: along a permutation, switching
    the columns one by one from background to the row's values and averaging the output over
    the background gives each column's marginal contribution; the contributions of every
    permutation add up to ``output(row) - mean output(background)`` exactly. shap's own
    explainer compiles its masker with numba on first use (tens of seconds per process).
    """
    import pandas as pd

    width, size = row.shape[1], len(background)
    orders = _permutations(width, max(2, max_evals // (width + 1)), seed)
    frame = pd.concat([_coalitions(row, background, order) for order in orders])
    if column is None:
        out = np.asarray(pipeline.predict(frame), dtype=np.float64)
    else:
        out = np.asarray(pipeline.predict_proba(frame), dtype=np.float64)[:, column]
    means = out.reshape(len(orders), width + 1, size).mean(axis=2)
    values = np.zeros(width)
    for order, along in zip(orders, means, strict=True):
        values[order] += np.diff(along)
    return [str(c) for c in row.columns], values / len(orders), float(means[0, 0])


def _permutations(width: int, count: int, seed: int) -> list[Array]:
    """Every permutation of ``width`` columns when there are at most ``count`` (exact Shapley
    values), else ``count // 2`` random ones each with its reverse (antithetic sampling)."""
    if math.factorial(width) <= count:
        return [np.array(order) for order in itertools.permutations(range(width))]
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(width) for _ in range(count // 2)]
    return [o for order in orders for o in (order, order[::-1])]


def explain_row(
    pipeline: Any,
    row: pd.DataFrame,
    *,
    background: pd.DataFrame,
    top: int = 5,
    seed: int = 0,
    max_evals: int = 500,
) -> dict[str, Any]:
    """The raw columns that contributed most to one prediction, and by how much.

    ``row`` is a one-row frame of raw features, ``background`` typical rows (training or
    validation rows; at most 100 are used, seeded) that define the "average" input. Returns
    ``{prediction, class, method, output_kind, base_value, output, contributions: [{feature,
    value, contribution}], other}``: ``contributions`` are the ``top`` columns by
    |contribution|, ``other`` the sum of the rest, so ``base_value + sum(contributions) +
    other == output``, the model's output for the row on the ``output_kind`` scale (see the
    module docstring). ``max_evals`` bounds the model calls of the permutation path.

        explain_row(model, x_test.iloc[[0]], background=x_train)["contributions"][0]
    """
    if len(row) != 1:
        raise invalid_value("row", f"{len(row)} rows", "give a frame with exactly one row")
    if top < 1:
        raise invalid_value("top", top, "must be at least 1")
    absent = [str(name) for name in row.columns if name not in background.columns]
    if absent:
        raise invalid_value("background", absent, "lacks these columns of the row")
    sample, _ = _sample(background[row.columns], None, _BACKGROUND, seed)
    kind = explainer_kind(pipeline)
    prediction = np.asarray(pipeline.predict(row))[0]
    column = _class_column(getattr(pipeline, "classes_", None), prediction)
    if kind is None:
        columns, values, base = _permutation_row(pipeline, row, sample, column, seed, max_evals)
        method = "permutation_shap"
    else:
        columns, values, base = _exact_row(kind, pipeline, row, sample, column)
        method = f"{kind}_shap"
    order = np.argsort(-np.abs(values), kind="stable")
    shown = order[:top]
    classes = getattr(pipeline, "classes_", None)
    return {
        "prediction": _json_value(prediction),
        "class": None if column is None else _json_value(np.asarray(classes)[column]),
        "method": method,
        "output_kind": _output_kind(kind, _parts(pipeline)[1], column),
        "base_value": num(base),
        "output": num(base + float(values.sum())),
        "contributions": [
            {
                "feature": columns[i],
                "value": _json_value(row[columns[i]].iloc[0]) if columns[i] in row else None,
                "contribution": num(values[i]),
            }
            for i in shown
        ],
        "other": num(float(values[order[top:]].sum())),
    }


# -- partial dependence ----------------------------------------------------------------------
