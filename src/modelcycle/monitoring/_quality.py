"""Quality per window: metrics on labelled traffic, judged against the version's test metrics.

A window's labelled rows (feedback joined to the prediction log) are scored with the same
metric functions as evaluation (``evaluation._metrics``). A headline metric is **degraded**
only when its window value falls outside the bootstrap interval the version's evaluation
stored, widened by the window's own sampling noise (below the lower bound for a metric to
maximise, above the upper bound for one to minimise): the bootstrap standard error on the
test rows, scaled to the window's size, gives the standard error of the difference
``window - test``, and only a difference beyond ``z`` of them (``z`` from the interval's
confidence) alarms. A value within it is what noise alone produces, so it is not an alarm.
Windows with fewer than ``min_labels`` labelled rows get metrics but no verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.errors import invalid_value

if TYPE_CHECKING:
    import pandas as pd

    from modelcycle.store._monitoring import WindowRecord
    from modelcycle.tracking import Client

__all__ = [
    "MIN_LABELS",
    "degradation",
    "quality_snapshot",
    "quality_windows",
    "window_metrics",
]

#: Fewer labelled rows than this in a window: metrics are reported, no degradation verdict.
MIN_LABELS = 30


def _proba(frame: pd.DataFrame, classes: Sequence[Any]) -> np.ndarray[Any, Any] | None:
    """The probability columns in the order of ``classes`` (``proba_<class>`` or, failing
    that, positional ``proba_0..``), or None when the frame has none or some row lacks them."""
    named = [f"proba_{c}" for c in classes]
    if not all(name in frame.columns for name in named):
        named = [f"proba_{i}" for i in range(len(classes))]
        if not all(name in frame.columns for name in named):
            return None
    matrix = frame[named].to_numpy(dtype=np.float64)
    return None if np.isnan(matrix).any() else matrix


def window_metrics(
    frame: pd.DataFrame, task: str, classes: Sequence[Any] | None = None
) -> dict[str, Any]:
    """The evaluation metrics of the window's labelled rows: ``frame`` has ``label`` and
    ``prediction`` (and ``proba_<class>`` columns for classifiers)."""
    from modelcycle.evaluation._metrics import classification_metrics, regression_metrics

    for column in ("label", "prediction"):
        if column not in frame.columns:
            raise invalid_value("labelled frame", list(frame.columns), f"has no {column} column")
    if task == "regression":
        found = regression_metrics(frame["label"].to_numpy(float), frame["prediction"])
        return {k: v for k, v in found.items() if k != "residuals"}
    labels = list(classes) if classes else None
    kind = type(labels[0]) if labels else str
    truth = [kind(v) for v in frame["label"]]
    pred = [kind(v) for v in frame["prediction"]]
    proba = None if labels is None else _proba(frame, labels)
    found = classification_metrics(truth, pred, proba, labels)
    return {k: v for k, v in found.items() if k != "per_class"}


def _bounds(interval: Mapping[str, Any], test_rows: int | None, rows: int) -> tuple[Any, Any]:
    """The alarm bounds for a window of ``rows`` rows: the test value minus/plus ``z`` times
    the standard error of the difference between the two estimates, the window's standard
    error scaled from the bootstrap one as ``std * sqrt(test_rows / rows)``. Without a
    bootstrap ``std`` (or the test rows), the interval's own bounds."""
    value, std = interval.get("value"), interval.get("std")
    if not isinstance(value, (int, float)) or not isinstance(std, (int, float)) or not test_rows:
        return interval.get("low"), interval.get("high")
    z = NormalDist().inv_cdf(0.5 + float(interval.get("confidence") or 0.95) / 2)
    spread = z * std * math.sqrt(1.0 + test_rows / max(rows, 1))
    return value - spread, value + spread


