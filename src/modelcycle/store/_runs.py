"""The runs aggregate: a run's life, its params, tags, inputs and artifact index, and search.

Params are immutable once logged (logging the same key again with another value is a
ConflictError: a run's configuration does not change under it); tags may be overwritten.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from modelcycle.errors import ConflictError, InvalidValueError, NotFoundError, invalid_value
from modelcycle.store import _schema as s
from modelcycle.store._db import Database, now_ms
from modelcycle.store._experiments import to_datetime
from modelcycle.store._filter import parse_filter, parse_order_by
from modelcycle.store._search import compile_filter, compile_order_by
from modelcycle.store._validation import check_key
from modelcycle.types import ArtifactInfo, DatasetInput, Run, RunStatus

__all__ = ["RunRepository"]

_MIN_PREFIX = 4
_IN_CHUNK = 500


class RunRepository:
    """Create, end, annotate, fetch and search runs."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- life -------------------------------------------------------------------------------
    def create(
        self,
        experiment_id: int,
        name: str | None = None,
        parent_run_id: str | None = None,
    ) -> str:
        """Insert a RUNNING run and return its id."""
        run_id = uuid.uuid4().hex
        if parent_run_id is not None:
            parent_run_id = self.resolve_id(parent_run_id)
        with self._db.write() as conn:
            conn.execute(
                s.runs.insert().values(
                    run_id=run_id,
                    experiment_id=experiment_id,
                    name=name or f"run-{run_id[:8]}",
                    status=RunStatus.RUNNING.value,
                    start_time=now_ms(),
                    parent_run_id=parent_run_id,
                )
            )
        return run_id

    def end(self, run_id: str, status: RunStatus, error: str | None = None) -> None:
        """Move a RUNNING run to a terminal status (ending twice with one status is a no-op)."""
        if not status.is_terminal:
            raise invalid_value("run status", status.value, "an ended run needs a final status")
        with self._db.write() as conn:
            current = conn.execute(
                sa.select(s.runs.c.status).where(s.runs.c.run_id == run_id)
            ).scalar_one_or_none()
            if current is None:
                raise NotFoundError(f"run {run_id!r} not found")
            if current == status.value:
                return
            if current != RunStatus.RUNNING.value:
                raise ConflictError(f"run {run_id} already ended as {current}")
            conn.execute(
                s.runs.update()
                .where(s.runs.c.run_id == run_id)
                .values(status=status.value, end_time=now_ms(), error=error)
            )

    # -- annotations ------------------------------------------------------------------------
    def log_params(self, run_id: str, values: Mapping[str, Any]) -> None:
        """Record params as strings; a different value for a logged key is a ConflictError."""
        rows = {check_key("param", k): _param_text(v) for k, v in values.items()}
        if not rows:
            return
        with self._db.write() as conn:
            self._require(conn, run_id)
            existing = dict(
                conn.execute(
                    sa.select(s.params.c.key, s.params.c.value).where(
                        s.params.c.run_id == run_id, s.params.c.key.in_(list(rows))
                    )
                ).all()
            )
            for key, value in rows.items():
                if key in existing and existing[key] != value:
                    raise ConflictError(
                        f"param {key!r} of run {run_id} is already {existing[key]!r}; "
                        f"params are immutable (refusing {value!r})"
                    )
            new = [
                {"run_id": run_id, "key": k, "value": v}
                for k, v in rows.items()
                if k not in existing
            ]
            if new:
                conn.execute(s.params.insert(), new)

    def set_tags(self, run_id: str, values: Mapping[str, Any]) -> None:
        """Set tags (overwriting earlier values of the same keys)."""
        rows = [
            {"run_id": run_id, "key": check_key("tag", k), "value": str(v)}
            for k, v in values.items()
        ]
        if not rows:
            return
        insert = self._db.backend.insert(s.tags)
        with self._db.write() as conn:
            self._require(conn, run_id)
            conn.execute(
                insert.on_conflict_do_update(
                    index_elements=["run_id", "key"], set_={"value": insert.excluded.value}
                ),
                rows,
            )

    def log_input(self, run_id: str, dataset: DatasetInput) -> None:
        """Record that the run read ``dataset`` (idempotent)."""
        insert = self._db.backend.insert(s.run_inputs).values(
            run_id=run_id,
            name=dataset.name,
            digest=dataset.digest,
            context=dataset.context,
            source=dataset.source,
        )
        with self._db.write() as conn:
            self._require(conn, run_id)
            conn.execute(insert.on_conflict_do_nothing())

    def log_artifact(self, run_id: str, artifact: ArtifactInfo) -> None:
        """Index an artifact under its name; a name already used for other bytes conflicts."""
        with self._db.write() as conn:
            self._require(conn, run_id)
            current = conn.execute(
                sa.select(s.run_artifacts.c.sha256).where(
                    s.run_artifacts.c.run_id == run_id, s.run_artifacts.c.name == artifact.name
                )
            ).scalar_one_or_none()
            if current == artifact.sha256:
                return
            if current is not None:
                raise ConflictError(
                    f"artifact {artifact.name!r} of run {run_id} already holds other content "
                    f"(sha256:{current[:12]}); artifacts are immutable"
                )
            conn.execute(s.run_artifacts.insert().values(run_id=run_id, **artifact.to_dict()))

    # -- reads ------------------------------------------------------------------------------
    def resolve_id(self, run_id: str) -> str:
        """The full id of ``run_id`` or of the one run it is a prefix of (>= 4 characters)."""
        if not isinstance(run_id, str) or not run_id:
            raise invalid_value("run id", run_id, "expected a run id")
        with self._db.read() as conn:
            if conn.execute(sa.select(s.runs.c.run_id).where(s.runs.c.run_id == run_id)).first():
                return run_id
            if len(run_id) < _MIN_PREFIX or not run_id.isalnum():
                raise NotFoundError(f"run {run_id!r} not found")
            found = (
                conn.execute(
                    sa.select(s.runs.c.run_id).where(s.runs.c.run_id.like(f"{run_id}%")).limit(2)
                )
                .scalars()
                .all()
            )
        if not found:
            raise NotFoundError(f"run {run_id!r} not found")
        if len(found) > 1:
            raise InvalidValueError(f"run id prefix {run_id!r} is ambiguous; give more characters")
        return str(found[0])

    def get(self, run_id: str) -> Run:
        """The run with this id (or unique id prefix), with params, tags and latest metrics."""
        full = self.resolve_id(run_id)
        return self._fetch(sa.true(), [], None, ids=[full])[0]

    def search(
        self,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int | None = 100,
        experiment: str | None = None,
        parent_run_id: str | None = None,
    ) -> list[Run]:
        """Runs matching ``filter``, ordered by ``order_by`` (newest first by default)."""
        if limit is not None and limit < 1:
            raise invalid_value("limit", limit, "expected a positive number of runs")
        node = parse_filter(filter)
        condition = compile_filter(node) if node is not None else sa.true()
        if experiment is not None:
            condition = sa.and_(condition, s.experiments.c.name == experiment)
        if parent_run_id is not None:
            condition = sa.and_(condition, s.runs.c.parent_run_id == self.resolve_id(parent_run_id))
        return self._fetch(condition, compile_order_by(parse_order_by(list(order_by))), limit)

    def _fetch(
        self,
        condition: Any,
        order: list[Any],
        limit: int | None,
        ids: list[str] | None = None,
    ) -> list[Run]:
        query = sa.select(s.runs, s.experiments.c.name.label("experiment_name")).join(
            s.experiments, s.experiments.c.experiment_id == s.runs.c.experiment_id
        )
        query = query.where(condition if ids is None else s.runs.c.run_id.in_(ids))
        query = query.order_by(*(order or compile_order_by([]))).limit(limit)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
            run_ids = [row.run_id for row in rows]
            details = _Details(conn, run_ids)
        return [details.run(row) for row in rows]

    @staticmethod
    def _require(conn: sa.Connection, run_id: str) -> None:
        found = conn.execute(sa.select(s.runs.c.status).where(s.runs.c.run_id == run_id)).first()
        if found is None:
            raise NotFoundError(f"run {run_id!r} not found")


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > 65_535:
        raise invalid_value("param", text, "longer than 65535 characters")
    return text


