"""The monitoring stage: how a deployed model is seen ageing.

This part is drift: a reference (a file, a table, a dataset version's stored profile) is
summarised once into mergeable sketches; current data is compared with it column by column
(KS, normalized Wasserstein, PSI; chi-squared, Jensen-Shannon, PSI), on the model's outputs
(:func:`prediction_drift`) and optionally as a whole (a domain classifier). Every check gives
a JSON-serialisable :class:`DriftSnapshot`, which the HTML report (:func:`drift_report`) reads.
Over a served model: windows of the prediction log (:func:`monitor_windows`), quality once
feedback arrives, alert rules (:func:`check`), Prometheus gauges, a Grafana dashboard and a
report.

Every name loads on first use, so a server that only registers the Prometheus collector does
not import scipy, pandas or the data stage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelcycle._lazy import lazy_attributes

if TYPE_CHECKING:
    from modelcycle.monitoring._alerts import CheckResult, Firing, check
    from modelcycle.monitoring._detector import DriftDetector
    from modelcycle.monitoring._grafana import grafana_dashboard
    from modelcycle.monitoring._ops_report import monitoring_report
    from modelcycle.monitoring._predictions import prediction_drift, prediction_table
    from modelcycle.monitoring._reference import from_dataset_version, from_profile, reference_for
    from modelcycle.monitoring._report import drift_report
    from modelcycle.monitoring._result import (
        Chart,
        ColumnDrift,
        DomainDrift,
        DriftSnapshot,
        SkippedColumn,
    )
    from modelcycle.monitoring._spec import MonitorSpec, load_monitor_spec
    from modelcycle.monitoring._verdict import DEFAULT_THRESHOLDS, TESTS
    from modelcycle.monitoring._windows import WindowScores, WindowsResult, monitor_windows

__all__ = [
    "DEFAULT_THRESHOLDS",
    "TESTS",
    "Chart",
    "CheckResult",
    "ColumnDrift",
    "DomainDrift",
    "DriftDetector",
    "DriftSnapshot",
    "Firing",
    "MonitorSpec",
    "SkippedColumn",
    "WindowScores",
    "WindowsResult",
    "check",
    "drift_report",
    "from_dataset_version",
    "from_profile",
    "grafana_dashboard",
    "load_monitor_spec",
    "monitor_windows",
    "monitoring_report",
    "prediction_drift",
    "prediction_table",
    "reference_for",
]

_LAZY = {
    "Chart": "modelcycle.monitoring._result",
    "CheckResult": "modelcycle.monitoring._alerts",
    "ColumnDrift": "modelcycle.monitoring._result",
    "DEFAULT_THRESHOLDS": "modelcycle.monitoring._verdict",
    "DomainDrift": "modelcycle.monitoring._result",
    "DriftDetector": "modelcycle.monitoring._detector",
    "DriftSnapshot": "modelcycle.monitoring._result",
    "Firing": "modelcycle.monitoring._alerts",
    "MonitorSpec": "modelcycle.monitoring._spec",
    "SkippedColumn": "modelcycle.monitoring._result",
    "TESTS": "modelcycle.monitoring._verdict",
    "WindowScores": "modelcycle.monitoring._windows",
    "WindowsResult": "modelcycle.monitoring._windows",
    "check": "modelcycle.monitoring._alerts",
    "drift_report": "modelcycle.monitoring._report",
    "from_dataset_version": "modelcycle.monitoring._reference",
    "from_profile": "modelcycle.monitoring._reference",
    "grafana_dashboard": "modelcycle.monitoring._grafana",
    "load_monitor_spec": "modelcycle.monitoring._spec",
    "monitor_windows": "modelcycle.monitoring._windows",
    "monitoring_report": "modelcycle.monitoring._ops_report",
    "prediction_drift": "modelcycle.monitoring._predictions",
    "prediction_table": "modelcycle.monitoring._predictions",
    "reference_for": "modelcycle.monitoring._reference",
}

__getattr__ = lazy_attributes("modelcycle.monitoring", _LAZY, globals())