def degradation(
    metrics: Mapping[str, Any],
    intervals: Mapping[str, Any],
    rows: int,
    min_labels: int,
    test_rows: int | None = None,
) -> dict[str, Any]:
    """Each interval metric's window value beside the test interval; ``degraded`` lists the
    metrics past the alarm bound on the bad side (none when ``rows < min_labels``). The
    alarm bound widens the test interval by the window's own sampling noise (see
    :func:`_bounds`): a window of 50 rows drawn from the test distribution itself would
    otherwise fall outside a 169-row test interval by chance alone."""
    from modelcycle.evaluation._metrics import direction

    compared: dict[str, Any] = {}
    degraded: list[str] = []
    for name, interval in intervals.items():
        value = metrics.get(name)
        if not isinstance(value, (int, float)) or not isinstance(interval, Mapping):
            continue
        low, high = _bounds(interval, test_rows, rows)
        goal = direction(name)
        worse = (goal == "maximize" and low is not None and value < low) or (
            goal == "minimize" and high is not None and value > high
        )
        drop = (interval.get("value") or 0.0) - value
        compared[name] = {
            "window": value,
            "test": interval.get("value"),
            "low": interval.get("low"),
            "high": interval.get("high"),
            "alarm_low": low,
            "alarm_high": high,
            "direction": goal,
            "drop": drop if goal == "maximize" else -drop,
            "degraded": bool(worse and rows >= min_labels),
        }
        if compared[name]["degraded"]:
            degraded.append(name)
    return {"compared": compared, "degraded": degraded, "judged": rows >= min_labels}


def quality_snapshot(
    frame: pd.DataFrame,
    *,
    task: str,
    classes: Sequence[Any] | None,
    evaluation: Mapping[str, Any] | None,
    min_labels: int = MIN_LABELS,
) -> dict[str, Any]:
    """The quality snapshot of one window: labelled rows, metrics, and the comparison with
    the version's evaluation (``evaluation`` the bundle's evaluation snapshot, or None)."""
    metrics = window_metrics(frame, task, classes)
    intervals = (evaluation or {}).get("intervals") or {}
    test_rows = (evaluation or {}).get("rows")
    verdict = degradation(metrics, intervals, len(frame), min_labels, test_rows)
    return {
        "labelled_rows": len(frame),
        "min_labels": min_labels,
        "metrics": metrics,
        "objective": (evaluation or {}).get("objective"),
        **verdict,
    }


def _facts(client: Client, model: str, version: int) -> tuple[str, Any, Any]:
    """Task, classes and stored evaluation of one version."""
    from modelcycle.registry import Registry

    bundle = Registry(client).bundle(f"{model}@{version}")
    output = bundle.signature.get("output", {})
    return (
        str(output.get("task") or "regression"),
        output.get("classes"),
        bundle.json_part("evaluation"),
    )


def quality_windows(
    client: Client,
    model: str,
    versions: Sequence[int],
    classes: Sequence[Any] | None,
    min_labels: int = MIN_LABELS,
) -> dict[tuple[int, int, int], WindowRecord]:
    """Score every stored window of ``versions`` whose labels (feedback joined to the log,
    matched on prediction time) changed since its last quality window (more labelled rows, or
    a newer value for a row: the digest of its (row, label) pairs differs); store each as a
    ``quality`` window. Returns them by ``(version, start ms, end ms)``."""
    feedback = getattr(client.metadata, "feedback", None)
    repo = client.metadata.monitoring
    found: dict[tuple[int, int, int], WindowRecord] = {}
    if feedback is None:
        return found
    for version in versions:
        spans = [(w.start, w.end) for w in repo.windows(model, kind="operations", version=version)]
        if not spans:
            continue
        labelled = feedback.labelled_frame(model, version=version, classes=classes)
        if not len(labelled):
            continue
        scored = {
            (w.start, w.end): w.snapshot.get("labels_digest")
            for w in repo.windows(model, kind="quality", version=version)
        }
        facts: tuple[str, Any, Any] | None = None
        for start, end in spans:
            rows = labelled[(labelled["time"] >= start) & (labelled["time"] < end)]
            digest = _digest(rows)
            if not len(rows) or scored.get((start, end)) == digest:
                continue
            facts = facts or _facts(client, model, version)
            snapshot = quality_snapshot(
                rows, task=facts[0], classes=facts[1], evaluation=facts[2], min_labels=min_labels
            )
            snapshot["labels_digest"] = digest
            saved = repo.save_window(
                model,
                kind="quality",
                version=version,
                start=start,
                end=end,
                n_rows=len(rows),
                snapshot=snapshot,
            )
            found[(version, _ms(start), _ms(end))] = saved
    return found


def _digest(rows: pd.DataFrame) -> str:
    """A digest of the window's (row id, label) pairs: what its quality was computed from."""
    import hashlib

    pairs = sorted(zip(rows["row_id"].astype(str), rows["label"].astype(str), strict=True))
    return hashlib.sha256(repr(pairs).encode()).hexdigest()[:32]


def _ms(when: Any) -> int:
    return int(when.timestamp() * 1000)
