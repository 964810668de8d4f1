"""The prediction logger: bounded, non-blocking, batched, sampled, counted."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from modelcycle.errors import InvalidValueError
from modelcycle.serving._predlog import PredictionLogger, row_id
from modelcycle.store import MetadataStore
from modelcycle.types import PredictionEvent

NOW = datetime(2026, 3, 1, 8, 30, tzinfo=timezone.utc)


def _event(request_id: str, *, shadow: bool = False, value: object = 1.5) -> PredictionEvent:
    return PredictionEvent(
        request_id=request_id,
        model="cancer",
        version=2 if shadow else 1,
        inputs={"radius": [value, 2.0], "texture": [10.0, None]},
        outputs={"predict": [0, 1], "predict_proba": [[0.8, 0.2], [0.3, 0.7]]},
        latency_ms=0.4,
        time=NOW,
        shadow=shadow,
    )


def test_every_event_is_written_in_batches_and_queryable(store: MetadataStore) -> None:
    with PredictionLogger(store, batch_size=3, flush_seconds=0.05) as logger:
        assert all(logger.log(_event(f"r{i}")) for i in range(7))
        assert logger.flush()
        assert logger.stats() == {
            "written": 7,
            "dropped": 0,
            "sampled_out": 0,
            "failed": 0,
            "pending": 0,
            "depth": 0,
        }
    records = store.predictions.query("cancer")
    assert sorted(r.request_id for r in records) == [f"r{i}" for i in range(7)]
    first = next(r for r in records if r.request_id == "r0")
    assert first.inputs == {"radius": [1.5, 2.0], "texture": [10.0, None]}
    assert first.outputs["predict_proba"] == [[0.8, 0.2], [0.3, 0.7]]
    assert (first.n_rows, first.version, first.time, first.sample_rate) == (2, 1, NOW, 1.0)


def test_a_full_queue_drops_and_counts_instead_of_blocking(store: MetadataStore) -> None:
    logger = PredictionLogger(store, queue_size=2, flush_seconds=0.05)  # writer not started
    accepted = [logger.log(_event(f"r{i}")) for i in range(5)]
    assert accepted == [True, True, False, False, False]
    assert (logger.dropped, logger.depth) == (3, 2)
    logger.close()
    assert (logger.written, logger.dropped) == (2, 3)
    assert store.predictions.count("cancer") == {"requests": 2, "rows": 4, "errors": 0}


def test_events_after_close_are_counted_as_dropped(store: MetadataStore) -> None:
    logger = PredictionLogger(store, flush_seconds=0.05).start()
    logger.log(_event("before"))
    logger.close()
    assert logger.log(_event("after")) is False
    assert (logger.written, logger.dropped) == (1, 1)


def test_sampling_keeps_about_the_rate_and_a_shadow_copy_with_its_request(
    store: MetadataStore,
) -> None:
    logger = PredictionLogger(store, sample=0.3, seed=7, queue_size=5000)
    kept = [logger.log(_event(f"req-{i}")) for i in range(2000)]
    assert 500 <= sum(kept) <= 700
    assert logger.sampled_out == 2000 - sum(kept)
    assert logger.dropped == 0
    shadows = [logger.log(_event(f"req-{i}", shadow=True)) for i in range(2000)]
    assert shadows == kept
    other_worker = PredictionLogger(store, sample=0.3, seed=7)
    assert [other_worker.keeps(f"req-{i}") for i in range(2000)] == kept
    assert not PredictionLogger(store, sample=0.0).keeps("x")


def test_sampled_records_carry_their_rate(store: MetadataStore) -> None:
    with PredictionLogger(store, sample=0.5, seed=1, flush_seconds=0.05) as logger:
        for i in range(40):
            logger.log(_event(f"r{i}"))
        logger.flush()
    records = store.predictions.query("cancer")
    assert len(records) == logger.written == 40 - logger.sampled_out
    assert {r.sample_rate for r in records} == {0.5}


def test_a_failed_write_is_counted_and_later_batches_still_land(store: MetadataStore) -> None:
    with PredictionLogger(store, batch_size=1, flush_seconds=0.05) as logger:
        assert logger.log(_event("bad", value=object()))  # not JSON: the write fails
        assert logger.log(_event("good"))
        assert logger.log(_event("good"))  # already logged: not written twice
        assert logger.flush()
    assert (logger.written, logger.failed) == (1, 2)
    assert [r.request_id for r in store.predictions.query("cancer")] == ["good"]


def test_failures_share_the_queue_are_never_sampled_and_are_counted(
    store: MetadataStore,
) -> None:
    with PredictionLogger(store, sample=0.0, batch_size=10, flush_seconds=0.05) as logger:
        assert not logger.log(_event("answered"))  # sampled out
        error = "invalid value 'x' for field 'radius': expected a number\n  more detail"
        assert logger.log_failure("bad", "cancer", 1, latency_ms=0.7, status=400, error=error)
        assert logger.log_failure("boom", "cancer", 1, latency_ms=3.0, status=500, error="oops")
        assert not logger.log_failure("ok", "cancer", 1, latency_ms=1.0, status=200, error="")
        assert logger.flush()
    assert logger.stats() == {
        "written": 2,
        "dropped": 0,
        "sampled_out": 1,
        "failed": 1,
        "pending": 0,
        "depth": 0,
    }
    assert store.predictions.query("cancer") == []
    failed = store.predictions.failures("cancer")
    assert [(f.request_id, f.status, f.latency_ms) for f in failed] == [
        ("bad", 400, 0.7),
        ("boom", 500, 3.0),
    ]
    assert failed[0].error == "invalid value 'x' for field 'radius': expected a number"
    assert failed[0].time.tzinfo is not None


def test_a_full_queue_drops_failures_too(store: MetadataStore) -> None:
    logger = PredictionLogger(store, queue_size=1)  # writer not started
    assert logger.log(_event("first"))
    assert not logger.log_failure("bad", "cancer", 1, latency_ms=1.0, status=400, error="no")
    assert logger.dropped == 1
    logger.close()
    assert store.predictions.count("cancer") == {"requests": 1, "rows": 2, "errors": 0}


def test_row_ids_name_request_and_row() -> None:
    assert row_id("abc", 3) == "abc:3"


@pytest.mark.parametrize(
    ("option", "value"),
    [("sample", 1.5), ("queue_size", 0), ("batch_size", -1), ("flush_seconds", 0.0)],
)
def test_bad_settings_are_refused_naming_them(
    store: MetadataStore, option: str, value: float
) -> None:
    with pytest.raises(InvalidValueError, match=option):
        PredictionLogger(store, **{option: value})  # type: ignore[arg-type]
