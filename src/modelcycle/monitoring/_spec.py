"""The monitoring spec: windows, drift settings and alert rules, as YAML validated once.

    windows: {by: time, size: 1h}         # or {by: count, size: 5000}
    reference: dataset:churn-train@3f2a   # optional: overrides each version's training profile
    drift: {thresholds: {wasserstein: 0.2}, drift_share: 0.5}
    min_labels: 30
    cooldown: 1h                          # default cooldown of every rule
    webhook: {url: "http://alerts.local/hook", timeout_seconds: 5}
    metrics_url: "http://127.0.0.1:8080/metrics"   # optional: error_rate without a log
    rules:
      - {type: drift_share, threshold: 0.3}
      - {type: prediction_drift}
      - {type: metric_drop, metric: roc_auc, min_drop: 0.02}
      - {type: latency_p99, threshold_ms: 250}
      - {type: error_rate, threshold: 0.05, min_requests: 20}

Read with :func:`load_monitor_spec` (errors name the file, line and key, as every spec file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelcycle._yamlspec import load_model

__all__ = [
    "DriftShareRule",
    "ErrorRateRule",
    "LatencyRule",
    "MetricDropRule",
    "MonitorSpec",
    "PredictionDriftRule",
    "Rule",
    "load_monitor_spec",
]

Severity = Literal["info", "warning", "critical"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Rule(_Spec):
    type: str
    name: str | None = Field(default=None, min_length=1, max_length=200)
    severity: Severity = "warning"
    cooldown: str | None = None

    @field_validator("cooldown")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            _size("time", value)
        return value

    @property
    def label(self) -> str:
        """The rule's name in alerts (its ``name``, else its type)."""
        return self.name or self.type


class DriftShareRule(_Rule):
    """Fires when the share of drifted input features in a window is >= ``threshold``."""

    type: Literal["drift_share"]
    threshold: float = Field(default=0.5, gt=0, le=1)


class PredictionDriftRule(_Rule):
    """Fires when a window's outputs drift from the version's baseline window."""

    type: Literal["prediction_drift"]


class MetricDropRule(_Rule):
    """Fires when a labelled window's ``metric`` (any interval metric when None) is outside
    the version's bootstrap interval on the bad side, by at least ``min_drop``."""

    type: Literal["metric_drop"]
    metric: str | None = None
    min_drop: float = Field(default=0.0, ge=0)


class LatencyRule(_Rule):
    """Fires when a window's p99 latency (from the prediction log) exceeds ``threshold_ms``."""

    type: Literal["latency_p99"]
    threshold_ms: float = Field(gt=0)


class ErrorRateRule(_Rule):
    """Fires when a window's error rate (failed / all requests, from the prediction log) is
    >= ``threshold`` over at least ``min_requests`` requests. Without any window from the log
    (the server does not log), the server's counters on ``metrics_url`` are read instead:
    errors / (errors + answers) since it started."""

    type: Literal["error_rate"]
    threshold: float = Field(gt=0, le=1)
    min_requests: int = Field(default=1, ge=1)


Rule = Annotated[
    DriftShareRule | PredictionDriftRule | MetricDropRule | LatencyRule | ErrorRateRule,
    Field(discriminator="type"),
]


class Windows(_Spec):
    """How the prediction log is cut: ``by`` time (``size`` a duration such as ``1h``) or
    count (``size`` rows)."""

    by: Literal["time", "count"] = "time"
    size: str | int = "1h"

    @model_validator(mode="after")
    def _size_fits(self) -> Windows:
        _size(self.by, self.size)
        return self


class Webhook(_Spec):
    """Where fired alerts are POSTed as JSON."""

    url: str = Field(pattern=r"^https?://")
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)


class MonitorSpec(_Spec):
    """The whole monitoring spec (see the module docstring); the default has two rules:
    half the features drifting, and any headline metric below its interval."""

    windows: Windows = Field(default_factory=Windows)
    reference: str | None = None
    drift: dict[str, object] = Field(default_factory=dict)
    min_labels: int = Field(default=30, ge=1)
    cooldown: str = "1h"
    webhook: Webhook | None = None
    metrics_url: str | None = Field(default=None, pattern=r"^https?://")
    rules: list[Rule] = Field(default_factory=lambda: _default_rules())

    @field_validator("cooldown")
    @classmethod
    def _duration(cls, value: str) -> str:
        _size("time", value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MonitorSpec:
        names = [rule.label for rule in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"rule names must be unique (got {names}); give each a name")
        return self


def _default_rules() -> list[Rule]:
    return [DriftShareRule(type="drift_share"), MetricDropRule(type="metric_drop")]


def _size(by: str, value: str | int) -> int:
    """A window size or duration in pydantic's terms (a ValueError names the problem)."""
    from modelcycle.errors import InvalidValueError
    from modelcycle.monitoring._windows import parse_size

    try:
        return parse_size(by, value)
    except InvalidValueError as exc:
        raise ValueError(str(exc)) from None


def load_monitor_spec(path: str | Path) -> MonitorSpec:
    """The monitoring spec in the YAML file at ``path``."""
    return load_model(MonitorSpec, path)
