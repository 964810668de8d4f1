"""The dataset-versions aggregate: immutable records of snapshots, by name and version id."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from modelcycle.errors import NotFoundError
from modelcycle.store import _schema as s
from modelcycle.store._db import Database, now_ms
from modelcycle.store._experiments import to_datetime
from modelcycle.types import DatasetVersion

__all__ = ["DatasetRepository"]


class DatasetRepository:
    """Add (idempotently), fetch and list dataset versions."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, version: DatasetVersion) -> DatasetVersion:
        """Record ``version``; a version id already stored returns the stored record unchanged."""
        row = {
            "version_id": version.version_id,
            "name": version.name,
            "created_at": now_ms(),
            "rows": version.rows,
            "columns": version.columns,
            "content_sha256": version.content_sha256,
            "data_sha256": version.data_sha256,
            "profile_sha256": version.profile_sha256,
            "schema_json": json.dumps(version.schema, sort_keys=True),
            "lineage_json": json.dumps(version.lineage, sort_keys=True, default=str),
        }
        insert = self._db.backend.insert(s.dataset_versions).values(**row)
        with self._db.write() as conn:
            conn.execute(insert.on_conflict_do_nothing(index_elements=["version_id"]))
        return self.get(version.version_id)

    def get(self, ref: str) -> DatasetVersion:
        """A version by ``version_id``, ``NAME@VERSION_ID`` or ``NAME`` (its latest version)."""
        table = s.dataset_versions
        name, _, version_id = ref.partition("@")
        if version_id:
            condition = sa.and_(table.c.name == name, table.c.version_id == version_id)
        else:
            condition = sa.or_(table.c.version_id == ref, table.c.name == ref)
        query = sa.select(table).where(condition).order_by(table.c.created_at.desc()).limit(1)
        with self._db.read() as conn:
            found = conn.execute(query).first()
        if found is None:
            raise NotFoundError(f"dataset version {ref!r} not found")
        return _record(found)

    def list(self, name: str | None = None) -> list[DatasetVersion]:
        """Versions (of ``name``, or all), newest first."""
        table = s.dataset_versions
        query = sa.select(table).order_by(table.c.created_at.desc())
        if name is not None:
            query = query.where(table.c.name == name)
        with self._db.read() as conn:
            return [_record(row) for row in conn.execute(query)]


def _record(row: Any) -> DatasetVersion:
    return DatasetVersion(
        version_id=row.version_id,
        name=row.name,
        created_at=to_datetime(row.created_at),
        rows=row.rows,
        columns=row.columns,
        content_sha256=row.content_sha256,
        data_sha256=row.data_sha256,
        profile_sha256=row.profile_sha256,
        schema=json.loads(row.schema_json),
        lineage=json.loads(row.lineage_json),
    )
