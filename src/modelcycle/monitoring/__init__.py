"""The monitoring stage: how a deployed model is seen ageing.

This part is drift: a reference (a file, a table, a dataset version's stored profile) is
summarised once into mergeable sketches; current data is compared with it column by column
(KS, normalized Wasserstein, PSI; chi-squared, Jensen-Shannon, PSI), on the model's outputs
(:func:`prediction_drift`) and optionally as a whole (a domain classifier). Every check gives
a JSON-serialisable :class:`DriftSnapshot`, which the HTML report (:func:`drift_report`) reads.
"""

from modelcycle.monitoring._detector import DriftDetector
from modelcycle.monitoring._predictions import prediction_drift, prediction_table
from modelcycle.monitoring._reference import from_dataset_version, from_profile
from modelcycle.monitoring._report import drift_report
from modelcycle.monitoring._result import (
    Chart,
    ColumnDrift,
    DomainDrift,
    DriftSnapshot,
    SkippedColumn,
)
from modelcycle.monitoring._verdict import DEFAULT_THRESHOLDS, TESTS

__all__ = [
    "DEFAULT_THRESHOLDS",
    "TESTS",
    "Chart",
    "ColumnDrift",
    "DomainDrift",
    "DriftDetector",
    "DriftSnapshot",
    "SkippedColumn",
    "drift_report",
    "from_dataset_version",
    "from_profile",
    "prediction_drift",
    "prediction_table",
]
