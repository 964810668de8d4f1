"""The metric-series aggregate: append points in bulk, read histories.

``write_points`` is the hot path of tracking: one transaction per batch, one bulk insert of the
points, and one upsert per (run, key) into ``latest_metrics`` that keeps the point with the
highest (step, timestamp), whatever order concurrent batches arrive in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from modelcycle.store import _schema as s
from modelcycle.store._db import Database
from modelcycle.store._experiments import to_datetime
from modelcycle.types import MetricPoint

__all__ = ["MetricRepository", "PointRow"]

#: (run_id, key, value, step, timestamp_ms) — the buffered form of one point.
PointRow = tuple[str, str, float, int, int]


def _stored(value: float) -> float | None:
    return None if math.isnan(value) else value


def _latest(points: Sequence[PointRow]) -> list[PointRow]:
    latest: dict[tuple[str, str], PointRow] = {}
    for point in points:
        current = latest.get((point[0], point[1]))
        if current is None or (point[3], point[4]) >= (current[3], current[4]):
            latest[(point[0], point[1])] = point
    return list(latest.values())


class MetricRepository:
    """Bulk writes and history reads of metric series."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def write_points(self, points: Sequence[PointRow]) -> None:
        """Append points (any runs, any keys) in one transaction."""
        if not points:
            return
        rows = [
            {"run_id": r, "key": k, "value": _stored(v), "step": st, "timestamp": ts}
            for r, k, v, st, ts in points
        ]
        with self._db.write() as conn:
            conn.execute(s.metrics.insert(), rows)
            self._upsert_latest(conn, _latest(points))

    def _upsert_latest(self, conn: sa.Connection, points: Iterable[PointRow]) -> None:
        table = s.latest_metrics
        for run_id, key, value, step, ts in points:
            insert = self._db.backend.insert(table).values(
                run_id=run_id, key=key, value=_stored(value), step=step, timestamp=ts
            )
            newer = sa.or_(
                insert.excluded.step > table.c.step,
                sa.and_(
                    insert.excluded.step == table.c.step,
                    insert.excluded.timestamp >= table.c.timestamp,
                ),
            )
            conn.execute(
                insert.on_conflict_do_update(
                    index_elements=["run_id", "key"],
                    set_={
                        "value": insert.excluded.value,
                        "step": insert.excluded.step,
                        "timestamp": insert.excluded.timestamp,
                    },
                    where=newer,
                )
            )

    def history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every point of one series, by step then time."""
        table = s.metrics
        query = (
            sa.select(table.c.value, table.c.step, table.c.timestamp)
            .where(table.c.run_id == run_id, table.c.key == key)
            .order_by(table.c.step, table.c.timestamp)
        )
        with self._db.read() as conn:
            return [
                MetricPoint(
                    key=key,
                    value=math.nan if row.value is None else row.value,
                    step=row.step,
                    timestamp=to_datetime(row.timestamp),
                )
                for row in conn.execute(query)
            ]

    def count(self, run_ids: Sequence[str]) -> int:
        """How many points the given runs hold (all keys)."""
        query = sa.select(sa.func.count()).where(s.metrics.c.run_id.in_(list(run_ids)))
        with self._db.read() as conn:
            return int(conn.execute(query).scalar_one())
