"""The experiments aggregate: named groups of runs."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa

from modelcycle.errors import AlreadyExistsError, NotFoundError, invalid_value
from modelcycle.store import _schema as s
from modelcycle.store._db import Database, now_ms
from modelcycle.types import Experiment

__all__ = ["ExperimentRepository", "to_datetime"]


def to_datetime(ms: int) -> datetime:
    """A store time (epoch milliseconds) as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise invalid_value("experiment name", name, "expected a non-empty string")
    if len(name) > 256:
        raise invalid_value("experiment name", name, "longer than 256 characters")
    return name.strip()


class ExperimentRepository:
    """Create, find and list experiments."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, name: str) -> Experiment:
        """Create an experiment; a taken name raises AlreadyExistsError."""
        name = _check_name(name)
        try:
            with self._db.write() as conn:
                conn.execute(s.experiments.insert().values(name=name, created_at=now_ms()))
        except sa.exc.IntegrityError:
            raise AlreadyExistsError(f"experiment {name!r} already exists") from None
        return self.get(name)

    def get_or_create(self, name: str) -> Experiment:
        """The experiment called ``name``, created when missing (safe under concurrency)."""
        name = _check_name(name)
        found = self._find(name)
        if found is not None:
            return found
        insert = self._db.backend.insert(s.experiments).values(name=name, created_at=now_ms())
        with self._db.write() as conn:
            conn.execute(insert.on_conflict_do_nothing(index_elements=["name"]))
        return self.get(name)

    def get(self, name_or_id: str | int) -> Experiment:
        """The experiment with this name (or numeric id); NotFoundError names it otherwise."""
        found = self._find(name_or_id)
        if found is None:
            raise NotFoundError(f"experiment {name_or_id!r} not found")
        return found

    def list(self) -> list[Experiment]:
        """Every experiment, oldest first."""
        with self._db.read() as conn:
            rows = conn.execute(sa.select(s.experiments).order_by(s.experiments.c.experiment_id))
            return [self._record(row) for row in rows]

    def _find(self, name_or_id: str | int) -> Experiment | None:
        table = s.experiments
        if isinstance(name_or_id, int):
            condition = table.c.experiment_id == name_or_id
        else:
            condition = table.c.name == name_or_id
        with self._db.read() as conn:
            row = conn.execute(sa.select(table).where(condition)).first()
        return None if row is None else self._record(row)

    @staticmethod
    def _record(row: sa.Row[tuple[int, str, int]]) -> Experiment:
        return Experiment(
            experiment_id=row.experiment_id,
            name=row.name,
            created_at=to_datetime(row.created_at),
        )
