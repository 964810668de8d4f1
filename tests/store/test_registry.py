"""The registry and audit aggregates on every backend: versions, aliases, history, the chain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelcycle.errors import ConflictError, NotFoundError
from modelcycle.store import MetadataStore
from modelcycle.store._registry import ANY


def _versions(store: MetadataStore, name: str, count: int) -> None:
    for number in range(count):
        store.registry.create_version(
            name, bundle_sha256=f"{number:064x}", created_by="alice", info={"n": number}
        )


def test_versions_are_numbered_from_one_per_name(store: MetadataStore) -> None:
    _versions(store, "churn", 3)
    _versions(store, "fraud", 1)
    assert [v.version for v in store.registry.versions("churn")] == [3, 2, 1]
    first = store.registry.get_version("churn", 1)
    assert first.ref == "churn@1" and first.created_by == "alice" and first.info == {"n": 0}
    assert first.status == "ready" and not first.onnx_ready
    listed = {m["name"]: m["latest_version"] for m in store.registry.models()}
    assert listed == {"churn": 3, "fraud": 1}
    with pytest.raises(NotFoundError, match="no model version churn@9"):
        store.registry.get_version("churn", 9)
    with pytest.raises(NotFoundError, match="no registered model named 'nope'"):
        store.registry.versions("nope")


def test_alias_moves_are_compare_and_swap_with_full_history(store: MetadataStore) -> None:
    _versions(store, "churn", 3)
    registry = store.registry
    registry.move_alias("churn", "champion", 1, expected=None, actor="alice", reason="first")
    registry.move_alias("churn", "champion", 2, expected=1, actor="bob", reason="better")
    with pytest.raises(ConflictError, match=r"it was at version 1, it is now at version 2"):
        registry.move_alias("churn", "champion", 3, expected=1, actor="carol")
    assert registry.aliases("churn") == {"champion": 2}
    assert registry.get_version("churn", 2).aliases == ("champion",)
    history = registry.alias_history("churn", "champion")
    assert [(h.from_version, h.to_version, h.actor, h.reason) for h in history] == [
        (None, 1, "alice", "first"),
        (1, 2, "bob", "better"),
    ]


def test_archiving_a_version_an_alias_points_to_is_refused(store: MetadataStore) -> None:
    _versions(store, "churn", 2)
    store.registry.move_alias("churn", "champion", 2, actor="alice")
    with pytest.raises(ConflictError, match="alias champion points to it"):
        store.registry.set_status("churn", 2, "archived", actor="alice", reason="old")
    store.registry.set_status("churn", 1, "archived", actor="alice", reason="old")
    assert store.registry.get_version("churn", 1).status == "archived"
    with pytest.raises(ConflictError, match="churn@1 is archived"):
        store.registry.move_alias("churn", "champion", 1, actor="alice")


def test_every_change_is_audited_and_the_chain_verifies(store: MetadataStore) -> None:
    _versions(store, "churn", 2)
    store.registry.move_alias("churn", "champion", 1, actor="alice", reason="go")
    store.registry.move_alias("churn", "champion", 2, actor="bob", reason="better")
    events = store.audit.list()
    assert [(e.seq, e.action, e.target) for e in events] == [
        (1, "register", "churn@1"),
        (2, "register", "churn@2"),
        (3, "move_alias", "churn@champion"),
        (4, "move_alias", "churn@champion"),
    ]
    assert events[3].before == {"version": 1} and events[3].after["version"] == 2
    assert events[1].prev_hash == events[0].hash
    assert store.audit.verify().ok


def _tamper(store: MetadataStore, statement: str) -> None:
    with store.db.engine.begin() as conn:
        conn.execute(sa.text(statement))


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2", "event 2: its content was"),
        ("DELETE FROM audit_events WHERE seq = 2", "events 2..2 are missing"),
        ("DELETE FROM audit_events WHERE seq = 3", "the newest events were deleted"),
        (
            "UPDATE audit_events SET after_json = '{\"version\": 9}' WHERE seq = 3",
            "event 3: its content was changed",
        ),
    ],
    ids=["edited", "deleted", "tail-deleted", "rewritten"],
)
def test_an_edited_or_deleted_audit_event_is_detected(
    store: MetadataStore, statement: str, problem: str
) -> None:
    _versions(store, "churn", 2)
    store.registry.move_alias("churn", "champion", 1, actor="alice")
    _tamper(store, statement)
    verification = store.audit.verify()
    assert not verification.ok
    assert any(problem in p for p in verification.problems), verification.problems


_MOVER = """
import sys, time
from pathlib import Path
from modelcycle.errors import ConflictError
from modelcycle.store import MetadataStore

url, version, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
store = MetadataStore(url)
seen = store.registry.aliases("churn")["champion"]
Path(go + f".ready{version}").touch()
while not Path(go).exists():
    time.sleep(0.002)
try:
    store.registry.move_alias("churn", "champion", version, expected=seen, actor=f"p{version}")
    print("won")
except ConflictError as error:
    print("conflict:", error)
"""


def test_two_processes_moving_one_alias_at_once_one_wins_one_conflicts(
    store_url: str, tmp_path: Path
) -> None:
    store = MetadataStore(store_url)
    _versions(store, "churn", 3)
    store.registry.move_alias("churn", "champion", 1, actor="setup")
    go = tmp_path / "go"
    movers = [
        subprocess.Popen(
            [sys.executable, "-c", _MOVER, store_url, str(v), str(go)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for v in (2, 3)
    ]
    for _ in range(6000):  # both have read the alias before either moves it
        if all(Path(f"{go}.ready{v}").exists() for v in (2, 3)):
            break
        import time

        time.sleep(0.005)
    go.touch()
    outputs = [m.communicate(timeout=120)[0].strip() for m in movers]
    assert sorted(o.split(":")[0] for o in outputs) == ["conflict", "won"], outputs
    winner = 2 if outputs[0] == "won" else 3
    assert store.registry.aliases("churn") == {"champion": winner}
    history = store.registry.alias_history("churn", "champion")
    assert [(h.from_version, h.to_version) for h in history] == [(None, 1), (1, winner)]
    assert "it was at version 1, it is now at version" in next(o for o in outputs if o != "won")
    assert store.audit.verify().ok
    store.close()


def test_any_skips_the_check(store: MetadataStore) -> None:
    _versions(store, "churn", 2)
    store.registry.move_alias("churn", "champion", 1, actor="a")
    store.registry.move_alias("churn", "champion", 2, expected=ANY, actor="a")
    assert store.registry.aliases("churn") == {"champion": 2}
