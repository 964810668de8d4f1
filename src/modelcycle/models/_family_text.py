"""TF-IDF + linear model: the text baseline.

Before fine-tuning a transformer, a bag of (sub)words weighted by TF-IDF under a regularized
linear model tells how much signal the words carry. It trains in seconds on a CPU, serves in
microseconds, and its weights per word explain it.

Input is ONE text column: a 1-D array-like of strings (list, NumPy array, pandas Series) or a
single-column DataFrame (the pipeline runner hands the family the text column). Missing texts
count as empty documents. A DataFrame with several columns is refused, naming them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from modelcycle.errors import DataError
from modelcycle.models._base import FamilyInfo, ModelFamily, Task
from modelcycle.models._catalog import register
from modelcycle.models._params import check_params

__all__ = ["TfidfLinearFamily", "documents"]

_VECTORIZER = {"max_features", "ngram_range", "sublinear_tf", "min_df"}
_CLASSIFIER = _VECTORIZER | {"C", "class_weight", "max_iter"}
_REGRESSOR = _VECTORIZER | {"alpha"}
_VECTORIZER_DEFAULTS = {"max_features": 50_000, "ngram_range": (1, 2), "sublinear_tf": True}


def documents(x: Any) -> np.ndarray[Any, Any]:
    """One text column as a 1-D object array of strings (missing values as ``""``)."""
    columns = getattr(x, "columns", None)
    if columns is not None:
        if len(columns) != 1:
            names = ", ".join(repr(str(c)) for c in columns)
            raise DataError(f"tfidf_linear takes one text column; got {len(columns)}: {names}")
        x = x.iloc[:, 0]
    values = np.asarray(x, dtype=object)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise DataError(f"tfidf_linear takes one text column; got an array of shape {values.shape}")
    missing = np.array([v is None or (isinstance(v, float) and v != v) for v in values], bool)
    values = values.astype(str)
    values[missing] = ""
    return values.astype(object)


class TfidfLinearFamily(ModelFamily):
    """Pipeline(one text column -> TfidfVectorizer -> LogisticRegression or Ridge)."""

    info = FamilyInfo(
        name="tfidf_linear",
        title="TF-IDF + linear model (text baseline)",
        tasks=frozenset(Task),
        inputs="text",
        latency_us_per_row=130.0,
        size_kb=2500.0,
        interpretable=True,
        min_rows=100,
        notes="one text column; word and bigram weights explain the model",
        defaults={**_VECTORIZER_DEFAULTS, "C": 10.0, "alpha": 1.0},
    )

    def build(self, task: Task, params: Mapping[str, Any], seed: int) -> Any:
        """The pipeline; vectorizer params go to TF-IDF, the rest to the linear model."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import FunctionTransformer

        allowed = _CLASSIFIER if task.is_classification else _REGRESSOR
        chosen = check_params(self.info.name, params, allowed)
        vectorizer = {
            **_VECTORIZER_DEFAULTS,
            **{k: chosen.pop(k) for k in _VECTORIZER & set(chosen)},
        }
        vectorizer["ngram_range"] = tuple(vectorizer["ngram_range"])  # YAML gives a list
        return Pipeline(
            [
                ("text", FunctionTransformer(documents)),
                ("tfidf", TfidfVectorizer(**vectorizer)),
                ("model", _linear(task, chosen, seed, self.info.defaults)),
            ]
        )

    def search_space(self, trial: Any, task: Task) -> dict[str, Any]:
        """C (or alpha) on a log scale, vocabulary size, unigrams or uni+bigrams."""
        if task.is_classification:
            strength = {"C": trial.suggest_float("C", 1e-2, 1e2, log=True)}
        else:
            strength = {"alpha": trial.suggest_float("alpha", 1e-2, 1e2, log=True)}
        max_n = trial.suggest_int("ngram_max", 1, 2)
        return {
            **strength,
            "max_features": trial.suggest_int("max_features", 5_000, 100_000, log=True),
            "ngram_range": (1, max_n),
        }


def _linear(task: Task, params: dict[str, Any], seed: int, defaults: Mapping[str, Any]) -> Any:
    if task.is_classification:
        from sklearn.linear_model import LogisticRegression

        chosen = {"C": defaults["C"], "max_iter": 2000, **params}
        return LogisticRegression(random_state=seed, **chosen)
    from sklearn.linear_model import Ridge

    return Ridge(random_state=seed, **{"alpha": defaults["alpha"], **params})


register(TfidfLinearFamily())
