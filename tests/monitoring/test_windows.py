"""Monitoring windows over a real prediction log, against the version's training profile."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.monitoring.deployed import T0, deploy, labels, traffic

from modelcycle.errors import InvalidValueError, NotFoundError
from modelcycle.monitoring import monitor_windows, reference_for
from modelcycle.monitoring._windows import parse_size
from modelcycle.registry import Registry
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
