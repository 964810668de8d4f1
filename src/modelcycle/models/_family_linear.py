"""Linear and logistic regression with regularization (scikit-learn).

The interpretable baseline every selection should consider: fast to train and to serve, small,
and its coefficients explain it. Needs scaled, imputed, encoded inputs (the data stage's
preprocessor provides them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelcycle.models._base import FamilyInfo, ModelFamily, Task
from modelcycle.models._catalog import register
from modelcycle.models._params import check_params

__all__ = ["LinearFamily"]

_CLASSIFIER = {"C", "l1_ratio", "max_iter", "class_weight"}
_REGRESSOR = {"alpha", "l1_ratio", "max_iter"}


class LinearFamily(ModelFamily):
    """LogisticRegression for classification, ElasticNet (Ridge when l1_ratio=0) for regression.

    Regularization: ``C`` (classification, inverse strength) or ``alpha`` (regression), and
    ``l1_ratio`` from 0 (L2, the default) to 1 (L1).
    """

    info = FamilyInfo(
        name="linear",
        title="Linear / logistic regression (regularized)",
        tasks=frozenset(Task),
        latency_us_per_row=2.0,
        size_kb=2.0,
        interpretable=True,
        notes="coefficients explain the model; needs scaled, encoded, imputed inputs",
        defaults={"C": 1.0, "alpha": 1.0},
    )

    def build(self, task: Task, params: Mapping[str, Any], seed: int) -> Any:
        """LogisticRegression or Ridge/ElasticNet."""
        if task.is_classification:
            from sklearn.linear_model import LogisticRegression

            chosen = check_params(self.info.name, params, _CLASSIFIER)
            chosen.setdefault("max_iter", 2000)
            if chosen.get("l1_ratio", 0.0) > 0.0:  # 0 = ridge (L2), 1 = lasso (L1), between: both
                chosen.setdefault("solver", "saga")
            return LogisticRegression(random_state=seed, **chosen)
        chosen = check_params(self.info.name, params, _REGRESSOR)
        if chosen.get("l1_ratio", 0.0) == 0.0:
            from sklearn.linear_model import Ridge

            chosen.pop("l1_ratio", None)
            chosen.pop("max_iter", None)
            return Ridge(random_state=seed, **chosen)
        from sklearn.linear_model import ElasticNet

        chosen.setdefault("max_iter", 5000)
        return ElasticNet(random_state=seed, **chosen)

    def search_space(self, trial: Any, task: Task) -> dict[str, Any]:
        """C (or alpha) on a log scale."""
        if task.is_classification:
            return {"C": trial.suggest_float("C", 1e-3, 1e2, log=True)}
        return {"alpha": trial.suggest_float("alpha", 1e-4, 1e2, log=True)}


register(LinearFamily())
