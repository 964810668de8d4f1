"""The metric-series aggregate: append points in bulk, read histories.

``write_points`` is the hot path of tracking: one transaction per batch, one bulk insert of the
points, and one upsert per (run, key) into ``latest_metrics`` that keeps the point with the
highest (step, timestamp), whatever order concurrent batches arrive in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

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
        quote = db.engine.dialect.identifier_preparer.quote
        marker = "?" if db.engine.dialect.paramstyle == "qmark" else "%s"
        columns = ", ".join(quote(c.name) for c in s.metrics.columns)
        # Plain SQL with tuples straight to the driver's executemany: building a dict and a
        # SQLAlchemy parameter set per point cost twice what SQLite itself spends.
        self._insert_sql = (
            f"INSERT INTO {quote(s.metrics.name)} ({columns}) "
            f"VALUES ({', '.join([marker] * len(s.metrics.columns))})"
        )
        self._upsert = self._latest_upsert()

    def _latest_upsert(self) -> Any:
        """One upsert statement, executed for all (run, key) pairs of a batch at once."""
        table = s.latest_metrics
        insert = self._db.backend.insert(table)
        newer = sa.or_(
            insert.excluded.step > table.c.step,
            sa.and_(
                insert.excluded.step == table.c.step,
                insert.excluded.timestamp >= table.c.timestamp,
            ),
        )
        return insert.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={
                "value": insert.excluded.value,
                "step": insert.excluded.step,
                "timestamp": insert.excluded.timestamp,
            },
            where=newer,
        )

    def write_points(self, points: Sequence[PointRow]) -> None:
        """Append points (any runs, any keys) in one transaction."""
        if not points:
            return
        rows = [(r, k, None if v != v else v, st, ts) for r, k, v, st, ts in points]
        latest = [
            {"run_id": r, "key": k, "value": _stored(v), "step": st, "timestamp": ts}
            for r, k, v, st, ts in _latest(points)
        ]
        with self._db.write() as conn:
            conn.exec_driver_sql(self._insert_sql, rows)
            conn.execute(self._upsert, latest)

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
