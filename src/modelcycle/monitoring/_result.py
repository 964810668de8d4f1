"""The drift snapshot: what a drift check found, as JSON-serialisable data.

The HTML report, the CLI's ``--json`` and (next) stored windows and alerts all read a
:class:`DriftSnapshot`; none of them recomputes a statistic.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from modelcycle.errors import DataError, NotFoundError

__all__ = ["Chart", "ColumnDrift", "DomainDrift", "DriftSnapshot", "SkippedColumn"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Chart(_Frozen):
    """Reference and current distributions on shared bins, as shares: numeric columns have
    ``edges`` (one more than the shares; the end bins hold the tails), categorical columns
    ``labels`` (the most frequent categories, then ``(rest)``)."""

    edges: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()
    reference: tuple[float, ...]
    current: tuple[float, ...]


class ColumnDrift(_Frozen):
    """One column's verdict. ``test`` is the test the verdict rests on: for ``ks`` and
    ``chisquare`` drift means ``statistic < threshold``, where ``statistic`` is the p-value
    adjusted for testing many columns (Benjamini-Hochberg, unless the detector's ``correction``
    is ``"none"``) and ``p_value`` the raw one; for ``wasserstein`` (normalized by the
    reference standard deviation), ``jensenshannon`` and ``psi`` it means
    ``statistic >= threshold``. ``effect_size`` (named by ``effect_measure``) is reported
    beside every p-value; ``scores`` holds every statistic computed for the column."""

    column: str
    kind: Literal["numeric", "categorical"]
    test: str
    threshold: float
    statistic: float
    p_value: float | None
    effect_measure: str
    effect_size: float
    drifted: bool
    scores: dict[str, float]
    reference_rows: int
    current_rows: int
    reference_missing: int
    current_missing: int
    chart: Chart


class SkippedColumn(_Frozen):
    """A column that was not tested, and why (nothing is dropped silently)."""

    column: str
    reason: str


class DomainDrift(_Frozen):
    """Multivariate drift: ROC AUC of a classifier told to separate reference rows from
    current rows (cross-validated); 0.5 means indistinguishable."""

    roc_auc: float
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int


class DriftSnapshot(_Frozen):
    """A whole drift check: per-column verdicts and the dataset verdict (``dataset_drift``
    when the share of drifted columns is at least ``drift_share``)."""

    format_version: Literal[1] = 1
    reference_rows: int
    current_rows: int
    drift_share: float
    tested_columns: int
    drifted_columns: int
    share_drifted: float
    dataset_drift: bool
    columns: tuple[ColumnDrift, ...]
    skipped: tuple[SkippedColumn, ...] = ()
    multivariate: DomainDrift | None = None

    def __getitem__(self, name: str) -> ColumnDrift:
        for column in self.columns:
            if column.column == name:
                return column
        names = [column.column for column in self.columns]
        raise NotFoundError(f"column {name!r} is not in the drift result (columns: {names})")

    @property
    def drifted(self) -> list[str]:
        """Names of the drifted columns, in order."""
        return [column.column for column in self.columns if column.drifted]

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``json.dumps(snapshot.to_dict())`` stores it."""
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        """The JSON text of :meth:`to_dict` (strict JSON: no NaN or infinity)."""
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftSnapshot:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise DataError(f"invalid drift snapshot: {where}: {first['msg']}") from None
