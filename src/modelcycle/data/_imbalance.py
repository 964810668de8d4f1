"""Class imbalance: measure it, weight it, or resample the training rows with imbalanced-learn.

:func:`imbalance_report` measures it, :func:`class_weights` gives balanced weights for
estimators that take them, :func:`resample` over- or under-samples (or SMOTE) with
imbalanced-learn. Resampling is for the training split only (see ``Splits.frames``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from modelcycle.errors import InvalidValueError, invalid_value

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "RESAMPLERS",
    "ImbalanceSpec",
    "class_weights",
    "imbalance_report",
    "native",
    "resample",
]

ImbalanceStrategy = Literal["none", "class_weight", "oversample", "undersample", "smote"]
RESAMPLERS = ("oversample", "undersample", "smote")
_VERDICTS = ((1.5, "balanced"), (3.0, "mild"), (10.0, "moderate"), (float("inf"), "severe"))


class ImbalanceSpec(BaseModel):
    """How training copes with unequal classes (resampling touches the training split only).

    ``sampling_strategy`` and ``k_neighbors`` are imbalanced-learn's: the target ratio
    (minority/majority after resampling, or a named rule) and SMOTE's neighbour count.
    """

    model_config = ConfigDict(extra="forbid")

    strategy: ImbalanceStrategy = "none"
    sampling_strategy: (
        float | Literal["auto", "minority", "majority", "not minority", "not majority", "all"]
    ) = "auto"
    k_neighbors: int = Field(default=5, ge=1)


def native(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def imbalance_report(y: Any) -> dict[str, Any]:
    """Class counts and shares, the majority/minority ratio and a verdict, as JSON-ready data.

    The verdict reads the ratio: ``balanced`` (up to 1.5), ``mild`` (3), ``moderate`` (10),
    ``severe`` (above): past ``mild``, accuracy misleads and class weights or resampling help.
    """
    import pandas as pd

    labels = pd.Series(y)
    counted = sorted(labels.value_counts(dropna=True).items(), key=lambda kv: (-kv[1], str(kv[0])))
    if not counted:
        raise InvalidValueError("imbalance report: there are no labels to count")
    total = sum(int(count) for _, count in counted)
    ratio = counted[0][1] / counted[-1][1]
    verdict = next(name for limit, name in _VERDICTS if ratio <= limit)
    return {
        "rows": len(labels),
        "missing": int(labels.isna().sum()),
        "classes": len(counted),
        "counts": {str(label): int(count) for label, count in counted},
        "shares": {str(label): round(int(count) / total, 6) for label, count in counted},
        "majority": str(counted[0][0]),
        "minority": str(counted[-1][0]),
        "ratio": round(float(ratio), 6),
        "verdict": verdict if len(counted) > 1 else "single class",
    }


def class_weights(y: Any) -> dict[Any, float]:
    """Label -> weight inversely proportional to its frequency (scikit-learn's "balanced").

    Pass it as ``class_weight=`` to estimators that take one; the mean weight over rows is 1.
    """
    import pandas as pd
    from sklearn.utils.class_weight import compute_class_weight

    labels = pd.Series(y)
    if labels.isna().any():
        raise InvalidValueError("class weights: labels must not be missing")
    values = labels.to_numpy()
    classes = np.unique(values)
    weights = compute_class_weight("balanced", classes=classes, y=values)
    return {native(c): float(w) for c, w in zip(classes, weights, strict=True)}


def _check_smote(features: pd.DataFrame, labels: pd.Series, k_neighbors: int) -> None:
    import pandas as pd

    for column in features.columns:
        series = features[column]
        if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            why = "SMOTE interpolates between rows, so features must be numeric (encode first)"
            raise invalid_value("SMOTE feature column", str(column), why)
        if series.isna().any():
            raise invalid_value("SMOTE feature column", str(column), "has missing values")
    counts = labels.value_counts()
    minority = counts.idxmin()
    if counts.min() <= k_neighbors:
        why = f"class {str(minority)!r} has {counts.min()} rows, SMOTE needs k_neighbors + 1"
        raise invalid_value("imbalance.k_neighbors", k_neighbors, why)


def resample(
    X: pd.DataFrame,
    y: pd.Series,
    strategy: str,
    seed: int = 42,
    *,
    sampling_strategy: float | str = "auto",
    k_neighbors: int = 5,
) -> tuple[pd.DataFrame, pd.Series]:
    """Over- or under-sample ``X, y`` (the *training* rows) with imbalanced-learn.

    ``oversample`` repeats minority rows (``RandomOverSampler``), ``undersample`` drops
    majority rows (``RandomUnderSampler``), ``smote`` synthesises minority rows between
    neighbours (``SMOTE``; numeric, complete features only). ``none`` and ``class_weight``
    return the data unchanged. Never call it on validation or test rows.
    """
    if strategy in ("none", "class_weight"):
        return X, y
    if strategy not in RESAMPLERS:
        raise invalid_value("imbalance.strategy", strategy, f"expected one of {RESAMPLERS}")
    from imblearn.over_sampling import SMOTE, RandomOverSampler
    from imblearn.under_sampling import RandomUnderSampler

    options: dict[str, Any] = {"sampling_strategy": sampling_strategy, "random_state": seed}
    if strategy == "smote":
        _check_smote(X, y, k_neighbors)
        options["k_neighbors"] = k_neighbors
    kinds = {"oversample": RandomOverSampler, "undersample": RandomUnderSampler, "smote": SMOTE}
    sampler = kinds[strategy](**options)
    try:
        features, labels = sampler.fit_resample(X, y)
    except ValueError as exc:
        raise invalid_value("imbalance.strategy", strategy, str(exc)) from None
    return features, labels