class _Details:
    """Params, tags, metrics, inputs and artifacts of a page of runs, read in bulk."""

    def __init__(self, conn: sa.Connection, run_ids: list[str]) -> None:
        self.params = self._pairs(conn, s.params, run_ids)
        self.tags = self._pairs(conn, s.tags, run_ids)
        self.metrics: dict[str, dict[str, float]] = {}
        for row in self._rows(conn, s.latest_metrics, run_ids):
            value = math.nan if row.value is None else row.value
            self.metrics.setdefault(row.run_id, {})[row.key] = value
        self.inputs: dict[str, list[DatasetInput]] = {}
        for row in self._rows(conn, s.run_inputs, run_ids):
            dataset = DatasetInput(row.name, row.digest, row.source, row.context)
            self.inputs.setdefault(row.run_id, []).append(dataset)
        self.artifacts: dict[str, list[ArtifactInfo]] = {}
        for row in self._rows(conn, s.run_artifacts, run_ids):
            artifact = ArtifactInfo(row.name, row.sha256, row.size)
            self.artifacts.setdefault(row.run_id, []).append(artifact)

    @staticmethod
    def _rows(conn: sa.Connection, table: sa.Table, run_ids: list[str]) -> Iterable[Any]:
        for start in range(0, len(run_ids), _IN_CHUNK):
            chunk = run_ids[start : start + _IN_CHUNK]
            yield from conn.execute(sa.select(table).where(table.c.run_id.in_(chunk)))

    def _pairs(
        self, conn: sa.Connection, table: sa.Table, run_ids: list[str]
    ) -> dict[str, dict[str, str]]:
        result: dict[str, dict[str, str]] = {}
        for row in self._rows(conn, table, run_ids):
            result.setdefault(row.run_id, {})[row.key] = row.value
        return result

    def run(self, row: Any) -> Run:
        run_id = row.run_id
        return Run(
            run_id=run_id,
            experiment_id=row.experiment_id,
            experiment_name=row.experiment_name,
            name=row.name,
            status=RunStatus(row.status),
            start_time=to_datetime(row.start_time),
            end_time=None if row.end_time is None else to_datetime(row.end_time),
            parent_run_id=row.parent_run_id,
            error=row.error,
            params=self.params.get(run_id, {}),
            tags=self.tags.get(run_id, {}),
            metrics=dict(sorted(self.metrics.get(run_id, {}).items())),
            inputs=tuple(sorted(self.inputs.get(run_id, []), key=lambda d: (d.context, d.name))),
            artifacts=tuple(sorted(self.artifacts.get(run_id, []), key=lambda a: a.name)),
        )
