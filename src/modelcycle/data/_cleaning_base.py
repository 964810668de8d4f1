"""The base class of the cleaning steps and the small helpers every step shares.

:class:`CleaningStep` gives each step the estimator shape (``fit`` returns ``self``, learned
state in attributes ending in ``_``) and counts the rows a step drops itself. It lives apart
from the steps so that steps in modules of their own (:mod:`._cleaning_coerce`) and the
registry in :mod:`._cleaning_steps` can both import it without importing each other.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd
from pydantic import ValidationError

from modelcycle.data._cleaning import BaseStepConfig, StepReport
from modelcycle.errors import InvalidValueError, invalid_value

__all__ = ["CleaningStep"]

_S = TypeVar("_S", bound="CleaningStep")


def _check_columns(df: pd.DataFrame, columns: list[str], setting: str) -> None:
    known = set(df.columns)
    for column in columns:
        if column not in known:
            shown = ", ".join(map(str, list(df.columns)[:20]))
            raise invalid_value(setting, column, f"no such column (the data has: {shown})")


def _rows(df: pd.DataFrame, keep: np.ndarray[Any, Any]) -> pd.DataFrame:
    """The rows of ``df`` where ``keep`` is True (index labels kept, so rows stay traceable)."""
    if keep.all():
        return df  # no copy of a frame that loses nothing
    kept: pd.DataFrame = df.loc[keep]
    return kept


class CleaningStep(abc.ABC):
    """A cleaning step with the estimator shape: ``fit(df) -> self``, ``transform(df)``.

    Subclasses store their keyword-only parameters unchanged (named like their config's
    fields), learn in ``_fit`` and change the frame in ``_apply``, filling in the report.
    """

    config_type: ClassVar[type[BaseStepConfig]]

    def get_params(self) -> dict[str, Any]:
        """The parameters, as given."""
        return {
            name: getattr(self, name) for name in self.config_type.model_fields if name != "type"
        }

    def config(self) -> BaseStepConfig:
        """The parameters validated as this step's config (raises on incoherent settings)."""
        try:
            return self.config_type(**self.get_params())
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join([type(self).__name__, *map(str, first["loc"])])
            message = str(first["msg"]).removeprefix("Value error, ")
            raise InvalidValueError(f"{where}: {message}") from None

    def fit(self: _S, df: pd.DataFrame) -> _S:
        """Check the frame against the parameters and learn what the step needs."""
        self.config()
        self._fit(df)
        return self

    def transform(self, df: pd.DataFrame) -> tuple[pd.DataFrame, StepReport]:
        """The cleaned frame (``df`` itself is left unchanged) and what changed."""
        if not hasattr(self, "columns_"):
            raise InvalidValueError(f"{type(self).__name__} is not fitted: call fit(df) first")
        report = StepReport(step=self.config().model_dump(mode="json"), rows_in=len(df))
        out = self._apply(df, report)
        if out is df:  # a frame of its own: changing it must never change the caller's
            out = df.copy(deep=False)
        report.rows_out = len(out)
        report.rows_dropped = report.rows_in - report.rows_out
        if not report.rows_dropped:
            report.reason, report.rows_flagged = "", {}
        return out, report

    def fit_transform(self, df: pd.DataFrame) -> tuple[pd.DataFrame, StepReport]:
        """``fit(df)`` then ``transform(df)``."""
        return self.fit(df).transform(df)

    @abc.abstractmethod
    def _fit(self, df: pd.DataFrame) -> None:
        """Learn from ``df``; must set ``columns_``."""

    @abc.abstractmethod
    def _apply(self, df: pd.DataFrame, report: StepReport) -> pd.DataFrame:
        """Return the changed frame; record reasons and per-column changes in ``report``."""
