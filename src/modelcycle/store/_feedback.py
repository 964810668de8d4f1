"""The feedback aggregate: ground truth and ratings for logged prediction rows.

One row per distinct value given for a predicted row (``row_id`` = ``request_id:i``) and kind
(``label`` or ``rating``). The same value sent again is a duplicate (nothing written); a
different value for a row that already has one is recorded too, flagged ``conflict``: nothing
is ever overwritten, and readers choose a policy (:meth:`FeedbackRepository.labelled_frame`
takes the latest value and says how many rows had conflicts).

Deciding "new, duplicate or conflict" reads what is recorded and then writes, so writers are
serialised: SQLite's write transactions take the database lock (``BEGIN IMMEDIATE``) and on
PostgreSQL a transaction-level advisory lock is held for the batch. A batch is one ``IN``
lookup per 500 rows and one bulk insert.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
import sqlalchemy as sa

from modelcycle.errors import invalid_value
from modelcycle.store import _schema as s
from modelcycle.store._db import Database, aware_ms, model_filter
from modelcycle.store._experiments import to_datetime
from modelcycle.store._predictions import _to_frame
from modelcycle.types import FeedbackRecord, IngestCounts

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["KINDS", "FeedbackRepository", "LoggedRequest"]

#: Every kind of feedback the store keeps.
KINDS = ("label", "rating")

_T = s.feedback
_P = s.predictions
_CHUNK = 500
#: Arbitrary constant naming the feedback writers' advisory lock on PostgreSQL.
_LOCK_ID = 0x6D63666462


class LoggedRequest(NamedTuple):
    """What the prediction log knows of a live request: who answered (or would have), how
    many rows, and its HTTP ``status`` (200 answered; 400 or more: it failed, has no
    predicted row and takes no feedback)."""

    request_id: str
    model: str
    version: int
    n_rows: int
    status: int = 200

    @property
    def failed(self) -> bool:
        """Whether the request got an error instead of predictions."""
        return self.status >= 400


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise invalid_value("feedback kind", kind, f"expected one of {', '.join(KINDS)}")
    return kind


def _encode(record: FeedbackRecord) -> str:
    value = record.value
    where = f"{record.kind} of row {record.row_id!r}"
    if value is None or isinstance(value, (dict, list, tuple)):
        raise invalid_value(where, value, "expected a single number, string or boolean")
    if isinstance(value, float) and not math.isfinite(value):
        raise invalid_value(where, value, "expected a finite number")
    if record.kind == "rating" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise invalid_value(where, value, "expected a number")
    return orjson.dumps(value).decode("utf-8")


def _row(record: FeedbackRecord) -> dict[str, Any]:
    _check_kind(record.kind)
    if not record.row_id.startswith(f"{record.request_id}:"):
        why = f"expected an id of request {record.request_id!r} ('{record.request_id}:ROW')"
        raise invalid_value("feedback row_id", record.row_id, why)
    text = _encode(record)
    return {
        "row_id": record.row_id,
        "request_id": record.request_id,
        "model": record.model,
        "version": int(record.version),
        "kind": record.kind,
        "value_json": text,
        "value_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "conflict": False,
        "source": record.source[:512],
        "received_at": aware_ms(record.received_at, f"received_at of row {record.row_id!r}"),
    }


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _record(row: Any) -> FeedbackRecord:
    return FeedbackRecord(
        row_id=row.row_id,
        request_id=row.request_id,
        model=row.model,
        version=row.version,
        kind=row.kind,
        value=orjson.loads(row.value_json),
        source=row.source,
        received_at=to_datetime(row.received_at),
        conflict=bool(row.conflict),
        feedback_id=row.feedback_id,
    )


class FeedbackRepository:
    """Record and read feedback (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- writing --------------------------------------------------------------------------------
    def add_many(self, items: Sequence[FeedbackRecord]) -> IngestCounts:
        """Record ``items`` in one transaction, in order; returns how many were new, new
        but conflicting with a value already recorded for the row, or duplicates. Sending
        the same batch again changes nothing (every item is then a duplicate)."""
        rows = [_row(item) for item in items]
        if not rows:
            return IngestCounts()
        accepted = conflicts = duplicates = 0
        new: list[dict[str, Any]] = []
        with self._db.write() as conn:
            if self._db.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
            known = self._recorded(conn, sorted({row["row_id"] for row in rows}))
            for row in rows:
                seen = known.setdefault((row["row_id"], row["kind"]), set())
                if row["value_sha256"] in seen:
                    duplicates += 1
                    continue
                row["conflict"] = bool(seen)
                seen.add(row["value_sha256"])
                new.append(row)
                conflicts += row["conflict"]
                accepted += not row["conflict"]
            if new:
                conn.execute(sa.insert(_T), new)
        return IngestCounts(accepted=accepted, duplicates=duplicates, conflicts=conflicts)

    @staticmethod
    def _recorded(conn: sa.Connection, row_ids: Sequence[str]) -> dict[tuple[str, str], set[str]]:
        found: dict[tuple[str, str], set[str]] = {}
        columns = (_T.c.row_id, _T.c.kind, _T.c.value_sha256)
        for chunk in _chunks(row_ids):
            for row in conn.execute(sa.select(*columns).where(_T.c.row_id.in_(chunk))):
                found.setdefault((row.row_id, row.kind), set()).add(row.value_sha256)
        return found

    # -- the join with the prediction log -------------------------------------------------------
    def logged_requests(self, request_ids: Iterable[str]) -> dict[str, LoggedRequest]:
        """The live (not shadow) logged requests among ``request_ids``, by id, failed ones
        included (so feedback on them is refused for the right reason)."""
        wanted = sorted(set(request_ids))
        columns = (_P.c.request_id, _P.c.model, _P.c.version, _P.c.n_rows, _P.c.status)
        found: dict[str, LoggedRequest] = {}
        with self._db.read() as conn:
            for chunk in _chunks(wanted):
                query = sa.select(*columns).where(_P.c.request_id.in_(chunk), ~_P.c.shadow)
                for row in conn.execute(query):
                    found[row.request_id] = LoggedRequest(*row)
        return found

    # -- reading --------------------------------------------------------------------------------
    def _where(
        self,
        model: str,
        version: int | None,
        since: datetime | None,
        until: datetime | None,
        kind: str | None,
    ) -> list[sa.ColumnElement[bool]]:
        where = model_filter(_T, "received_at", model, version, since, until)
        if kind is not None:
            where.append(_T.c.kind == _check_kind(kind))
        return where

    def query(
        self,
        model: str,
        *,
        version: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        kind: str | None = "label",
    ) -> list[FeedbackRecord]:
        """Feedback on ``model``'s predictions in the order it was received (``since``
        inclusive, ``until`` exclusive, on the time it was received; ``kind=None``: every
        kind), conflicting values included."""
        query = sa.select(_T).where(*self._where(model, version, since, until, kind))
        with self._db.read() as conn:
            rows = conn.execute(query.order_by(_T.c.received_at, _T.c.feedback_id)).all()
        return [_record(row) for row in rows]

    def count(
        self,
        model: str,
        *,
        version: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        kind: str | None = "label",
    ) -> dict[str, int]:
        """``feedback``: values recorded, ``rows``: distinct rows they cover,
        ``conflicting_rows``: rows given more than one value (filters as :meth:`query`)."""
        where = self._where(model, version, since, until, kind)
        query = sa.select(
            sa.func.count(),
            sa.func.count(sa.distinct(_T.c.row_id)),
            sa.func.count(sa.distinct(sa.case((_T.c.conflict, _T.c.row_id)))),
        ).where(*where)
        with self._db.read() as conn:
            feedback, rows, conflicting = conn.execute(query).one()
        return {"feedback": int(feedback), "rows": int(rows), "conflicting_rows": int(conflicting)}

    def labelled_frame(
        self,
        model: str,
        *,
        version: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        kind: str = "label",
        classes: Sequence[Any] | None = None,
    ) -> pd.DataFrame:
        """The logged prediction rows that received feedback, one per row: what
        ``metadata.predictions.frame`` gives (``request_id``, ``row_id``, ``time``,
        ``version``, the inputs, ``prediction``, ``proba_<class>``) plus the feedback value in
        a column named after ``kind`` and ``conflict`` (the row was given several values).

        Policy for a conflicted row: its latest value. ``frame.attrs`` holds ``conflicts``
        (rows with conflicting values) and ``feedback`` (values read). Filters as
        :meth:`query` (on when the feedback was received)."""
        latest: dict[str, Any] = {}
        conflicted: set[str] = set()
        columns = (_T.c.row_id, _T.c.request_id, _T.c.value_json, _T.c.conflict)
        query = sa.select(*columns).where(*self._where(model, version, since, until, kind))
        with self._db.read() as conn:
            found = conn.execute(query.order_by(_T.c.received_at, _T.c.feedback_id)).all()
        for row in found:
            latest[row.row_id] = row.value_json  # later values replace earlier ones
            if row.conflict:
                conflicted.add(row.row_id)
        frame = _to_frame(self._logged_rows({row.request_id for row in found}), classes)
        frame = frame[frame["row_id"].isin(latest)].reset_index(drop=True)
        texts = frame["row_id"].map(latest).tolist()
        frame[kind] = orjson.loads("[" + ",".join(texts) + "]")
        frame["conflict"] = frame["row_id"].isin(conflicted)
        frame.attrs["conflicts"] = int(frame["conflict"].sum())
        frame.attrs["feedback"] = len(found)
        result: pd.DataFrame = frame
        return result

    def _logged_rows(self, request_ids: set[str]) -> list[Any]:
        columns = [_P.c.request_id, _P.c.time, _P.c.version, _P.c.n_rows]
        columns += [_P.c.inputs_json, _P.c.outputs_json]
        rows: list[Any] = []
        with self._db.read() as conn:
            for chunk in _chunks(sorted(request_ids)):
                query = sa.select(*columns).where(
                    _P.c.request_id.in_(chunk), ~_P.c.shadow, _P.c.status < 400
                )
                rows.extend(conn.execute(query))
        rows.sort(key=lambda r: (r.time, r.request_id))
        return rows
