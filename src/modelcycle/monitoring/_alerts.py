"""Alert rules evaluated once: the check behind ``modelcycle monitor check`` and cron jobs.

:func:`check` brings the model's windows up to date (:func:`monitor_windows`), then judges
every rule of the :class:`MonitorSpec` on the newest stored window of each version
(``error_rate`` on the operations window's error rate from the prediction log; when no window
has one, as for a server that does not log, on the server's counters scraped from
``metrics_url`` if the spec gives it). A rule whose condition holds **fires**; it is then:

- a **duplicate** when the last alert with the same fingerprint (model, rule, version) was
  about the same window: nothing new happened, nothing is recorded;
- **cooling down** when that last alert is younger than the rule's cooldown: counted, not sent;
- else **new**: recorded in ``alerts``, logged (logger ``modelcycle.monitoring``, WARNING) and
  POSTed as JSON to the webhook, whose outcome (``HTTP 200`` or the error) is recorded too.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from modelcycle.monitoring._spec import (
    DriftShareRule,
    ErrorRateRule,
    LatencyRule,
    MetricDropRule,
    MonitorSpec,
    PredictionDriftRule,
)

if TYPE_CHECKING:
    from modelcycle.store._monitoring import WindowRecord
    from modelcycle.tracking import Client

__all__ = ["CheckResult", "Firing", "check"]

logger = logging.getLogger("modelcycle.monitoring")


@dataclass(frozen=True)
class Firing:
    """A rule whose condition holds; ``status`` is ``new``, ``duplicate`` or ``cooldown``."""

    rule: str
    severity: str
    version: int | None
    value: float | None
    threshold: float | None
    message: str
    window_id: int | None
    fingerprint: str
    status: str = "new"
    alert_id: int | None = None
    delivery: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (for ``--json`` and the webhook)."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class CheckResult:
    """One evaluation of the rules: windows computed now, and every firing rule."""

    model: str
    new_windows: int
    pending_rows: int
    firing: list[Firing] = field(default_factory=list)

    @property
    def fired(self) -> bool:
        """True when any rule's condition holds (new, duplicate or cooling down)."""
        return bool(self.firing)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "model": self.model,
            "new_windows": self.new_windows,
            "pending_rows": self.pending_rows,
            "fired": self.fired,
            "firing": [f.to_dict() for f in self.firing],
        }


def _newest(client: Client, model: str, kind: str) -> list[WindowRecord]:
    """The newest stored window of ``kind`` per version of ``model``."""
    newest: dict[int | None, WindowRecord] = {}
    for window in client.metadata.monitoring.windows(model, kind=kind):
        newest[window.version] = window
    return list(newest.values())


def _fingerprint(model: str, rule: str, version: int | None) -> str:
    return hashlib.sha256(f"{model}\x00{rule}\x00{version}".encode()).hexdigest()[:32]


def _firing(model: str, rule: Any, window: WindowRecord | None, **found: Any) -> Firing:
    version = None if window is None else window.version
    return Firing(
        rule=rule.label,
        severity=rule.severity,
        version=version,
        window_id=None if window is None else window.window_id,
        fingerprint=_fingerprint(model, rule.label, version),
        **found,
    )


def _drift(model: str, rule: Any, window: WindowRecord) -> Firing | None:
    if isinstance(rule, DriftShareRule):
        features = window.snapshot["features"]
        share = float(features["share_drifted"])
        if share < rule.threshold:
            return None
        drifted = [c["column"] for c in features["columns"] if c["drifted"]]
        text = f"{share:.0%} of features drifted ({', '.join(drifted[:5])})"
        return _firing(model, rule, window, value=share, threshold=rule.threshold, message=text)
    outputs = window.snapshot.get("predictions")
    if not outputs or not outputs["dataset_drift"]:
        return None
    drifted = [c["column"] for c in outputs["columns"] if c["drifted"]]
    text = f"predictions drifted from the baseline window ({', '.join(drifted)})"
    return _firing(
        model, rule, window, value=outputs["share_drifted"], threshold=None, message=text
    )


def _quality(model: str, rule: MetricDropRule, window: WindowRecord) -> list[Firing]:
    found = []
    for name in window.snapshot.get("degraded", []):
        compared = window.snapshot["compared"][name]
        if (rule.metric is not None and name != rule.metric) or compared["drop"] < rule.min_drop:
            continue
        maximize = compared["direction"] == "maximize"
        bound = compared["alarm_low"] if maximize else compared["alarm_high"]
        text = (
            f"{name} {compared['window']:.4g} on {window.snapshot['labelled_rows']} labelled rows "
            f"is {'below' if maximize else 'above'} {bound:.4g} (test {compared['test']:.4g}, "
            f"interval [{compared['low']:.4g}, {compared['high']:.4g}] widened for the window)"
        )
        found.append(
            _firing(model, rule, window, value=compared["window"], threshold=bound, message=text)
        )
    return found


def _latency(model: str, rule: LatencyRule, window: WindowRecord) -> Firing | None:
    p99 = window.snapshot["latency_ms"]["p99"]
    if p99 is None or p99 <= rule.threshold_ms:
        return None
    text = f"p99 latency {p99:.1f} ms over {window.snapshot['logged_requests']} requests"
    return _firing(model, rule, window, value=p99, threshold=rule.threshold_ms, message=text)


