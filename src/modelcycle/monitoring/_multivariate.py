"""Multivariate drift with a domain classifier: can a model tell current rows from reference?

Per-column tests miss changes in how columns move together. A gradient-boosted classifier
(scikit-learn's ``HistGradientBoostingClassifier``: native missing values and categories, fast
on a few thousand rows) is trained to separate a uniform sample of reference rows from one of
current rows; its cross-validated ROC AUC is the score. 0.5 means the two are
indistinguishable; the default threshold 0.55 is Evidently's for its domain classifier.
"""

from __future__ import annotations

import pyarrow as pa

from modelcycle.monitoring._result import DomainDrift

__all__ = ["domain_drift"]


def domain_drift(
    reference: pa.Table, current: pa.Table, kinds: dict[str, str], *, threshold: float, seed: int
) -> DomainDrift:
    """ROC AUC (3-fold, stratified) of a classifier separating ``reference`` from ``current``
    rows over the ``kinds`` columns (numeric or categorical)."""
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # sklearn dep

    def frame(table: pa.Table) -> pd.DataFrame:
        data = {}
        for name, kind in kinds.items():
            column = table.column(name)
            if kind == "numeric":
                data[name] = pd.to_numeric(pd.Series(column.to_pylist(), dtype="float64"))
            else:
                data[name] = pd.Series(column.cast(pa.string()).to_pylist(), dtype="object")
        result: pd.DataFrame = pd.DataFrame(data)
        return result

    both = pd.concat([frame(reference), frame(current)], ignore_index=True)
    for name, kind in kinds.items():
        if kind != "numeric":  # the classifier takes at most 255 categories: rarer ones pooled
            top = both[name].value_counts().index[:250]
            both[name] = both[name].where(both[name].isin(top) | both[name].isna(), "(other)")
            both[name] = both[name].astype("category")
    target = np.r_[np.zeros(reference.num_rows), np.ones(current.num_rows)]
    model = HistGradientBoostingClassifier(
        max_iter=60, categorical_features="from_dtype", random_state=seed
    )
    folds = StratifiedKFold(3, shuffle=True, random_state=seed)
    # one OpenMP thread: on a few thousand rows, more threads mostly wait on each other (and on
    # a busy machine OpenMP's spinning threads made this 15x slower, measured)
    with threadpool_limits(1, user_api="openmp"):
        scores = cross_val_predict(model, both, target, cv=folds, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(target, scores))
    return DomainDrift(
        roc_auc=auc,
        threshold=threshold,
        drifted=auc > threshold,
        reference_rows=reference.num_rows,
        current_rows=current.num_rows,
    )
