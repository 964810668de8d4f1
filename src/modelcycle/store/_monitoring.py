"""The monitoring aggregate: stored window scores and fired alerts.

A window is one stretch of a model's prediction log (by time or by count) and what monitoring
found in it: ``kind`` ``drift``, ``quality`` or ``operations``, with its JSON snapshot kept as
text (the snapshot classes live in ``modelcycle.monitoring``; the store keeps plain JSON so it
never imports a later stage). Windows are immutable once written.

An alert is a fired rule. Its ``fingerprint`` (model, rule, what fired) lets the alerting code
find the last time the same thing fired, for de-duplication and a cooldown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from modelcycle.errors import NotFoundError, invalid_value
from modelcycle.store import _schema as s
from modelcycle.store._db import Database, aware_ms, now_ms
from modelcycle.store._experiments import to_datetime

__all__ = ["WINDOW_KINDS", "AlertRecord", "MonitoringRepository", "WindowRecord"]

#: The kinds of window snapshot the store keeps.
WINDOW_KINDS = ("drift", "quality", "operations")

_W = s.monitor_windows
_A = s.alerts


@dataclass(frozen=True)
class WindowRecord:
    """One stored window: ``start`` inclusive, ``end`` exclusive; ``version`` None when the
    window spans every version of the model; ``snapshot`` the decoded JSON snapshot."""

    window_id: int
    model: str
    version: int | None
    kind: str
    start: datetime
    end: datetime
    n_rows: int
    snapshot: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class AlertRecord:
    """One fired alert; ``delivery`` is the webhook's outcome (None: no webhook)."""

    alert_id: int
    model: str
    version: int | None
    rule: str
    severity: str
    fingerprint: str
    message: str
    value: float | None
    threshold: float | None
    window_id: int | None
    fired_at: datetime
    delivery: str | None


def _name(model: str) -> str:
    if not isinstance(model, str) or not model.strip() or len(model) > 256:
        raise invalid_value("model", model, "expected a non-empty name of <= 256 characters")
    return model


def _window(row: Any) -> WindowRecord:
    return WindowRecord(
        window_id=int(row.window_id),
        model=row.model,
        version=row.version,
        kind=row.kind,
        start=to_datetime(row.start),
        end=to_datetime(row.end),
        n_rows=int(row.n_rows),
        snapshot=json.loads(row.snapshot_json),
        created_at=to_datetime(row.created_at),
    )


def _alert(row: Any) -> AlertRecord:
    return AlertRecord(
        alert_id=int(row.alert_id),
        model=row.model,
        version=row.version,
        rule=row.rule,
        severity=row.severity,
        fingerprint=row.fingerprint,
        message=row.message,
        value=row.value,
        threshold=row.threshold,
        window_id=row.window_id,
        fired_at=to_datetime(row.fired_at),
        delivery=row.delivery,
    )


