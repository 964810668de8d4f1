"""A Grafana dashboard over the server's ``/metrics``: latency, throughput, errors, drift,
quality.

Grafana is not needed to build it: the dashboard is plain JSON (schema version 39, a
``DS_PROMETHEUS`` data-source input so it imports anywhere). Every query uses only metric
names the server exposes (``server/_metrics.py`` and :mod:`modelcycle.monitoring._prometheus`);
the tests parse each query with ``promtool`` and check each metric name against a real
scrape.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["grafana_dashboard", "queries"]

_DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
_RATE = "5m"


def _panels(model: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(title, unit, [(query, legend)]) per panel."""
    m = f'model="{_escape(model)}"'
    errors = f"sum(rate(modelcycle_request_errors_total{{{m}}}[{_RATE}]))"
    answers = f"sum(rate(modelcycle_requests_total{{{m}}}[{_RATE}]))"
    latency = (
        f"sum by (le, version) (rate(modelcycle_request_latency_seconds_bucket{{{m}}}[{_RATE}]))"
    )
    return [
        (
            "Throughput (requests/s)",
            "reqps",
            [
                (
                    f"sum by (version) (rate(modelcycle_requests_total{{{m}}}[{_RATE}]))",
                    "v{{version}}",
                )
            ],
        ),
        (
            "Latency (server)",
            "s",
            [
                (f"histogram_quantile({q}, {latency})", f"p{q * 100:g} v{{{{version}}}}")
                for q in (0.5, 0.95, 0.99)
            ],
        ),
        (
            "Errors",
            "percentunit",
            [
                (f"{errors} / clamp_min({errors} + {answers}, 1e-9)", "error rate"),
                (
                    f"sum by (status) (rate(modelcycle_request_errors_total{{{m}}}[{_RATE}]))",
                    "HTTP {{status}} /s",
                ),
            ],
        ),
        (
            "Rows per model call",
            "short",
            [
                (
                    f"sum(rate(modelcycle_batch_rows_sum{{{m}}}[{_RATE}])) / "
                    f"clamp_min(sum(rate(modelcycle_batch_rows_count{{{m}}}[{_RATE}])), 1e-9)",
                    "rows per call",
                )
            ],
        ),
        (
            "Data drift (share of drifted features)",
            "percentunit",
            [
                (f"modelcycle_drift_share{{{m}}}", "v{{version}}"),
                (f"modelcycle_drift_detected{{{m}}}", "dataset drift v{{version}}"),
                (f"modelcycle_prediction_drift_detected{{{m}}}", "prediction drift v{{version}}"),
            ],
        ),
        (
            "Most drifted features (effect size)",
            "short",
            [(f"topk(10, modelcycle_drift_feature_effect{{{m}}})", "{{feature}} v{{version}}")],
        ),
        (
            "Quality on labelled traffic",
            "short",
            [
                (f"modelcycle_quality_metric{{{m}}}", "{{metric}} v{{version}}"),
                (f"modelcycle_quality_degraded{{{m}}}", "degraded metrics v{{version}}"),
            ],
        ),
        (
            "p99 latency per window (prediction log)",
            "ms",
            [(f"modelcycle_window_latency_p99_ms{{{m}}}", "v{{version}}")],
        ),
        (
            "Served version and log health",
            "short",
            [
                (f"modelcycle_model_version{{{m}}}", "serving v{{version}}"),
                (f"rate(modelcycle_prediction_log_dropped_total[{_RATE}])", "log dropped /s"),
                ("modelcycle_monitor_up", "monitoring store readable"),
            ],
        ),
    ]


def _escape(value: str) -> str:
    return json.dumps(value)[1:-1]


def grafana_dashboard(model: str, *, refresh: str = "30s") -> dict[str, Any]:
    """The dashboard JSON of ``model`` (import it in Grafana; pick a Prometheus source)."""
    panels = []
    for index, (title, unit, targets) in enumerate(_panels(model)):
        panels.append(
            {
                "id": index + 1,
                "type": "timeseries",
                "title": title,
                "datasource": _DS,
                "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [
                    {"refId": chr(ord("A") + i), "datasource": _DS, "expr": q, "legendFormat": leg}
                    for i, (q, leg) in enumerate(targets)
                ],
            }
        )
    return {
        "__inputs": [
            {
                "name": "DS_PROMETHEUS",
                "label": "Prometheus",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "title": f"modelcycle: {model}",
        "uid": "modelcycle-" + hashlib.sha256(model.encode()).hexdigest()[:12],
        "tags": ["modelcycle", "monitoring"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": refresh,
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "utc",
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


def queries(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL query of a dashboard."""
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
