"""The ``retrain:`` section of a pipeline spec: when to retrain, and how a challenger wins.

    retrain:
      alias: champion              # the alias the challenger competes for
      when:                        # any policy that fires triggers a retrain
        schedule: "0 3 * * 1"      # cron expression (UTC): due once a fire time has passed
        drift: {share: 0.5, window: 500}   # share of drifted features in the newest rows
        quality: {min_labels: 30}  # a metric below the champion's interval on feedback
        data_volume: 200           # new labelled rows since the last retrain
      holdout: 0.3                 # share of labelled production rows kept for the duel
      min_holdout: 30
      promote: {metric: null, confidence: 0.95}  # default metric: the spec's objective
      rollback: {auto: true, min_labels: 30}     # a promoted challenger that degrades

``schedule`` is due when a time the cron expression names lies between the last retrain
(or, before any, the champion's registration) and now. ``drift`` compares the newest
``window`` logged rows of the champion with its training profile. ``quality`` scores the
champion's labelled rows since it took the alias against its test interval (the bound widens
for the window's size, as in monitoring). ``data_volume`` counts labelled rows received
since the last retrain.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DriftPolicy", "PromoteSpec", "QualityPolicy", "RetrainSpec", "RollbackSpec", "When"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DriftPolicy(_Section):
    """Retrain when at least ``share`` of the features drift in the newest ``window`` rows."""

    share: float = Field(default=0.5, gt=0, le=1)
    window: int = Field(default=500, ge=30)


class QualityPolicy(_Section):
    """Retrain when a metric falls below the champion's test interval on feedback."""

    min_labels: int = Field(default=30, ge=1)


class When(_Section):
    """The retrain policies; none given means only ``modelcycle retrain`` without
    ``--if-needed`` retrains."""

    schedule: str | None = None
    drift: DriftPolicy | None = None
    quality: QualityPolicy | None = None
    data_volume: int | None = Field(default=None, ge=1)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression (e.g. '0 3 * * 1')")
        return value


class PromoteSpec(_Section):
    """How the challenger must beat the champion on the fresh holdout: a paired test on
    ``metric`` (default: the pipeline's objective) whose interval lies above zero."""

    metric: str | None = None
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    resamples: int = Field(default=1000, ge=100)


class RollbackSpec(_Section):
    """After a retrain's promotion: roll back when the new champion's quality drops beyond
    its interval on at least ``min_labels`` labelled rows."""

    auto: bool = False
    min_labels: int = Field(default=30, ge=1)


class RetrainSpec(_Section):
    """The ``retrain:`` section (see the module docstring)."""

    alias: str = Field(default="champion", min_length=1, max_length=128)
    when: When = Field(default_factory=When)
    holdout: float = Field(default=0.3, gt=0, lt=1)
    min_holdout: int = Field(default=30, ge=10)
    promote: PromoteSpec = Field(default_factory=PromoteSpec)
    rollback: RollbackSpec = Field(default_factory=RollbackSpec)
