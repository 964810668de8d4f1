"""Gradient-boosted trees with LightGBM.

Usually the most accurate family on tabular data past a few hundred rows, fast to train and to
serve. It splits on missing values and on pandas ``category`` columns natively, so it needs
neither imputation nor one-hot encoding.

Boosting trains iteratively, so the family overrides :meth:`ModelFamily.fit`: every boosting
round is reported through ``on_iteration`` with the validation loss (the objective's native
metric: ``binary_logloss``, ``multi_logloss`` or ``l2``), the callback can stop training, and
``early_stopping_rounds`` stops when the validation loss has not improved. The training loss
is read from the booster's own running scores of the training rows (no prediction), but
computing it still walks every training row, which on a small tree costs as much as a good
part of the round itself: it is measured on round 1 and every ``train_loss_every``-th round.
Models are deterministic for a seed (``deterministic=True``, single-threaded unless ``n_jobs``
is given: parallelism comes from the executors).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from modelcycle.errors import invalid_value
from modelcycle.models._base import FamilyInfo, IterationCallback, ModelFamily, Task
from modelcycle.models._catalog import register
from modelcycle.models._params import check_params

__all__ = ["LightGBMFamily"]

_PARAMS = {
    "n_estimators",
    "learning_rate",
    "num_leaves",
    "max_depth",
    "min_child_samples",
    "min_child_weight",
    "min_split_gain",
    "subsample",
    "subsample_freq",
    "colsample_bytree",
    "reg_alpha",
    "reg_lambda",
    "max_bin",
    "n_jobs",
}
_CLASSIFIER_ONLY = {"class_weight"}
_TRAIN, _VAL = "train", "val"


class LightGBMFamily(ModelFamily):
    """LGBMClassifier / LGBMRegressor with per-iteration reporting and early stopping."""

    info = FamilyInfo(
        name="lightgbm",
        title="Gradient boosting (LightGBM)",
        tasks=frozenset(Task),
        handles_missing=True,
        handles_categorical=True,
        latency_us_per_row=6.0,
        size_kb=350.0,
        min_rows=200,
        notes="native NaN and pandas category handling; early stopping on validation loss",
        defaults={"n_estimators": 100, "learning_rate": 0.1, "num_leaves": 31, "n_jobs": 1},
    )
    labels_from_proba = True  # LGBMClassifier.predict is the argmax of predict_proba

    def build(self, task: Task, params: Mapping[str, Any], seed: int) -> Any:
        """LGBMClassifier or LGBMRegressor, silent and deterministic for ``seed``."""
        allowed = _PARAMS | _CLASSIFIER_ONLY if task.is_classification else _PARAMS
        chosen = {**self.info.defaults, **check_params(self.info.name, params, allowed)}
        fixed: dict[str, Any] = {
            "random_state": seed,
            "verbose": -1,
            "deterministic": True,
            "force_col_wise": True,
        }
        if task.is_classification:
            from lightgbm import LGBMClassifier

            return LGBMClassifier(**fixed, **chosen)
        from lightgbm import LGBMRegressor

        return LGBMRegressor(**fixed, **chosen)

    def search_space(self, trial: Any, task: Task) -> dict[str, Any]:
        """Leaves, learning rate (log), rounds, leaf size, row/column sampling, L2 (log)."""
        return {
            "num_leaves": trial.suggest_int("num_leaves", 7, 255, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "n_estimators": trial.suggest_int("n_estimators", 50, 1000, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 5, 100, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "subsample_freq": 1,
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        }

    def fit(
        self,
        estimator: Any,
        x: Any,
        y: Any,
        *,
        x_val: Any = None,
        y_val: Any = None,
        sample_weight: Any = None,
        on_iteration: IterationCallback | None = None,
        early_stopping_rounds: int | None = None,
        train_loss_every: int | None = 1,
    ) -> Any:
        """Fit, reporting each round to ``on_iteration`` as ``(round, metrics)``.

        ``round`` counts from 1 (the number of trees so far, as ``best_iteration_`` does);
        ``metrics`` holds ``val_loss`` and ``val_<metric>`` when ``x_val``/``y_val`` are
        given, plus ``train_loss`` and ``train_<metric>`` on round 1 and every
        ``train_loss_every``-th round (None: never). ``on_iteration`` returning True stops
        training after that round. ``early_stopping_rounds`` needs a validation set; the
        fitted model then predicts with its best round (``best_iteration_``).
        """
        import lightgbm

        if (x_val is None) != (y_val is None):
            raise invalid_value("x_val/y_val", "one of them", "give both or neither")
        has_val = x_val is not None
        if early_stopping_rounds is not None and not has_val:
            raise invalid_value(
                "early_stopping_rounds", early_stopping_rounds, "needs a validation set (x_val)"
            )
        callbacks: list[Any] = []
        if on_iteration is not None:
            callbacks.append(_Reporter(on_iteration, train_loss_every))
        if early_stopping_rounds is not None:
            callbacks.append(lightgbm.early_stopping(early_stopping_rounds, verbose=False))
        if not has_val:
            return estimator.fit(x, y, sample_weight=sample_weight, callbacks=callbacks)
        with warnings.catch_warnings():
            # LightGBM 4.7 deprecates eval_set for eval_X/eval_y, but LGBMClassifier does not
            # label-encode eval_y (lightgbm-org/LightGBM#7400): validation metrics would be
            # wrong for labels other than 0..n-1. Keep eval_set until that is fixed.
            # (its LGBMDeprecationWarning is not a FutureWarning: match the message alone)
            warnings.filterwarnings("ignore", "The argument 'eval_set' is deprecated")
            return estimator.fit(
                x,
                y,
                sample_weight=sample_weight,
                eval_set=[(x_val, y_val)],
                eval_names=[_VAL],
                callbacks=callbacks,
            )


class _Reporter:
    """LightGBM callback: every round's metrics to ``on_iteration``; True from it stops.

    The validation metrics come from LightGBM's evaluation of the eval set; the training
    metrics, on the rounds ``train_loss_every`` picks, from ``Booster.eval_train`` (the
    booster's cached scores of the training rows: the same values an eval set holding the
    training data gives, without paying for them every round). Runs before LightGBM's own
    early-stopping callback (callbacks without an ``order`` run first), so the last round is
    reported even when early stopping ends training.
    """

    def __init__(self, on_iteration: IterationCallback, train_loss_every: int | None) -> None:
        self.on_iteration, self.every = on_iteration, train_loss_every

    def __call__(self, env: Any) -> None:
        step = env.iteration - env.begin_iteration + 1
        results: list[Any] = list(env.evaluation_result_list or [])
        if self.every is not None and (step == 1 or step % self.every == 0):
            results = [(_TRAIN, *result[1:]) for result in env.model.eval_train()] + results
        if self.on_iteration(step, _metrics(results)):
            from lightgbm.callback import EarlyStopException

            raise EarlyStopException(env.iteration, results)


def _metrics(results: Sequence[Any]) -> dict[str, float]:
    """``{"train_loss", "train_binary_logloss", "val_loss", ...}`` from LightGBM results.

    Results are ``(dataset, metric, value, higher_is_better)``; the first metric of a data set
    is the objective's own loss, reported also as ``<dataset>_loss``.
    """
    metrics: dict[str, float] = {}
    for result in results:
        dataset, metric, value = str(result[0]), str(result[1]), float(result[2])
        metrics.setdefault(f"{dataset}_loss", value)
        metrics[f"{dataset}_{metric}"] = value
    return metrics


register(LightGBMFamily())
