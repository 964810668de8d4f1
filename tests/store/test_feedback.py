"""The feedback repository, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from modelcycle.errors import InvalidValueError
from modelcycle.store import MetadataStore
from modelcycle.store._predictions import FailedRequest
from modelcycle.types import FeedbackRecord, IngestCounts, PredictionRecord

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def _prediction(request_id: str, rows: int, *, seconds: int = 0, shadow: bool = False) -> Any:
    return PredictionRecord(
        request_id=request_id,
        model="churn",
        version=1,
        time=T0 + timedelta(seconds=seconds),
        latency_ms=1.0,
        n_rows=rows,
        inputs={"age": [30 + i for i in range(rows)], "city": ["paris"] * rows},
        outputs={
            "predict": ["yes" if i % 2 else "no" for i in range(rows)],
            "predict_proba": [[0.4, 0.6] if i % 2 else [0.8, 0.2] for i in range(rows)],
        },
        shadow=shadow,
        sample_rate=1.0,
    )


def _label(row_id: str, value: Any, *, minutes: int = 0, kind: str = "label") -> FeedbackRecord:
    return FeedbackRecord(
        row_id=row_id,
        request_id=row_id.rpartition(":")[0],
        model="churn",
        version=1,
        kind=kind,
        value=value,
        source="tests",
        received_at=T0 + timedelta(minutes=minutes),
    )


@pytest.fixture
def logged(store: MetadataStore) -> MetadataStore:
    """Requests a (3 rows, at T0) and b (1 row, at T0 + 5 s) in the log."""
    store.predictions.insert_many([_prediction("a", 3), _prediction("b", 1, seconds=5)])
    return store


def test_feedback_reads_back_in_order_received(logged: MetadataStore) -> None:
    counts = logged.feedback.add_many([_label("b:0", "yes", minutes=2), _label("a:1", "no")])
    assert counts == IngestCounts(accepted=2)
    found = logged.feedback.query("churn")
    assert [(f.row_id, f.value, f.conflict) for f in found] == [
        ("a:1", "no", False),
        ("b:0", "yes", False),
    ]
    assert found[0].received_at == T0 and found[0].source == "tests"
    assert found[0].feedback_id is not None


def test_the_same_feedback_sent_twice_is_recorded_once(logged: MetadataStore) -> None:
    batch = [_label("a:0", "yes"), _label("a:1", "no")]
    assert logged.feedback.add_many(batch) == IngestCounts(accepted=2)
    assert logged.feedback.add_many(batch) == IngestCounts(duplicates=2)
    # within one batch as well
    assert logged.feedback.add_many([_label("b:0", 1), _label("b:0", 1)]) == IngestCounts(
        accepted=1, duplicates=1
    )
    assert logged.feedback.count("churn")["feedback"] == 3


def test_a_conflicting_label_is_recorded_beside_the_first_not_over_it(
    logged: MetadataStore,
) -> None:
    logged.feedback.add_many([_label("a:0", "yes")])
    counts = logged.feedback.add_many([_label("a:0", "no", minutes=1)])
    assert counts == IngestCounts(conflicts=1)
    found = logged.feedback.query("churn")
    assert [(f.value, f.conflict) for f in found] == [("yes", False), ("no", True)]
    assert logged.feedback.count("churn") == {"feedback": 2, "rows": 1, "conflicting_rows": 1}
    # the conflicting value sent again is a duplicate of it, not a new conflict
    assert logged.feedback.add_many([_label("a:0", "no")]) == IngestCounts(duplicates=1)


def test_labels_and_ratings_of_a_row_are_separate_kinds(logged: MetadataStore) -> None:
    counts = logged.feedback.add_many([_label("a:0", "yes"), _label("a:0", 4, kind="rating")])
    assert counts == IngestCounts(accepted=2)
    assert [f.value for f in logged.feedback.query("churn", kind="rating")] == [4]
    assert len(logged.feedback.query("churn", kind=None)) == 2


def test_query_and_count_filter_on_version_and_time_received(logged: MetadataStore) -> None:
    logged.feedback.add_many([_label("a:0", "yes"), _label("a:1", "no", minutes=10)])
    since = T0 + timedelta(minutes=5)
    assert [f.row_id for f in logged.feedback.query("churn", since=since)] == ["a:1"]
    assert [f.row_id for f in logged.feedback.query("churn", until=since)] == ["a:0"]
    assert logged.feedback.count("churn", version=2)["feedback"] == 0
    assert logged.feedback.query("other") == []


def test_labelled_frame_joins_labels_to_logged_rows_latest_label_wins(
    logged: MetadataStore,
) -> None:
    logged.feedback.add_many(
        [_label("a:2", "yes"), _label("b:0", "no"), _label("a:2", "no", minutes=3)]
    )
    frame = logged.feedback.labelled_frame("churn", classes=["no", "yes"])
    assert frame["row_id"].tolist() == ["a:2", "b:0"]
    assert frame["label"].tolist() == ["no", "no"]  # a:2's latest label
    assert frame["age"].tolist() == [32, 30]
    assert frame["prediction"].tolist() == ["no", "no"]
    assert frame["proba_yes"].tolist() == [0.2, 0.2]
    assert frame["conflict"].tolist() == [True, False]
    assert frame.attrs["conflicts"] == 1
    assert frame.attrs["feedback"] == 3
    assert {"time", "version", "request_id", "city"} <= set(frame.columns)


def test_labelled_frame_of_a_model_without_feedback_is_empty(logged: MetadataStore) -> None:
    frame = logged.feedback.labelled_frame("churn")
    assert len(frame) == 0 and "label" in frame.columns
    assert frame.attrs["conflicts"] == 0


def test_logged_requests_finds_live_requests_only(store: MetadataStore) -> None:
    store.predictions.insert_many([_prediction("a", 3), _prediction("s", 2, shadow=True)])
    found = store.feedback.logged_requests(["a", "s", "zzz"])
    assert list(found) == ["a"]
    assert (found["a"].model, found["a"].version, found["a"].n_rows) == ("churn", 1, 3)


def test_a_failed_request_is_found_as_failed_and_never_joins_a_label(
    logged: MetadataStore,
) -> None:
    failure = FailedRequest(
        request_id="bad",
        model="churn",
        version=1,
        time=T0 + timedelta(seconds=1),
        latency_ms=0.3,
        status=422,
        error="invalid value 'x' for field 'age'",
    )
    logged.predictions.insert_many([failure])
    found = logged.feedback.logged_requests(["a", "bad"])
    assert (found["bad"].status, found["bad"].failed, found["bad"].n_rows) == (422, True, 0)
    assert (found["a"].status, found["a"].failed) == (200, False)
    # even a label stored for it directly (the repository trusts its caller) joins no row
    logged.feedback.add_many([_label("a:0", "no"), _label("bad:0", "yes")])
    frame = logged.feedback.labelled_frame("churn")
    assert frame["row_id"].tolist() == ["a:0"]


def test_many_rows_are_written_in_one_batch(logged: MetadataStore) -> None:
    logged.predictions.insert_many([_prediction("big", 1200)])
    batch = [_label(f"big:{i}", "yes" if i % 3 else "no") for i in range(1200)]
    assert logged.feedback.add_many(batch) == IngestCounts(accepted=1200)
    assert logged.feedback.add_many(batch[:700]) == IngestCounts(duplicates=700)
    assert len(logged.feedback.labelled_frame("churn")) == 1200


@pytest.mark.parametrize(
    ("record", "match"),
    [
        (_label("a:0", "x", kind="grade"), "feedback kind"),
        (_label("a:0", None), "label of row 'a:0'"),
        (_label("a:0", float("nan")), "finite"),
        (_label("a:0", "good", kind="rating"), "rating of row 'a:0'.*expected a number"),
        (_label("a:0", [1, 2]), "single number"),
    ],
)
def test_invalid_feedback_is_refused_naming_the_row(
    logged: MetadataStore, record: FeedbackRecord, match: str
) -> None:
    with pytest.raises(InvalidValueError, match=match):
        logged.feedback.add_many([_label("a:1", "yes"), record])
    assert logged.feedback.count("churn", kind=None)["feedback"] == 0  # nothing half-written


def test_time_filters_must_be_timezone_aware(logged: MetadataStore) -> None:
    with pytest.raises(InvalidValueError, match="since"):
        logged.feedback.query("churn", since=datetime(2026, 1, 1))