class MonitoringRepository:
    """Save and read monitoring windows; add and read alerts (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def save_window(
        self,
        model: str,
        *,
        kind: str,
        start: datetime,
        end: datetime,
        n_rows: int,
        snapshot: dict[str, Any],
        version: int | None = None,
    ) -> WindowRecord:
        """Store one window's snapshot (strict JSON: NaN or infinity is refused)."""
        if kind not in WINDOW_KINDS:
            raise invalid_value("window kind", kind, f"expected one of {', '.join(WINDOW_KINDS)}")
        first, last = aware_ms(start, "window start"), aware_ms(end, "window end")
        if last < first:
            raise invalid_value("window end", end, f"is before the window start {start}")
        if not isinstance(n_rows, int) or n_rows < 0:
            raise invalid_value("n_rows", n_rows, "expected a non-negative integer")
        try:
            text = json.dumps(snapshot, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise invalid_value("window snapshot", type(snapshot).__name__, str(exc)) from None
        row = {
            "model": _name(model),
            "version": None if version is None else int(version),
            "kind": kind,
            "start": first,
            "end": last,
            "n_rows": n_rows,
            "snapshot_json": text,
            "created_at": now_ms(),
        }
        with self._db.write() as conn:
            window_id = conn.execute(sa.insert(_W).values(**row).returning(_W.c.window_id)).scalar()
        return _window(_Row({**row, "window_id": window_id}))

    def windows(
        self,
        model: str,
        *,
        kind: str | None = None,
        version: int | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[WindowRecord]:
        """Stored windows of ``model`` oldest first (by end); ``since`` keeps windows ending
        after it; ``limit`` keeps the newest ``limit``."""
        where: list[sa.ColumnElement[bool]] = [_W.c.model == model]
        if kind is not None:
            where.append(_W.c.kind == kind)
        if version is not None:
            where.append(_W.c.version == int(version))
        if since is not None:
            where.append(_W.c.end > aware_ms(since, "since"))
        query = sa.select(_W).where(*where).order_by(_W.c.end.desc(), _W.c.window_id.desc())
        with self._db.read() as conn:
            rows = list(conn.execute(query.limit(limit)).all())
        rows.reverse()
        return [_window(row) for row in rows]

    def window(self, window_id: int) -> WindowRecord:
        """One stored window by id."""
        with self._db.read() as conn:
            row = conn.execute(sa.select(_W).where(_W.c.window_id == int(window_id))).first()
        if row is None:
            raise NotFoundError(f"no monitoring window {window_id}")
        return _window(row)

    def latest_windows(self, kind: str) -> list[WindowRecord]:
        """The newest window of ``kind`` per (model, version): what gauges show."""
        newest = (
            sa.select(sa.func.max(_W.c.window_id).label("window_id"))
            .where(_W.c.kind == kind)
            .group_by(_W.c.model, _W.c.version)
        )
        query = sa.select(_W).where(_W.c.window_id.in_(newest)).order_by(_W.c.window_id)
        with self._db.read() as conn:
            return [_window(row) for row in conn.execute(query)]

    def add_alert(
        self,
        model: str,
        *,
        rule: str,
        severity: str,
        fingerprint: str,
        message: str,
        value: float | None = None,
        threshold: float | None = None,
        version: int | None = None,
        window_id: int | None = None,
        fired_at: datetime | None = None,
        delivery: str | None = None,
    ) -> AlertRecord:
        """Record a fired alert (``fired_at`` defaults to now)."""
        if not rule or len(rule) > 256:
            raise invalid_value("rule", rule, "expected a non-empty name of <= 256 characters")
        if not fingerprint or len(fingerprint) > 64:
            raise invalid_value("fingerprint", fingerprint, "expected 1-64 characters")
        row = {
            "model": _name(model),
            "version": None if version is None else int(version),
            "rule": rule,
            "severity": severity[:16],
            "fingerprint": fingerprint,
            "message": message,
            "value": value,
            "threshold": threshold,
            "window_id": window_id,
            "fired_at": now_ms() if fired_at is None else aware_ms(fired_at, "fired_at"),
            "delivery": None if delivery is None else delivery[:256],
        }
        with self._db.write() as conn:
            alert_id = conn.execute(sa.insert(_A).values(**row).returning(_A.c.alert_id)).scalar()
        return _alert(_Row({**row, "alert_id": alert_id}))

    def alerts(
        self,
        model: str | None = None,
        *,
        rule: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[AlertRecord]:
        """Recorded alerts oldest first (``limit`` keeps the newest ``limit``)."""
        where: list[sa.ColumnElement[bool]] = []
        if model is not None:
            where.append(_A.c.model == model)
        if rule is not None:
            where.append(_A.c.rule == rule)
        if since is not None:
            where.append(_A.c.fired_at >= aware_ms(since, "since"))
        query = sa.select(_A).where(*where).order_by(_A.c.fired_at.desc(), _A.c.alert_id.desc())
        with self._db.read() as conn:
            rows = list(conn.execute(query.limit(limit)).all())
        rows.reverse()
        return [_alert(row) for row in rows]

    def last_alert(self, fingerprint: str) -> AlertRecord | None:
        """The newest alert with this fingerprint, or None (for de-duplication)."""
        query = sa.select(_A).where(_A.c.fingerprint == fingerprint)
        query = query.order_by(_A.c.fired_at.desc(), _A.c.alert_id.desc()).limit(1)
        with self._db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _alert(row)


class _Row:
    """Attribute access over a dict, so freshly written rows convert like fetched ones."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
