"""The audit aggregate: an append-only, hash-chained log of registry changes.

Each event's ``hash`` is the SHA-256 of the previous event's hash and the event's canonical
JSON (sequence number, time, actor, action, target, before, after), so editing any field of
any event, deleting or reordering events breaks the chain at that point; the head row
(newest sequence number and hash, written in the same transaction as each append) makes
deleting the newest events detectable too. :meth:`AuditRepository.verify` walks the chain.

Appends happen inside the transaction of the change they record (:func:`append_event` takes
the caller's connection), so a change and its audit event commit or fail together. Writers
are serialised on the head row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write
transactions are exclusive already).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from modelcycle.store import _schema as s
from modelcycle.store._db import Database, now_ms
from modelcycle.store._experiments import to_datetime
from modelcycle.types import AuditEvent

__all__ = ["GENESIS", "AuditRepository", "AuditVerification", "append_event", "event_hash"]

#: The ``prev_hash`` of the first event.
GENESIS = "0" * 64


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """The chained hash of one event (``fields``: seq, at, actor, action, target, before,
    after)."""
    return hashlib.sha256((prev_hash + _canonical(fields)).encode("utf-8")).hexdigest()


def append_event(
    conn: sa.Connection,
    *,
    actor: str,
    action: str,
    target: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction and move the head; the event is returned."""
    head = conn.execute(
        sa.select(s.audit_head).where(s.audit_head.c.id == 1).with_for_update()
    ).first()
    seq, prev = (1, GENESIS) if head is None else (head.seq + 1, head.hash)
    fields = {
        "seq": seq,
        "at": now_ms(),
        "actor": actor,
        "action": action,
        "target": target,
        "before": before or {},
        "after": after or {},
    }
    digest = event_hash(prev, fields)
    conn.execute(
        sa.insert(s.audit_events).values(
            seq=seq,
            at=fields["at"],
            actor=actor,
            action=action,
            target=target,
            before_json=_canonical(fields["before"]),
            after_json=_canonical(fields["after"]),
            prev_hash=prev,
            hash=digest,
        )
    )
    if head is None:
        conn.execute(sa.insert(s.audit_head).values(id=1, seq=seq, hash=digest))
    else:
        conn.execute(
            sa.update(s.audit_head).where(s.audit_head.c.id == 1).values(seq=seq, hash=digest)
        )
    return _event(fields, prev, digest)


def _event(fields: dict[str, Any], prev: str, digest: str) -> AuditEvent:
    return AuditEvent(
        seq=fields["seq"],
        at=to_datetime(fields["at"]),
        actor=fields["actor"],
        action=fields["action"],
        target=fields["target"],
        before=fields["before"],
        after=fields["after"],
        prev_hash=prev,
        hash=digest,
    )


def _stored_fields(row: Any) -> dict[str, Any]:
    """The hashed fields of a stored event row."""
    return {
        "seq": row.seq,
        "at": row.at,
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "before": json.loads(row.before_json),
        "after": json.loads(row.after_json),
    }


@dataclass
class AuditVerification:
    """The result of walking the chain: ``ok``, how many events, and each problem found."""

    events: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the chain is intact."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"ok": self.ok, "events": self.events, "problems": self.problems}


class AuditRepository:
    """Read and verify the audit log (appends go through :func:`append_event`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def list(self, target: str | None = None, limit: int | None = None) -> list[AuditEvent]:
        """Events oldest first; ``target`` keeps those whose target starts with it."""
        query = sa.select(s.audit_events).order_by(s.audit_events.c.seq)
        if target is not None:
            query = query.where(s.audit_events.c.target.startswith(target, autoescape=True))
        if limit is not None:
            query = query.limit(limit)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [self._row(row) for row in rows]

    @staticmethod
    def _row(row: Any) -> AuditEvent:
        return _event(_stored_fields(row), row.prev_hash, row.hash)

    def verify(self) -> AuditVerification:
        """Walk the chain from the first event: every event's hash recomputed from its fields
        and the previous hash, sequence numbers contiguous from 1, the head matching the
        newest event. Each break is named by its sequence number."""
        with self._db.read() as conn:
            rows = conn.execute(sa.select(s.audit_events).order_by(s.audit_events.c.seq)).all()
            head = conn.execute(sa.select(s.audit_head).where(s.audit_head.c.id == 1)).first()
        result = AuditVerification(events=len(rows))
        prev, expected_seq = GENESIS, 1
        for row in rows:
            if row.seq != expected_seq:
                result.problems.append(f"events {expected_seq}..{row.seq - 1} are missing")
            if row.prev_hash != prev:
                result.problems.append(f"event {row.seq}: does not follow the previous event")
            if event_hash(row.prev_hash, _stored_fields(row)) != row.hash:
                result.problems.append(f"event {row.seq}: its content was changed")
            prev, expected_seq = row.hash, row.seq + 1
        last = rows[-1] if rows else None
        if head is not None and (last is None or (head.seq, head.hash) != (last.seq, last.hash)):
            shown = 0 if last is None else last.seq
            result.problems.append(
                f"the log ends at event {shown} but the head records event {head.seq}: "
                "the newest events were deleted or replaced"
            )
        if head is None and rows:
            result.problems.append("the audit head is missing")
        return result
