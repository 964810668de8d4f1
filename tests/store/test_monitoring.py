"""The monitoring repository (windows and alerts), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from modelcycle.errors import InvalidValueError, NotFoundError
from modelcycle.store import MetadataStore

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def _save(store: MetadataStore, minute: int, *, kind: str = "drift", version: int | None = 1):
    return store.monitoring.save_window(
        "churn",
        kind=kind,
        version=version,
        start=T0 + timedelta(minutes=minute),
        end=T0 + timedelta(minutes=minute + 1),
        n_rows=10 + minute,
        snapshot={"share_drifted": minute / 10, "columns": [{"column": "age"}]},
    )


def test_saved_windows_read_back_oldest_first_with_their_snapshots(store: MetadataStore) -> None:
    saved = [_save(store, m) for m in (2, 0, 1)]
    found = store.monitoring.windows("churn", kind="drift")
    assert [w.n_rows for w in found] == [10, 11, 12]
    assert found[2] == saved[0]
    assert found[0].snapshot == {"share_drifted": 0.0, "columns": [{"column": "age"}]}
    assert store.monitoring.window(saved[1].window_id).start == T0
    assert store.monitoring.windows("other") == []


def test_window_filters_by_kind_version_since_and_limit_keeps_newest(
    store: MetadataStore,
) -> None:
    for minute in range(4):
        _save(store, minute, version=1 + minute % 2)
    _save(store, 9, kind="operations", version=None)
    repo = store.monitoring
    assert [w.n_rows for w in repo.windows("churn", version=2)] == [11, 13]
    assert [w.kind for w in repo.windows("churn", kind="operations")] == ["operations"]
    assert [w.n_rows for w in repo.windows("churn", kind="drift", limit=2)] == [12, 13]
    later = repo.windows("churn", kind="drift", since=T0 + timedelta(minutes=2))
    assert [w.n_rows for w in later] == [12, 13]


def test_latest_windows_gives_the_newest_per_model_version(store: MetadataStore) -> None:
    for minute in range(4):
        _save(store, minute, version=1 + minute % 2)
    latest = store.monitoring.latest_windows("drift")
    assert sorted((w.version, w.n_rows) for w in latest) == [(1, 12), (2, 13)]


def test_bad_windows_are_refused_naming_the_field(store: MetadataStore) -> None:
    with pytest.raises(InvalidValueError, match="window kind"):
        _save(store, 0, kind="speed")
    with pytest.raises(InvalidValueError, match="window end"):
        store.monitoring.save_window(
            "m", kind="drift", start=T0, end=T0 - timedelta(1), n_rows=1, snapshot={}
        )
    with pytest.raises(InvalidValueError, match="window snapshot"):
        store.monitoring.save_window(
            "m", kind="drift", start=T0, end=T0, n_rows=1, snapshot={"x": float("nan")}
        )
    with pytest.raises(InvalidValueError, match="timezone-aware"):
        store.monitoring.save_window(
            "m", kind="drift", start=T0.replace(tzinfo=None), end=T0, n_rows=1, snapshot={}
        )
    with pytest.raises(NotFoundError, match="no monitoring window 99"):
        store.monitoring.window(99)


def test_alerts_read_back_and_last_alert_finds_newest_by_fingerprint(
    store: MetadataStore,
) -> None:
    repo = store.monitoring
    assert repo.last_alert("fp1") is None
    first = repo.add_alert(
        "churn",
        rule="drift",
        severity="warning",
        fingerprint="fp1",
        message="a",
        value=0.6,
        threshold=0.5,
        version=1,
        fired_at=T0,
    )
    repo.add_alert(
        "churn",
        rule="drift",
        severity="warning",
        fingerprint="fp1",
        message="b",
        fired_at=T0 + timedelta(minutes=5),
        delivery="200",
    )
    repo.add_alert(
        "other",
        rule="latency",
        severity="critical",
        fingerprint="fp2",
        message="c",
        fired_at=T0 + timedelta(minutes=1),
    )
    last = repo.last_alert("fp1")
    assert last is not None and last.message == "b" and last.delivery == "200"
    assert [a.message for a in repo.alerts("churn")] == ["a", "b"]
    assert [a.message for a in repo.alerts()] == ["a", "c", "b"]
    assert [a.message for a in repo.alerts(rule="latency")] == ["c"]
    assert repo.alerts("churn")[0] == first
    assert first.value == 0.6 and first.threshold == 0.5 and first.version == 1
    with pytest.raises(InvalidValueError, match="fingerprint"):
        repo.add_alert("churn", rule="drift", severity="x", fingerprint="", message="m")
