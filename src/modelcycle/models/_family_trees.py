"""Decision trees and random forests (scikit-learn).

A shallow decision tree is the other interpretable baseline next to linear models: its rules can
be read and it captures interactions and thresholds a linear model cannot. A random forest trades
that readability for accuracy and robustness with little tuning, and is often the strongest
family on small tabular data sets.

Both need no scaling, and since scikit-learn 1.4 both split on missing values (NaN) natively for
every criterion, so they declare ``handles_missing``. Categories still need encoding. Forests
train with ``n_jobs=1``: parallelism comes from the executors running trials and folds side by
side, not from threads inside one fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelcycle.models._base import FamilyInfo, ModelFamily, Task
from modelcycle.models._catalog import register
from modelcycle.models._params import check_params

__all__ = ["DecisionTreeFamily", "RandomForestFamily"]

_TREE = {
    "max_depth",
    "min_samples_leaf",
    "min_samples_split",
    "criterion",
    "max_features",
    "max_leaf_nodes",
    "ccp_alpha",
}
_FOREST = _TREE | {"n_estimators", "bootstrap", "max_samples", "n_jobs"}
_CLASSIFIER_ONLY = {"class_weight"}
_CRITERIA = {
    True: ["gini", "entropy"],  # classification
    False: ["squared_error", "absolute_error"],  # regression
}


def _allowed(base: set[str], task: Task) -> set[str]:
    return base | _CLASSIFIER_ONLY if task.is_classification else base


class DecisionTreeFamily(ModelFamily):
    """DecisionTreeClassifier / DecisionTreeRegressor, shallow by default so it stays readable."""

    info = FamilyInfo(
        name="decision_tree",
        title="Decision tree",
        tasks=frozenset(Task),
        handles_missing=True,
        latency_us_per_row=0.5,
        size_kb=10.0,
        interpretable=True,
        min_rows=50,
        notes="readable if/then rules (max_depth 5 by default); handles NaN natively",
        defaults={"max_depth": 5, "min_samples_leaf": 5},
    )

    def build(self, task: Task, params: Mapping[str, Any], seed: int) -> Any:
        """DecisionTreeClassifier or DecisionTreeRegressor with the family defaults."""
        chosen = {
            **self.info.defaults,
            **check_params(self.info.name, params, _allowed(_TREE, task)),
        }
        if task.is_classification:
            from sklearn.tree import DecisionTreeClassifier

            return DecisionTreeClassifier(random_state=seed, **chosen)
        from sklearn.tree import DecisionTreeRegressor

        return DecisionTreeRegressor(random_state=seed, **chosen)

    def search_space(self, trial: Any, task: Task) -> dict[str, Any]:
        """max_depth, min_samples_leaf (log) and the split criterion."""
        return {
            "max_depth": trial.suggest_int("max_depth", 2, 12),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 50, log=True),
            "criterion": trial.suggest_categorical("criterion", _CRITERIA[task.is_classification]),
        }


class RandomForestFamily(ModelFamily):
    """RandomForestClassifier / RandomForestRegressor, single-threaded (executors parallelise)."""

    info = FamilyInfo(
        name="random_forest",
        title="Random forest",
        tasks=frozenset(Task),
        handles_missing=True,
        latency_us_per_row=10.0,
        size_kb=6000.0,
        min_rows=50,
        notes="robust with little tuning; large on disk (fully grown trees); handles NaN natively",
        defaults={"n_estimators": 100, "n_jobs": 1},
    )

    def build(self, task: Task, params: Mapping[str, Any], seed: int) -> Any:
        """RandomForestClassifier or RandomForestRegressor with ``n_jobs=1`` unless given."""
        allowed = _allowed(_FOREST, task)
        chosen = {**self.info.defaults, **check_params(self.info.name, params, allowed)}
        if task.is_classification:
            from sklearn.ensemble import RandomForestClassifier

            return RandomForestClassifier(random_state=seed, **chosen)
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(random_state=seed, **chosen)

    def search_space(self, trial: Any, task: Task) -> dict[str, Any]:
        """n_estimators, max_depth (log), min_samples_leaf (log) and max_features."""
        return {
            "n_estimators": trial.suggest_int("n_estimators", 50, 400, step=50),
            "max_depth": trial.suggest_int("max_depth", 3, 32, log=True),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 20, log=True),
            "max_features": trial.suggest_categorical("max_features", ["sqrt", "log2", 0.5, 1.0]),
        }


register(DecisionTreeFamily())
register(RandomForestFamily())
