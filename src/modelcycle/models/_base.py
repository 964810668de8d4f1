"""The model-family interface: what every family in the catalog declares and builds.

A family is a kind of model (logistic regression, LightGBM, a CNN ...). It declares what it
suits, so the selector can reason about it, and builds scikit-learn compatible estimators
(``fit``, ``predict``, ``predict_proba`` for classifiers) from plain keyword hyperparameters,
so cloning, tuning and tracking treat every family alike. Its default search space is an
Optuna function the spec can override.

    family = get_family("lightgbm")
    family.info.interpretable          # False
    model = family.build("binary", {"num_leaves": 31}, seed=0)
"""

from __future__ import annotations

import abc
import enum
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = ["FamilyInfo", "IterationCallback", "ModelFamily", "Task"]

#: ``callback(iteration, metrics)``: called after each iteration or epoch with the training
#: loss and validation metrics of that iteration (the training loss only on the iterations
#: ``train_loss_every`` asks for); returning True asks the fit to stop.
IterationCallback = Callable[[int, dict[str, float]], "bool | None"]


class Task(str, enum.Enum):
    """What is predicted."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"

    @property
    def is_classification(self) -> bool:
        """Binary or multiclass."""
        return self is not Task.REGRESSION


@dataclass(frozen=True)
class FamilyInfo:
    """What a family suits, for selection and for people.

    ``latency_us_per_row`` and ``size_kb`` are typical orders of magnitude for a model trained
    on a few thousand rows of tabular data (measured, not promised); ``inputs`` says what data
    the family takes: ``tabular``, ``text`` or ``image``.
    """

    name: str
    title: str
    tasks: frozenset[Task]
    inputs: str = "tabular"
    handles_missing: bool = False
    handles_categorical: bool = False
    latency_us_per_row: float = 10.0
    size_kb: float = 10.0
    interpretable: bool = False
    min_rows: int = 10
    needs: tuple[str, ...] = ()  # optional extras, e.g. ("torch",)
    notes: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "title": self.title,
            "tasks": sorted(t.value for t in self.tasks),
            "inputs": self.inputs,
            "handles_missing": self.handles_missing,
            "handles_categorical": self.handles_categorical,
            "latency_us_per_row": self.latency_us_per_row,
            "size_kb": self.size_kb,
            "interpretable": self.interpretable,
            "min_rows": self.min_rows,
            "needs": list(self.needs),
            "notes": self.notes,
            "defaults": dict(self.defaults),
        }


class ModelFamily(abc.ABC):
    """One family of the catalog: its declaration, its estimator and its search space."""

    info: ClassVar[FamilyInfo]
    #: True when the estimator's predicted class is always the column of ``predict_proba``
    #: with the highest probability (ties to the first): scoring then derives the labels from
    #: one ``predict_proba`` call instead of predicting twice.
    labels_from_proba: ClassVar[bool] = False

    @abc.abstractmethod
    def build(self, task: Task, params: Mapping[str, Any], seed: int) -> Any:
        """An unfitted scikit-learn compatible estimator for ``task`` with ``params``
        (unknown params raise InvalidValueError naming them)."""

    @abc.abstractmethod
    def search_space(self, trial: Any, task: Task) -> dict[str, Any]:
        """Default Optuna search space: suggest and return hyperparameters for ``trial``."""

    def available(self) -> str | None:
        """None when the family can be used here, else why not (e.g. a missing extra)."""
        return None

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
        """Fit ``estimator`` and return it fitted.

        Families that train iteratively (boosting, neural networks) override this to report
        every iteration through ``on_iteration`` (training loss, validation metrics) and to
        stop early when the validation metric has not improved for ``early_stopping_rounds``.
        A family that measures the training loss with a pass over the training rows does so
        at the first iteration and every ``train_loss_every``-th one (None: never); one that
        gets it for free (an epoch's mean batch loss) may report it every iteration.
        The default fits in one call, passing ``sample_weight`` when the estimator takes it.
        """
        if sample_weight is not None and _accepts(estimator.fit, "sample_weight"):
            return estimator.fit(x, y, sample_weight=sample_weight)
        return estimator.fit(x, y)


def _accepts(function: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
