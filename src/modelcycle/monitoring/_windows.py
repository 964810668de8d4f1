"""Monitoring windows over the prediction log: drift, prediction drift, operations, quality.

:func:`monitor_windows` cuts a model's logged traffic into windows, by time (aligned to
multiples of ``size`` since the epoch) or by count (at least ``size`` predicted rows or failed
requests, cut at request boundaries), per model version, and stores for each window
(``monitor_windows``):

- ``drift``: the inputs against the version's reference (:func:`reference_for`: its training
  profile by default), and the outputs against the version's first window (its baseline: the
  training profile holds no model outputs); only for a window with predicted rows (one whose
  every request failed has operations alone);
- ``operations``: requests (answered and failed) and rows, weighted by ``1 / sample_rate``,
  throughput, latency percentiles of the answers, errors and the error rate
  (:func:`~modelcycle.monitoring._operations.operations_snapshot`); failed requests count
  towards the windows' cuts (a failed request is one row towards a count window's size);
- ``quality``: for every stored window whose rows have feedback labels now
  (``metadata.feedback.labelled_frame``), matched on the prediction's time; labels arrive
  after the window closes, so each call also scores older windows whose labelled rows grew
  since their last quality window (a newer quality window for the same span; readers keep
  the newest per span).

Only closed windows are computed (a time window whose end has passed, a count window that is
full); a later call resumes after the newest stored window of each version, so cron can run it
repeatedly without duplicating windows. The predicted rows not yet in a closed window are
counted as ``pending_rows``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from modelcycle.errors import invalid_value

if TYPE_CHECKING:
    import pandas as pd

    from modelcycle.monitoring._detector import DriftDetector
    from modelcycle.store._monitoring import WindowRecord
    from modelcycle.tracking import Client

__all__ = ["WindowScores", "WindowsResult", "monitor_windows", "parse_size"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_size(by: str, size: str | int | float | timedelta) -> int:
    """A window size: rows for ``by="count"``; milliseconds for ``by="time"`` from a
    timedelta, seconds, or text such as ``"90s"``, ``"15m"``, ``"1h"``, ``"1d"``."""
    if by == "count":
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise invalid_value("window size", size, "expected a positive number of rows")
        return size
    if by != "time":
        raise invalid_value("window by", by, "expected time or count")
    if isinstance(size, timedelta):
        seconds = size.total_seconds()
    elif isinstance(size, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", size)
        if match is None:
            raise invalid_value("window size", size, "expected e.g. 90s, 15m, 1h or 1d")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    elif isinstance(size, (int, float)) and not isinstance(size, bool):
        seconds = float(size)
    else:
        raise invalid_value("window size", size, "expected a duration")
    if seconds < 1:
        raise invalid_value("window size", size, "expected at least one second")
    return int(seconds * 1000)


@dataclass(frozen=True)
class WindowScores:
    """One computed window of one version; ``ids`` are the stored window ids by kind."""

    version: int
    start: datetime
    end: datetime
    n_rows: int
    drift: dict[str, Any] | None
    operations: dict[str, Any]
    quality: dict[str, Any] | None
    ids: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowsResult:
    """What one :func:`monitor_windows` call computed, and the rows left for later."""

    model: str
    windows: list[WindowScores]
    pending_rows: int
    quality: list[WindowRecord] = field(default_factory=list)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _when(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _cuts_by_time(times: np.ndarray[Any, Any], size: int, now: int) -> list[tuple[int, int]]:
    buckets = np.unique(times // size)
    return [(int(b) * size, int(b + 1) * size) for b in buckets if (b + 1) * size <= now]


def _cuts_by_count(
    times: np.ndarray[Any, Any], requests: np.ndarray[Any, Any], size: int
) -> list[tuple[int, int]]:
    """Windows of at least ``size`` rows that end where the time (so the request) changes."""
    cuts: list[tuple[int, int]] = []
    first, count = 0, 0
    for i in range(len(times)):
        count += 1
        boundary = i + 1 == len(times) or (
            times[i + 1] != times[i] and requests[i + 1] != requests[i]
        )
        if count >= size and boundary:
            end = int(times[i + 1]) if i + 1 < len(times) else int(times[i]) + 1
            cuts.append((int(times[first]), end))
            first, count = i + 1, 0
    return cuts


class _Version:
    """What the windows of one version need: signature, reference, baseline, evaluation."""

    def __init__(self, client: Client, model: str, version: int, params: dict[str, Any]) -> None:
        from modelcycle.monitoring._reference import reference_for
        from modelcycle.registry import Registry

        ref = f"{model}@{version}"
        bundle = Registry(client).bundle(ref)
        signature = bundle.signature
        self.features = [c["name"] for c in signature.get("inputs", [])]
        self.task = str(signature.get("output", {}).get("task") or "regression")
        self.classes = signature.get("output", {}).get("classes")
        self.evaluation = bundle.json_part("evaluation")
        self.reference: DriftDetector = reference_for(
            client, ref, reference=params.get("reference"), **params.get("drift", {})
        )
        self.baseline: DriftDetector | None = None
        self.drift_params = params.get("drift", {})

    def outputs(self, frame: pd.DataFrame) -> Any:
        import pyarrow as pa

        columns: dict[str, Any] = {}
        if self.task == "regression":
            columns["prediction"] = pa.array(frame["prediction"].astype(float))
            return pa.table(columns)
        columns["prediction"] = pa.array([str(v) for v in frame["prediction"]])
        probas = [c for c in frame.columns if str(c).startswith("proba_")]
        shown = probas[1:] if len(probas) == 2 else probas
        for name in shown:
            columns["score_" + name.removeprefix("proba_")] = pa.array(frame[name].astype(float))
        return pa.table(columns)

    def drift(self, frame: pd.DataFrame, baseline: pd.DataFrame | None) -> dict[str, Any]:
        from modelcycle.monitoring._detector import DriftDetector

        present = [c for c in self.features if c in frame.columns]
        features = self.reference.score(frame[present])
        if self.baseline is None and baseline is not None and len(baseline):
            self.baseline = DriftDetector(**self.drift_params).fit(self.outputs(baseline))
        predictions = None
        if self.baseline is not None and baseline is not frame:
            predictions = self.baseline.score(self.outputs(frame)).to_dict()
        return {
            "features": features.to_dict(),
            "predictions": predictions,
            "prediction_baseline": predictions is None,
        }


def _classes(client: Client, model: str, versions: list[int]) -> list[Any] | None:
    """The class labels shared by every version (names the probability columns)."""
    from modelcycle.registry import Registry

    registry = Registry(client)
    seen = {
        tuple(registry.bundle(f"{model}@{v}").signature.get("output", {}).get("classes") or ())
        for v in versions
    }
    return list(seen.pop()) if len(seen) == 1 and () not in seen else None


def _store(client: Client, model: str, scores: WindowScores) -> WindowScores:
    repo = client.metadata.monitoring
    ids = {}
    for kind in ("drift", "operations"):
        snapshot = getattr(scores, kind)
        if snapshot is not None:
            saved = repo.save_window(
                model,
                kind=kind,
                version=scores.version,
                start=scores.start,
                end=scores.end,
                n_rows=scores.n_rows,
                snapshot=snapshot,
            )
            ids[kind] = saved.window_id
    return WindowScores(**{**scores.__dict__, "ids": ids})


def _cuts(
    sub: pd.DataFrame, failed: pd.DataFrame, by: str, step: int, now: int
) -> list[tuple[int, int]]:
    """The closed windows over the predicted rows ``sub`` and failed requests ``failed``."""
    from modelcycle.monitoring._operations import cut_events

    times, codes = cut_events(sub, failed)
    if by == "time":
        return _cuts_by_time(times, step, now)
    return _cuts_by_count(times, codes, step)


def monitor_windows(
    client: Client,
    model: str,
    *,
    by: Literal["time", "count"] = "time",
    size: str | int | float | timedelta = "1h",
    since: datetime | None = None,
    until: datetime | None = None,
    reference: str | None = None,
    drift: dict[str, Any] | None = None,
    min_labels: int | None = None,
    now: datetime | None = None,
) -> WindowsResult:
    """Compute (and store) the closed monitoring windows of ``model`` (see the module
    docstring). ``reference`` overrides every version's drift reference (``dataset:NAME@ID``,
    a stored reference or a data file); ``drift`` holds :class:`DriftDetector` settings;
    ``min_labels`` the labelled rows a window needs for a quality verdict."""
    from modelcycle.monitoring._quality import MIN_LABELS, quality_windows

    step = parse_size(by, size)
    registered = sorted(v.version for v in client.metadata.registry.versions(model))
    repo = client.metadata.monitoring
    done = {
        v: {(_ms(w.start), _ms(w.end)) for w in repo.windows(model, kind="operations", version=v)}
        for v in registered
    }
    if since is None and all(done.values()):
        since = _when(min(max(end for _, end in spans) for spans in done.values()))
    log = client.metadata.predictions
    classes = _classes(client, model, registered)
    ops = log.operations(model, since=since, until=until)
    frame = log.frame(model, since=since, until=until, classes=classes)
    params = {"reference": reference, "drift": dict(drift or {})}
    clock = _ms(now or datetime.now(timezone.utc))
    windows: list[WindowScores] = []
    pending = 0
    for v in sorted(set(ops["version"].tolist())):
        sub, ops_v = frame[frame["version"] == v], ops[ops["version"] == v]
        stored_ends = [end for _, end in done.get(v, ())]
        if stored_ends:
            sub = sub[sub["time"] >= _when(max(stored_ends))]
            ops_v = ops_v[ops_v["time"] >= _when(max(stored_ends))]
        failed = ops_v[ops_v["status"] >= 400]
        cuts = [c for c in _cuts(sub, failed, by, step, clock) if c not in done.get(v, set())]
        pending += len(sub) - sum(_count(sub, c) for c in cuts)
        if cuts:
            windows += _version_windows(client, model, int(v), cuts, sub, ops_v, params, classes)
    labelled = quality_windows(client, model, registered, classes, min_labels or MIN_LABELS)
    windows = [_with_quality(w, labelled) for w in windows]
    return WindowsResult(model, windows, pending, list(labelled.values()))


def _version_windows(
    client: Client,
    model: str,
    v: int,
    cuts: list[tuple[int, int]],
    sub: pd.DataFrame,
    ops: pd.DataFrame,
    params: dict[str, Any],
    classes: list[Any] | None,
) -> list[WindowScores]:
    """Score and store the windows ``cuts`` of version ``v`` (rows ``sub``, requests ``ops``)."""
    from modelcycle.monitoring._operations import operations_snapshot

    version: _Version | None = None  # built for the first window with predicted rows
    baseline = _baseline(client, model, v, client.metadata.monitoring, classes)
    found = []
    for cut in cuts:
        rows = sub[(sub["time"] >= _when(cut[0])) & (sub["time"] < _when(cut[1]))]
        requests = ops[(ops["time"] >= _when(cut[0])) & (ops["time"] < _when(cut[1]))]
        drift = None
        if len(rows):
            version = version or _Version(client, model, v, params)
            first = rows if baseline is None else baseline
            drift = version.drift(rows, first)
            baseline = first
        scores = WindowScores(
            version=v,
            start=_when(cut[0]),
            end=_when(cut[1]),
            n_rows=len(rows),
            drift=drift,
            operations=operations_snapshot(requests, *cut),
            quality=None,
        )
        found.append(_store(client, model, scores))
    return found


def _with_quality(
    scores: WindowScores, labelled: dict[tuple[int, int, int], WindowRecord]
) -> WindowScores:
    key = (scores.version, _ms(scores.start), _ms(scores.end))
    if key not in labelled:
        return scores
    saved = labelled[key]
    ids = {**scores.ids, "quality": saved.window_id}
    return WindowScores(**{**scores.__dict__, "quality": saved.snapshot, "ids": ids})


def _count(sub: pd.DataFrame, cut: tuple[int, int]) -> int:
    return int(((sub["time"] >= _when(cut[0])) & (sub["time"] < _when(cut[1]))).sum())


def _baseline(
    client: Client, model: str, version: int, repo: Any, classes: list[Any] | None
) -> pd.DataFrame | None:
    """The rows of the version's first stored window (None before it has one)."""
    first = repo.windows(model, kind="drift", version=version, limit=None)
    if not first:
        return None
    found: pd.DataFrame = client.metadata.predictions.frame(
        model, version=version, since=first[0].start, until=first[0].end, classes=classes
    )
    return found
