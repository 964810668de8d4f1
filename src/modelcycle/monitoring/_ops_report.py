"""The monitoring report of a served model: one self-contained HTML file read from the stored
windows and alerts (nothing is recomputed).

Sections: the drift table of each version's newest window, reference vs current distributions
per feature (drifted first), drift scores over time, operations over time (p99 latency,
throughput and error rate, all from the prediction log), quality over time beside the
version's test value, and the alerts.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelcycle.monitoring._report import DRIFT_HEAD, _card, _row
from modelcycle.monitoring._result import DriftSnapshot
from modelcycle.reports import Page, escape, fmt_number, table
from modelcycle.reports._charts import line_chart

if TYPE_CHECKING:
    from modelcycle.store._monitoring import AlertRecord, WindowRecord
    from modelcycle.tracking import Client

__all__ = ["monitoring_report"]


@dataclass(frozen=True)
class _Clock:
    """The charts' time axis: seconds since ``origin`` in the unit that suits the span (a
    demo's windows last seconds, a deployment's hours or days)."""

    origin: float
    label: str = "hours"
    seconds: float = 3600.0

    @classmethod
    def spanning(cls, windows: Sequence[WindowRecord], origin: float) -> _Clock:
        span = max((w.end.timestamp() - origin for w in windows), default=0.0)
        for label, seconds, below in _UNITS:
            if span < below:
                return cls(origin, label, seconds)
        return cls(origin, "days", 86400.0)

    def axis(self, windows: Sequence[WindowRecord]) -> list[float]:
        return [(w.end.timestamp() - self.origin) / self.seconds for w in windows]


_UNITS = (("seconds", 1.0, 180.0), ("minutes", 60.0, 3 * 3600.0), ("hours", 3600.0, 3 * 86400.0))


def _by_version(windows: Sequence[WindowRecord]) -> dict[int | None, list[WindowRecord]]:
    grouped: dict[int | None, list[WindowRecord]] = defaultdict(list)
    for window in windows:
        grouped[window.version].append(window)
    return dict(grouped)


def _series(
    windows: Sequence[WindowRecord], origin: _Clock, value: Any
) -> list[tuple[str, list[float], list[float]]]:
    series = []
    for version, found in sorted(_by_version(windows).items(), key=lambda kv: kv[0] or 0):
        points = [(x, value(w)) for x, w in zip(origin.axis(found), found, strict=True)]
        points = [(x, float(y)) for x, y in points if isinstance(y, (int, float))]
        series.append((f"v{version}", [x for x, _ in points], [y for _, y in points]))
    return series


def _drift_sections(page: Page, drift: Sequence[WindowRecord], origin: _Clock) -> None:
    for version, found in sorted(_by_version(drift).items(), key=lambda kv: kv[0] or 0):
        newest = found[-1]
        snapshot = DriftSnapshot.from_dict(newest.snapshot["features"])
        ordered = sorted(snapshot.columns, key=lambda c: (not c.drifted, c.column))
        when = f"{newest.start:%Y-%m-%d %H:%M} to {newest.end:%Y-%m-%d %H:%M} UTC"
        intro = (
            f"<p>Newest window of v{version}: {escape(when)}, {newest.n_rows:,} rows; "
            f"{snapshot.drifted_columns} of {snapshot.tested_columns} features drifted.</p>"
        )
        rows = table(DRIFT_HEAD, [_row(c) for c in ordered], raw=[True] * len(DRIFT_HEAD))
        page.add(f"Drift per feature (v{version})", intro + rows)
        cards = "".join(_card(column) for column in ordered)
        page.add(
            f"Reference (blue) vs current (orange), v{version}", f'<div class="grid">{cards}</div>'
        )
    shares = _series(drift, origin, lambda w: w.snapshot["features"]["share_drifted"])
    outputs = _series(
        drift, origin, lambda w: (w.snapshot.get("predictions") or {}).get("share_drifted")
    )
    page.add(
        "Drift scores over time",
        '<div class="grid">'
        + _card_chart("share of drifted features", shares, (0.0, 1.0), x_label=origin.label)
        + _card_chart(
            "share of drifted outputs (vs baseline)", outputs, (0.0, 1.0), x_label=origin.label
        )
        + "</div>",
    )


def _card_chart(
    title: str,
    series: list[tuple[str, list[float], list[float]]],
    y_range: tuple[float, float] | None = None,
    *,
    x_label: str = "hours",
) -> str:
    chart = line_chart(series, x_label=x_label, y_label=title, y_range=y_range, markers=True)
    return f'<div class="card"><h3>{escape(title)}</h3>{chart}</div>'


def _quality_section(page: Page, quality: Sequence[WindowRecord], origin: _Clock) -> None:
    names = sorted({n for w in quality for n in w.snapshot.get("compared", {})})
    cards = []
    for name in names:
        series = _series(quality, origin, lambda w, n=name: w.snapshot["metrics"].get(n))
        tests = _series(
            quality, origin, lambda w, n=name: w.snapshot["compared"].get(n, {}).get("low")
        )
        series += [(f"{label} test low", xs, ys) for label, xs, ys in tests]
        cards.append(_card_chart(name, series, x_label=origin.label))
    rows = [
        [
            f"v{w.version}",
            f"{w.end:%Y-%m-%d %H:%M}",
            w.snapshot["labelled_rows"],
            ", ".join(w.snapshot["degraded"]) or ("ok" if w.snapshot["judged"] else "too few"),
        ]
        for w in quality[-50:]
    ]
    body = f'<div class="grid">{"".join(cards)}</div>' + table(
        ["version", "window end", "labelled rows", "degraded"], rows
    )
    page.add("Quality over time (labelled traffic vs the test interval)", body)


def _alerts_section(page: Page, alerts: Sequence[AlertRecord]) -> None:
    rows = [
        [
            f"{a.fired_at:%Y-%m-%d %H:%M}",
            a.severity,
            a.rule,
            "" if a.version is None else f"v{a.version}",
            a.message,
            a.delivery or "",
        ]
        for a in alerts[-200:]
    ]
    body = table(["fired", "severity", "rule", "version", "message", "webhook"], rows)
    page.add(f"Alerts ({len(alerts)})", body if rows else "<p>No alert has fired.</p>")


def _operations_section(page: Page, operations: Sequence[WindowRecord], origin: _Clock) -> None:
    p99 = _series(operations, origin, lambda w: w.snapshot["latency_ms"]["p99"])
    rps = _series(operations, origin, lambda w: w.snapshot["throughput_rps"])
    errors = _series(operations, origin, lambda w: w.snapshot.get("error_rate"))
    counted = [w.snapshot for w in operations if w.snapshot.get("error_rate") is not None]
    failed = sum(s["errors"] for s in counted)
    total = sum(s["requests"] for s in counted)
    summary = (
        f"{fmt_number(failed)} of {fmt_number(total)} requests failed "
        f"({failed / total:.2%}) over {len(counted)} windows"
        if total
        else "no request in the windows"
    )
    unit = origin.label
    charts = (
        _card_chart("p99 latency (ms)", p99, x_label=unit)
        + _card_chart("throughput (requests/s)", rps, x_label=unit)
        + _card_chart("error rate (failed / all requests)", errors, (0.0, 1.0), x_label=unit)
    )
    page.add(
        "Operations over time (prediction log)",
        f'<div class="grid">{charts}</div>'
        f"<p>{escape(summary)}; {len(operations)} operations windows stored.</p>",
    )


def monitoring_report(client: Client, model: str, path: str | os.PathLike[str]) -> Path:
    """Write the monitoring report of ``model`` to ``path`` from its stored windows and
    alerts (compute them first: :func:`monitor_windows` or ``monitor check``)."""
    from modelcycle.errors import NotFoundError

    repo = client.metadata.monitoring
    drift = repo.windows(model, kind="drift")
    if not drift:
        raise NotFoundError(
            f"no monitoring windows stored for model {model!r}: run modelcycle monitor windows "
            f"{model} (or monitor check) first"
        )
    operations = repo.windows(model, kind="operations")
    # a span rescored after more labels arrived keeps only its newest quality window
    newest_quality = {(w.version, w.start, w.end): w for w in repo.windows(model, kind="quality")}
    quality = sorted(newest_quality.values(), key=lambda w: (w.end, w.window_id))
    alerts = repo.alerts(model)
    origin = _Clock.spanning([*drift, *operations, *quality], drift[0].start.timestamp())
    newest = [found[-1] for found in _by_version(drift).values()]
    drifting = [w.version for w in newest if w.snapshot["features"]["dataset_drift"]]
    verdict = (
        f"{len(drift)} windows since {drift[0].start:%Y-%m-%d %H:%M} UTC; "
        f"dataset drift now in {len(drifting)} of {len(newest)} versions; {len(alerts)} alerts"
    )
    page = Page(
        title=f"Monitoring: {model}",
        verdict=verdict,
        level="fail" if drifting else ("warn" if alerts else "ok"),
        subtitle=f"versions {', '.join(f'v{w.version}' for w in newest)}",
    )
    _drift_sections(page, drift, origin)
    _operations_section(page, operations, origin)
    if quality:
        _quality_section(page, quality, origin)
    else:
        page.add("Quality over time", "<p>No labelled traffic yet (feedback labels).</p>")
    _alerts_section(page, alerts)
    return page.write(Path(path))