def _window_errors(model: str, rule: ErrorRateRule, window: WindowRecord) -> Firing | None:
    ops = window.snapshot
    rate = ops["error_rate"]
    if rate is None or ops["requests"] < rule.min_requests or rate < rule.threshold:
        return None
    statuses = ", ".join(f"{n:.0f} x {s}" for s, n in ops["errors_by_status"].items())
    text = (
        f"error rate {rate:.1%} ({ops['errors']:.0f} of {ops['requests']:.0f} requests failed: "
        f"{statuses}) from {window.start:%Y-%m-%d %H:%M} to {window.end:%Y-%m-%d %H:%M} UTC"
    )
    return _firing(model, rule, window, value=rate, threshold=rule.threshold, message=text)


def _error_rates(client: Client, model: str, rule: ErrorRateRule, spec: MonitorSpec) -> list[Any]:
    """The rule on each version's newest window from the log, else on the server's counters."""
    logged = [w for w in _newest(client, model, "operations") if "error_rate" in w.snapshot]
    if logged:
        return [_window_errors(model, rule, w) for w in logged]
    if spec.metrics_url is not None:
        return [_error_rate(model, rule, spec.metrics_url)]
    return []


def _error_rate(model: str, rule: ErrorRateRule, url: str) -> Firing | None:
    from modelcycle.monitoring._scrape import error_rate

    rate, errors, answered = error_rate(url, model)
    if rate is None or rate < rule.threshold:
        return None
    text = f"error rate {rate:.1%} ({errors:.0f} errors, {answered:.0f} answers) on {url}"
    return _firing(model, rule, None, value=rate, threshold=rule.threshold, message=text)


def _judge(client: Client, model: str, spec: MonitorSpec) -> list[tuple[Any, Firing]]:
    found: list[tuple[Any, Firing]] = []
    for rule in spec.rules:
        hits: list[Firing | None] = []
        if isinstance(rule, (DriftShareRule, PredictionDriftRule)):
            hits = [_drift(model, rule, w) for w in _newest(client, model, "drift")]
        elif isinstance(rule, MetricDropRule):
            hits = [f for w in _newest(client, model, "quality") for f in _quality(model, rule, w)]
        elif isinstance(rule, LatencyRule):
            hits = [_latency(model, rule, w) for w in _newest(client, model, "operations")]
        elif isinstance(rule, ErrorRateRule):
            hits = _error_rates(client, model, rule, spec)
        found += [(rule, hit) for hit in hits if hit is not None]
    return found


def _deliver(spec: MonitorSpec, model: str, firing: Firing) -> str | None:
    if spec.webhook is None:
        return None
    import httpx

    payload = {"model": model, **firing.to_dict()}
    try:
        response = httpx.post(spec.webhook.url, json=payload, timeout=spec.webhook.timeout_seconds)
    except httpx.HTTPError as exc:
        return f"error: {type(exc).__name__}: {exc}"[:256]
    return f"HTTP {response.status_code}"


def _cooldown(spec: MonitorSpec, rule: Any) -> timedelta:
    from modelcycle.monitoring._windows import parse_size

    return timedelta(milliseconds=parse_size("time", rule.cooldown or spec.cooldown))


def check(
    client: Client,
    model: str,
    spec: MonitorSpec | None = None,
    *,
    now: datetime | None = None,
) -> CheckResult:
    """Update the windows of ``model`` and evaluate ``spec``'s rules once (see the module
    docstring); ``now`` is the clock (closes windows, measures cooldowns)."""
    from modelcycle.monitoring._windows import monitor_windows

    spec = spec or MonitorSpec()
    now = now or datetime.now(timezone.utc)
    windows = monitor_windows(
        client,
        model,
        by=spec.windows.by,
        size=spec.windows.size,
        reference=spec.reference,
        drift=dict(spec.drift),
        min_labels=spec.min_labels,
        now=now,
    )
    repo = client.metadata.monitoring
    firing = []
    for rule, hit in _judge(client, model, spec):
        last = repo.last_alert(hit.fingerprint)
        if last is not None and hit.window_id is not None and last.window_id == hit.window_id:
            firing.append(_replace(hit, status="duplicate", alert_id=last.alert_id))
        elif last is not None and now - last.fired_at < _cooldown(spec, rule):
            firing.append(_replace(hit, status="cooldown", alert_id=last.alert_id))
        else:
            firing.append(_record(client, spec, model, hit, now))
    return CheckResult(model, len(windows.windows), windows.pending_rows, firing)


def _replace(firing: Firing, **changes: Any) -> Firing:
    return Firing(**{**firing.__dict__, **changes})


def _record(client: Client, spec: MonitorSpec, model: str, hit: Firing, now: datetime) -> Firing:
    logger.warning(
        "alert %s [%s] %s@%s: %s", hit.rule, hit.severity, model, hit.version, hit.message
    )
    delivery = _deliver(spec, model, hit)
    saved = client.metadata.monitoring.add_alert(
        model,
        rule=hit.rule,
        severity=hit.severity,
        fingerprint=hit.fingerprint,
        message=hit.message,
        value=hit.value,
        threshold=hit.threshold,
        version=hit.version,
        window_id=hit.window_id,
        fired_at=now,
        delivery=delivery,
    )
    return _replace(hit, alert_id=saved.alert_id, delivery=delivery)
