"""Monitoring windows over a real prediction log, against the version's training profile."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.monitoring.deployed import T0, deploy, labels, traffic

from modelcycle.errors import InvalidValueError, NotFoundError
from modelcycle.monitoring import monitor_windows, reference_for
from modelcycle.monitoring._windows import parse_size
from modelcycle.registry import Registry
from modelcycle.store._predictions import FailedRequest
from modelcycle.tracking import Client


def test_a_version_reference_is_its_training_profile_unless_overridden(
    client: Client, tmp_path
) -> None:
    deployed = deploy(client)
    detector = reference_for(client, deployed.ref)
    assert detector.reference_rows_ == 400
    assert "mean radius" in detector.reference_
    calm = deployed.test.drop(columns=["target"])
    assert detector.score(calm).drifted == []
    calm.iloc[:60].to_csv(tmp_path / "ref.csv", index=False)
    override = reference_for(client, deployed.ref, reference=str(tmp_path / "ref.csv"))
    assert override.reference_rows_ == 60
    by_dataset = reference_for(client, deployed.ref, reference="dataset:cancer-train")
    assert by_dataset.reference_rows_ == 400


def test_a_version_without_a_profile_says_how_to_give_a_reference(client: Client) -> None:
    deployed = deploy(client)
    registry = Registry(client)
    bundle = registry.bundle(deployed.ref)
    bare = registry.register_model(
        "bare",
        deployed.model,
        signature=bundle.signature,
        task="binary",
        family="linear",
        source="tests",
    )
    with pytest.raises(NotFoundError, match=r"no training-data profile.*dataset:NAME@ID"):
        reference_for(client, bare.ref)


def test_count_windows_find_an_injected_shift_and_resume_without_duplicates(
    client: Client,
) -> None:
    deployed = deploy(client)
    calm = deployed.test.drop(columns=["target"])
    shifted = calm.copy()
    shifted["mean radius"] += 4.0  # about one standard deviation
    log = client.metadata.predictions
    log.insert_many(traffic(deployed.model, calm))
    first = monitor_windows(client, "cancer", by="count", size=50)
    assert [w.n_rows for w in first.windows] == [50, 50, 50]
    assert first.pending_rows == 19
    assert all(w.drift["features"]["drifted_columns"] == 0 for w in first.windows)
    assert first.windows[0].drift["prediction_baseline"] is True
    assert first.windows[1].drift["predictions"]["dataset_drift"] is False

    later = T0 + timedelta(hours=2)
    log.insert_many(traffic(deployed.model, shifted, start=later, prefix="s"))
    second = monitor_windows(client, "cancer", by="count", size=50)
    assert second.windows, "the shifted traffic makes new windows"
    assert all(w.start >= first.windows[-1].end for w in second.windows)
    newest = second.windows[-1].drift["features"]
    assert "mean radius" in [c["column"] for c in newest["columns"] if c["drifted"]]
    again = monitor_windows(client, "cancer", by="count", size=50)
    assert again.windows == []
    stored = client.metadata.monitoring.windows("cancer", kind="drift")
    assert len(stored) == len(first.windows) + len(second.windows)


def test_time_windows_store_operations_from_the_log(client: Client) -> None:
    deployed = deploy(client)
    calm = deployed.test.drop(columns=["target"])
    client.metadata.predictions.insert_many(traffic(deployed.model, calm, latency_ms=3.0))
    result = monitor_windows(client, "cancer", by="time", size="10m", now=T0 + timedelta(days=1))
    assert [w.n_rows for w in result.windows] == [50, 50, 50, 19]
    ops = result.windows[0].operations
    assert ops["requests"] == 10 and ops["rows"] == 50 and ops["seconds"] == 600
    assert ops["throughput_rps"] == pytest.approx(10 / 600)
    assert ops["latency_ms"]["p50"] == pytest.approx(7.5)  # 3..12 ms
    assert ops["latency_ms"]["max"] == 12.0
    stored = client.metadata.monitoring.windows("cancer", kind="operations")
    assert [w.window_id for w in stored] == [w.ids["operations"] for w in result.windows]
    assert stored[0].snapshot == ops
    with pytest.raises(NotFoundError, match="no registered model named 'other'"):
        monitor_windows(client, "other", by="time", size="1h")


def failure(request_id: str, version: int, minutes: float, status: int = 400) -> FailedRequest:
    """A failed request of cancer ``version`` at ``minutes`` after T0."""
    return FailedRequest(
        request_id=request_id,
        model="cancer",
        version=version,
        time=T0 + timedelta(minutes=minutes),
        latency_ms=0.5,
        status=status,
        error="invalid value 'x' for field 'mean radius': expected a number",
    )


def _by_start(windows: list[Any]) -> dict[tuple[int, int], Any]:
    return {(w.version, int((w.start - T0).total_seconds() // 60)): w for w in windows}


def test_time_windows_count_errors_and_error_rate_per_version(client: Client) -> None:
    first, second = deploy(client), deploy(client)
    calm = first.test.drop(columns=["target"])
    log = client.metadata.predictions
    log.insert_many(traffic(first.model, calm, latency_ms=3.0))  # v1: minutes 0-33
    log.insert_many(traffic(second.model, calm.iloc[:50], version=2, prefix="t"))  # v2: 0-9
    failed = [
        failure("e1", 1, 2.5),
        failure("e2", 1, 3.5, status=422),
        failure("e3", 1, 12.5, status=500),
        failure("e4", 2, 1.5),
        failure("e5", 2, 41, status=503),  # v2 has no traffic then: an all-failed window
        failure("e6", 2, 42, status=503),
    ]
    log.insert_many(failed)
    result = monitor_windows(client, "cancer", by="time", size="10m", now=T0 + timedelta(days=1))
    found = _by_start(result.windows)
    assert sorted(found) == [(1, 0), (1, 10), (1, 20), (1, 30), (2, 0), (2, 40)]
    ops = found[(1, 0)].operations
    assert (ops["requests"], ops["answered"], ops["errors"]) == (12, 10, 2)
    assert ops["error_rate"] == pytest.approx(2 / 12)
    assert ops["errors_by_status"] == {"400": 1, "422": 1}
    assert (ops["rows"], ops["logged_requests"], ops["logged_errors"]) == (50, 10, 2)
    assert ops["latency_ms"]["p50"] == pytest.approx(7.5)  # the answers only: 3..12 ms
    assert ops["throughput_rps"] == pytest.approx(12 / 600)
    assert found[(1, 10)].operations["errors_by_status"] == {"500": 1}
    assert [found[(1, m)].operations["error_rate"] for m in (20, 30)] == [0.0, 0.0]
    assert found[(2, 0)].operations["error_rate"] == pytest.approx(1 / 11)
    outage = found[(2, 40)]
    assert (outage.n_rows, outage.drift, outage.quality) == (0, None, None)
    assert outage.operations["error_rate"] == 1.0
    assert outage.operations["latency_ms"]["p99"] is None
    assert set(outage.ids) == {"operations"}
    drift = client.metadata.monitoring.windows("cancer", kind="drift", version=2)
    assert [(w.start, w.n_rows) for w in drift] == [(T0, 50)]
    stored = client.metadata.monitoring.windows("cancer", kind="operations", version=2)
    assert [w.snapshot["errors"] for w in stored] == [1, 2]
    again = monitor_windows(client, "cancer", by="time", size="10m", now=T0 + timedelta(days=1))
    assert again.windows == []


def test_a_failed_request_counts_as_one_row_towards_a_count_window(client: Client) -> None:
    deployed = deploy(client)
    calm = deployed.test.drop(columns=["target"])
    log = client.metadata.predictions
    log.insert_many(traffic(deployed.model, calm))  # 169 rows, 34 requests, minutes 0-33
    log.insert_many([failure(f"e{i}", 1, 40 + i) for i in range(40)])  # minutes 40-79
    result = monitor_windows(client, "cancer", by="count", size=50)
    assert [w.n_rows for w in result.windows] == [50, 50, 50, 19]
    assert [w.operations["errors"] for w in result.windows] == [0, 0, 0, 31]
    last = result.windows[-1]
    assert last.operations["requests"] == 4 + 31 and last.drift is not None
    assert result.pending_rows == 0  # 9 failed requests wait for the next window


def test_a_window_still_open_is_not_stored_but_its_rows_are_counted(client: Client) -> None:
    deployed = deploy(client)
    calm = deployed.test.drop(columns=["target"])
    client.metadata.predictions.insert_many(traffic(deployed.model, calm))
    early = monitor_windows(client, "cancer", by="time", size="1h", now=T0 + timedelta(minutes=20))
    assert early.windows == [] and early.pending_rows == 169
    assert client.metadata.monitoring.windows("cancer") == []


def test_window_sizes_are_checked() -> None:
    assert parse_size("time", "15m") == 900_000
    assert parse_size("time", timedelta(hours=1)) == 3_600_000
    assert parse_size("count", 100) == 100
    with pytest.raises(InvalidValueError, match="window size"):
        parse_size("time", "soon")
    with pytest.raises(InvalidValueError, match="window size"):
        parse_size("count", 0)
    with pytest.raises(InvalidValueError, match="window by"):
        parse_size("rows", 10)


def test_labels_arriving_later_score_past_windows_and_a_worse_model_degrades(
    client: Client,
) -> None:
    deployed = deploy(client)
    calm = deployed.test.drop(columns=["target"])
    records = traffic(deployed.model, calm)
    client.metadata.predictions.insert_many(records)
    unlabelled = monitor_windows(client, "cancer", by="count", size=50)
    assert [w.quality for w in unlabelled.windows] == [None, None, None]

    feedback = client.metadata.feedback
    feedback.add_many(labels(records, deployed.test["target"]))
    labelled = monitor_windows(client, "cancer", by="count", size=50)
    assert labelled.windows == []  # no new traffic; the past windows get their quality
    assert [q.n_rows for q in labelled.quality] == [50, 50, 50]
    assert all(q.snapshot["judged"] and q.snapshot["degraded"] == [] for q in labelled.quality)
    assert monitor_windows(client, "cancer", by="count", size=50).quality == []  # unchanged

    feedback.add_many(labels(records, deployed.test["target"], flip=0.3, seed=5))
    worse = monitor_windows(client, "cancer", by="count", size=50)  # latest label wins
    assert len(worse.quality) == 3
    assert all("accuracy" in q.snapshot["degraded"] for q in worse.quality)
    stored = client.metadata.monitoring.windows("cancer", kind="quality")
    assert len(stored) == 6
