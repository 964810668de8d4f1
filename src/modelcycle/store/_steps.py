"""The step-cache aggregate: what a pipeline step produced, under the hash of what made it."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from modelcycle.store import _schema as s
from modelcycle.store._db import Database, now_ms

__all__ = ["StepCacheRepository"]


class StepCacheRepository:
    """Look up and record step outputs by cache key (first writer wins)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, cache_key: str) -> dict[str, Any] | None:
        """The recorded outputs for ``cache_key`` (with ``run_id``), or None."""
        table = s.step_cache
        with self._db.read() as conn:
            row = conn.execute(sa.select(table).where(table.c.cache_key == cache_key)).first()
        if row is None:
            return None
        outputs: dict[str, Any] = json.loads(row.outputs_json)
        return {**outputs, "run_id": row.run_id}

    def put(
        self, cache_key: str, step: str, outputs: dict[str, Any], run_id: str | None = None
    ) -> None:
        """Record ``outputs`` of ``step`` under ``cache_key`` (a second put is ignored)."""
        insert = self._db.backend.insert(s.step_cache).values(
            cache_key=cache_key,
            step=step,
            created_at=now_ms(),
            run_id=run_id,
            outputs_json=json.dumps(outputs, sort_keys=True, default=str),
        )
        with self._db.write() as conn:
            conn.execute(insert.on_conflict_do_nothing(index_elements=["cache_key"]))
