"""The prediction log and API-key repositories, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from modelcycle.errors import AlreadyExistsError, InvalidValueError, NotFoundError
from modelcycle.store import MetadataStore
from modelcycle.store._predictions import FailedRequest
from modelcycle.types import PredictionRecord

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def _record(
    request_id: str,
    *,
    version: int = 1,
    seconds: int = 0,
    rows: int = 2,
    shadow: bool = False,
    proba: bool = True,
) -> PredictionRecord:
    inputs = {"age": [30 + i for i in range(rows)], "city": ["paris", None][:rows] * rows}
    inputs["city"] = inputs["city"][:rows]
    outputs: dict[str, list[object]] = {"predict": ["yes" if i % 2 else "no" for i in range(rows)]}
    if proba:
        outputs["predict_proba"] = [[0.25, 0.75] if i % 2 else [0.9, 0.1] for i in range(rows)]
    return PredictionRecord(
        request_id=request_id,
        model="churn",
        version=version,
        time=T0 + timedelta(seconds=seconds),
        latency_ms=1.5,
        n_rows=rows,
        inputs=inputs,
        outputs=outputs,
        shadow=shadow,
        sample_rate=1.0,
    )


def test_logged_requests_read_back_unchanged_oldest_first(store: MetadataStore) -> None:
    records = [_record("b", seconds=2), _record("a", seconds=1, rows=1)]
    assert store.predictions.insert_many(records) == 2
    found = store.predictions.query("churn")
    assert [r.request_id for r in found] == ["a", "b"]
    assert found[1] == records[0]
    assert store.predictions.query("other") == []


def test_a_request_id_logged_twice_keeps_its_first_record(store: MetadataStore) -> None:
    assert store.predictions.insert_many([_record("a")]) == 1
    assert store.predictions.insert_many([_record("a", version=9), _record("b")]) == 1
    assert [r.version for r in store.predictions.query("churn")] == [1, 1]


def test_shadow_copy_of_a_request_is_its_own_record(store: MetadataStore) -> None:
    store.predictions.insert_many([_record("a"), _record("a", version=2, shadow=True)])
    assert [r.version for r in store.predictions.query("churn")] == [1]
    assert [r.version for r in store.predictions.query("churn", shadow=True)] == [2]
    assert len(store.predictions.query("churn", shadow=None)) == 2


def test_filters_by_version_and_time_window_and_limit_keeps_newest(
    store: MetadataStore,
) -> None:
    store.predictions.insert_many(
        [_record(f"r{i}", version=1 + i % 2, seconds=i) for i in range(6)]
    )
    log = store.predictions
    assert [r.request_id for r in log.query("churn", version=2)] == ["r1", "r3", "r5"]
    window = log.query("churn", since=T0 + timedelta(seconds=2), until=T0 + timedelta(seconds=4))
    assert [r.request_id for r in window] == ["r2", "r3"]
    assert [r.request_id for r in log.query("churn", limit=2)] == ["r4", "r5"]
    assert log.count("churn") == {"requests": 6, "rows": 12, "errors": 0}
    assert log.count("churn", version=1) == {"requests": 3, "rows": 6, "errors": 0}


def test_frame_has_one_row_per_predicted_row_with_inputs_and_probabilities(
    store: MetadataStore,
) -> None:
    store.predictions.insert_many([_record("a", rows=2), _record("b", seconds=1, rows=1)])
    frame = store.predictions.frame("churn", classes=["no", "yes"])
    assert list(frame.columns) == [
        "request_id",
        "row_id",
        "time",
        "version",
        "age",
        "city",
        "prediction",
        "proba_no",
        "proba_yes",
    ]
    assert frame["row_id"].tolist() == ["a:0", "a:1", "b:0"]
    assert frame["age"].tolist() == [30, 31, 30]
    assert frame["city"].iloc[[0, 2]].tolist() == ["paris", "paris"]
    assert frame["city"].isna().tolist() == [False, True, False]
    assert frame["prediction"].tolist() == ["no", "yes", "no"]
    assert frame["proba_yes"].tolist() == [0.1, 0.75, 0.1]
    assert str(frame["time"].dt.tz) == "UTC"
    assert frame["time"].iloc[2] == T0 + timedelta(seconds=1)


def test_frame_without_classes_numbers_probabilities_and_fills_missing_outputs(
    store: MetadataStore,
) -> None:
    store.predictions.insert_many([_record("a", rows=1), _record("b", seconds=1, proba=False)])
    frame = store.predictions.frame("churn")
    assert frame["proba_1"].iloc[0] == 0.1
    assert frame["proba_1"].iloc[1:].isna().all()
    with pytest.raises(InvalidValueError, match="classes"):
        store.predictions.frame("churn", classes=["a", "b", "c"])


def test_frame_of_an_empty_log_has_the_fixed_columns(store: MetadataStore) -> None:
    frame = store.predictions.frame("churn")
    assert frame.empty
    assert list(frame.columns) == ["request_id", "row_id", "time", "version", "prediction"]


def _failure(request_id: str, *, status: int = 400, seconds: int = 0) -> FailedRequest:
    return FailedRequest(
        request_id=request_id,
        model="churn",
        version=1,
        time=T0 + timedelta(seconds=seconds),
        latency_ms=0.5,
        status=status,
        error=f"invalid value 'x' for field 'age': expected a number\nsecond line {'z' * 400}",
    )


def test_failed_requests_are_kept_apart_from_the_predictions(store: MetadataStore) -> None:
    log = store.predictions
    records = [_record("a", rows=2), _failure("bad", seconds=1), _record("b", seconds=2)]
    assert log.insert_many([*records, _failure("boom", status=500, seconds=3)]) == 4
    assert [r.request_id for r in log.query("churn")] == ["a", "b"]
    assert log.frame("churn")["request_id"].tolist() == ["a", "a", "b", "b"]
    failed = log.failures("churn")
    assert [(f.request_id, f.status, f.version) for f in failed] == [
        ("bad", 400, 1),
        ("boom", 500, 1),
    ]
    assert failed[0].error == "invalid value 'x' for field 'age': expected a number"
    assert failed[0].time == T0 + timedelta(seconds=1) and failed[0].latency_ms == 0.5
    assert log.count("churn") == {"requests": 4, "rows": 4, "errors": 2}
    ops = log.operations("churn")
    assert ops["request_id"].tolist() == ["a", "bad", "b", "boom"]
    assert ops["status"].tolist() == [200, 400, 200, 500]
    assert ops["n_rows"].tolist() == [2, 0, 2, 0]
    assert str(ops["time"].dt.tz) == "UTC" and ops["time"].iloc[1] == T0 + timedelta(seconds=1)
    assert log.operations("churn", since=T0 + timedelta(seconds=2))["status"].tolist() == [200, 500]
    assert log.operations("other").empty


def test_a_failed_request_keeps_the_first_line_of_its_error_truncated(
    store: MetadataStore,
) -> None:
    long = _failure("long")
    store.predictions.insert_many([replace(long, error="y" * 1000 + "\nmore")])
    assert store.predictions.failures("churn")[0].error == "y" * 256
    with pytest.raises(InvalidValueError, match="status of failed request 'ok'"):
        store.predictions.insert_many([replace(_failure("ok"), status=200)])


def test_a_log_written_before_revision_0008_reads_as_answered_requests(
    empty_store_url: str,
) -> None:
    from pathlib import Path

    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    import modelcycle.store._db as db_module

    url = sa.make_url(empty_store_url)
    if url.drivername == "sqlite":
        Path(url.database or "").parent.mkdir(parents=True)
    config = Config()
    config.set_main_option("script_location", str(Path(db_module.__file__).with_name("migrations")))
    engine = sa.create_engine(empty_store_url)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0007")
        conn.exec_driver_sql(
            "INSERT INTO predictions (request_id, shadow, model, version, time, latency_ms, "
            "n_rows, inputs_json, outputs_json, sample_rate) VALUES ('old', false, 'churn', 1, "
            f"{int(T0.timestamp() * 1000)}, 2.0, 1, '{{\"age\": [40]}}', "
            '\'{"predict": ["no"]}\', 1.0)'
        )
    engine.dispose()
    store = MetadataStore(empty_store_url)
    try:
        assert [r.inputs for r in store.predictions.query("churn")] == [{"age": [40]}]
        assert store.predictions.operations("churn")["status"].tolist() == [200]
        assert store.predictions.failures("churn") == []
        store.predictions.insert_many([_failure("new")])
        assert store.predictions.count("churn") == {"requests": 2, "rows": 1, "errors": 1}
    finally:
        store.close()
    with engine.begin() as conn:  # and back: the failed request goes with its columns
        config.attributes["connection"] = conn
        command.downgrade(config, "0007")
        columns = {c["name"] for c in sa.inspect(conn).get_columns("predictions")}
        assert "status" not in columns and "error" not in columns
        assert conn.exec_driver_sql("SELECT request_id FROM predictions").all() == [("old",)]
    engine.dispose()


def test_naive_times_are_refused_naming_the_field(store: MetadataStore) -> None:
    with pytest.raises(InvalidValueError, match="since"):
        store.predictions.query("churn", since=datetime(2026, 1, 1))
    with pytest.raises(InvalidValueError, match="limit"):
        store.predictions.query("churn", limit=0)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def test_api_keys_are_found_by_hash_until_revoked(store: MetadataStore) -> None:
    created = store.keys.create(
        "ci", prefix="mc_abcde", secret_sha256=_hash("s1"), scopes=["feedback", "predict"]
    )
    assert created.scopes == ("predict", "feedback") and created.active
    assert store.keys.verify(_hash("s1")) == created
    assert store.keys.verify(_hash("s2")) is None
    assert list(store.keys.active()) == [_hash("s1")]
    revoked = store.keys.revoke("ci")
    assert revoked.revoked_at is not None and not revoked.active
    assert store.keys.verify(_hash("s1")) is None
    assert store.keys.active() == {}
    assert [k.name for k in store.keys.list()] == ["ci"]
    assert store.keys.list(include_revoked=False) == []


def test_api_key_names_are_unique_and_revoke_accepts_a_prefix(store: MetadataStore) -> None:
    store.keys.create("a", prefix="mc_aaaa1", secret_sha256=_hash("1"), scopes=["admin"])
    store.keys.create("b", prefix="mc_aaaa2", secret_sha256=_hash("2"), scopes=["admin"])
    with pytest.raises(AlreadyExistsError, match="'a'"):
        store.keys.create("a", prefix="mc_x", secret_sha256=_hash("3"), scopes=["admin"])
    with pytest.raises(InvalidValueError, match="several keys: a, b"):
        store.keys.revoke("mc_aaaa")
    assert store.keys.revoke("mc_aaaa2").name == "b"
    with pytest.raises(NotFoundError, match="nope"):
        store.keys.revoke("nope")
    with pytest.raises(InvalidValueError, match="scope"):
        store.keys.create("c", prefix="mc_c", secret_sha256=_hash("4"), scopes=["root"])
