"""The registry aggregate: named models, their numbered versions, aliases and alias history.

Versions are numbered from 1 per name and never change once written (only ``status`` moves
between ``ready`` and ``archived``). An alias is a pointer; each move is a compare-and-swap
on the version the mover last saw, so two processes moving the same alias at once cannot
both win: the second gets a :class:`~modelcycle.errors.ConflictError` naming what changed.
Every change appends an audit event in the same transaction (see ``_audit``).
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import sqlalchemy as sa

from modelcycle.errors import ConflictError, NotFoundError, invalid_value
from modelcycle.store import _schema as s
from modelcycle.store._audit import append_event
from modelcycle.store._db import Database, now_ms
from modelcycle.store._experiments import to_datetime
from modelcycle.types import AliasMove, ModelVersion

__all__ = ["ANY", "RegistryRepository"]

#: ``expected`` for :meth:`RegistryRepository.move_alias` when any current version will do.
ANY = -1


class RegistryRepository:
    """Create versions, read them, and move aliases (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- versions -----------------------------------------------------------------------------
    def create_version(
        self,
        name: str,
        *,
        bundle_sha256: str,
        created_by: str,
        run_id: str | None = None,
        onnx_ready: bool = False,
        description: str = "",
        info: dict[str, Any] | None = None,
    ) -> ModelVersion:
        """Add the next version of ``name`` (creating the model on its first version)."""
        now = now_ms()
        models, versions = s.registered_models, s.model_versions
        with self._db.write() as conn:
            found = conn.execute(
                sa.select(models.c.name).where(models.c.name == name).with_for_update()
            ).first()
            if found is None:
                conn.execute(
                    sa.insert(models).values(
                        name=name, description=description, created_at=now, updated_at=now
                    )
                )
            else:
                conn.execute(sa.update(models).where(models.c.name == name).values(updated_at=now))
            latest = conn.execute(
                sa.select(sa.func.max(versions.c.version)).where(versions.c.name == name)
            ).scalar()
            number = int(latest or 0) + 1
            row = {
                "name": name,
                "version": number,
                "created_at": now,
                "created_by": created_by,
                "run_id": run_id,
                "bundle_sha256": bundle_sha256,
                "status": "ready",
                "onnx_ready": onnx_ready,
                "description": description,
                "info_json": json.dumps(info or {}, sort_keys=True, default=str),
            }
            conn.execute(sa.insert(versions).values(**row))
            after = {"version": number, "bundle_sha256": bundle_sha256, "run_id": run_id}
            append_event(
                conn, actor=created_by, action="register", target=f"{name}@{number}", after=after
            )
        return self._version(row, ())

    def get_version(self, name: str, version: int) -> ModelVersion:
        """One version, with the aliases that point to it."""
        versions = s.model_versions
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(versions).where(versions.c.name == name, versions.c.version == version)
            ).first()
            if row is None:
                self._missing(conn, name, f"{name}@{version}")
            aliases = self._aliases(conn, name)
        pointing = tuple(sorted(a for a, v in aliases.items() if v == version))
        return self._version(row._asdict(), pointing)

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, newest first."""
        versions = s.model_versions
        with self._db.read() as conn:
            rows = conn.execute(
                sa.select(versions)
                .where(versions.c.name == name)
                .order_by(versions.c.version.desc())
            ).all()
            if not rows:
                self._missing(conn, name, name)
            aliases = self._aliases(conn, name)
        return [
            self._version(
                r._asdict(), tuple(sorted(a for a, v in aliases.items() if v == r.version))
            )
            for r in rows
        ]

    def models(self) -> list[dict[str, Any]]:
        """Every registered model: name, description, latest version, count, aliases."""
        models, versions = s.registered_models, s.model_versions
        with self._db.read() as conn:
            rows = conn.execute(sa.select(models).order_by(models.c.name)).all()
            counts = dict(
                conn.execute(
                    sa.select(versions.c.name, sa.func.max(versions.c.version)).group_by(
                        versions.c.name
                    )
                ).all()
            )
            pointers = conn.execute(sa.select(s.model_aliases)).all()
        aliases: dict[str, dict[str, int]] = {}
        for pointer in pointers:
            aliases.setdefault(pointer.name, {})[pointer.alias] = pointer.version
        return [
            {
                "name": row.name,
                "description": row.description,
                "latest_version": int(counts.get(row.name) or 0),
                "aliases": aliases.get(row.name, {}),
                "updated_at": to_datetime(row.updated_at).isoformat(),
            }
            for row in rows
        ]

    def set_status(self, name: str, version: int, status: str, *, actor: str, reason: str) -> None:
        """Archive (``archived``) or restore (``ready``) a version; archiving a version that an
        alias points to is refused."""
        if status not in ("ready", "archived"):
            raise invalid_value("status", status, "expected ready or archived")
        versions = s.model_versions
        with self._db.write() as conn:
            row = conn.execute(
                sa.select(versions.c.status).where(
                    versions.c.name == name, versions.c.version == version
                )
            ).first()
            if row is None:
                self._missing(conn, name, f"{name}@{version}")
            pointing = sorted(a for a, v in self._aliases(conn, name).items() if v == version)
            if status == "archived" and pointing:
                raise ConflictError(
                    f"{name}@{version} cannot be archived: alias {', '.join(pointing)} points to "
                    "it; move the alias first"
                )
            conn.execute(
                sa.update(versions)
                .where(versions.c.name == name, versions.c.version == version)
                .values(status=status)
            )
            append_event(
                conn,
                actor=actor,
                action="archive" if status == "archived" else "restore",
                target=f"{name}@{version}",
                before={"status": row.status},
                after={"status": status, "reason": reason},
            )

    # -- aliases ------------------------------------------------------------------------------
    def aliases(self, name: str) -> dict[str, int]:
        """Alias -> version for ``name``."""
        with self._db.read() as conn:
            return self._aliases(conn, name)

    def move_alias(
        self,
        name: str,
        alias: str,
        to_version: int,
        *,
        expected: int | None = ANY,
        actor: str,
        reason: str = "",
        forced: bool = False,
    ) -> AliasMove:
        """Point ``alias`` at ``to_version``. ``expected`` is the version the caller saw the
        alias at (None: it did not exist); if the alias moved since, nothing changes and a
        ConflictError says where it is now. ``ANY`` skips the check."""
        aliases, versions = s.model_aliases, s.model_versions
        now = now_ms()
        with self._db.write() as conn:
            target = conn.execute(
                sa.select(versions.c.status).where(
                    versions.c.name == name, versions.c.version == to_version
                )
            ).first()
            if target is None:
                self._missing(conn, name, f"{name}@{to_version}")
            if target.status == "archived":
                raise ConflictError(f"{name}@{to_version} is archived: restore it before use")
            current = conn.execute(
                sa.select(aliases.c.version)
                .where(aliases.c.name == name, aliases.c.alias == alias)
                .with_for_update()
            ).scalar()
            if expected != ANY and current != expected:
                raise ConflictError(_moved(name, alias, expected, current))
            if current is None:
                swapped = conn.execute(
                    self._db.backend.insert(aliases)
                    .values(name=name, alias=alias, version=to_version, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["name", "alias"])
                    .returning(aliases.c.version)
                ).first()
            else:
                swapped = conn.execute(
                    sa.update(aliases)
                    .where(
                        aliases.c.name == name,
                        aliases.c.alias == alias,
                        aliases.c.version == current,
                    )
                    .values(version=to_version, updated_at=now)
                    .returning(aliases.c.version)
                ).first()
            if swapped is None:  # another writer got in between the read and the swap
                raise ConflictError(_moved(name, alias, current, "another version"))
            event = self._record_move(conn, name, alias, current, to_version, actor, reason, forced)
        return event

    def _record_move(
        self,
        conn: sa.Connection,
        name: str,
        alias: str,
        before: int | None,
        after: int | None,
        actor: str,
        reason: str,
        forced: bool,
    ) -> AliasMove:
        at = now_ms()
        event_id = conn.execute(
            sa.insert(s.alias_events)
            .values(
                name=name,
                alias=alias,
                from_version=before,
                to_version=after,
                actor=actor,
                reason=reason,
                forced=forced,
                at=at,
            )
            .returning(s.alias_events.c.event_id)
        ).scalar_one()
        append_event(
            conn,
            actor=actor,
            action="move_alias" if after is not None else "remove_alias",
            target=f"{name}@{alias}",
            before={"version": before},
            after={"version": after, "reason": reason, "forced": forced},
        )
        return AliasMove(
            event_id, name, alias, before, after, actor, reason, forced, to_datetime(at)
        )

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        """Every move of ``name``'s aliases (or of one alias), oldest first."""
        events = s.alias_events
        query = sa.select(events).where(events.c.name == name).order_by(events.c.event_id)
        if alias is not None:
            query = query.where(events.c.alias == alias)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [
            AliasMove(
                r.event_id,
                r.name,
                r.alias,
                r.from_version,
                r.to_version,
                r.actor,
                r.reason,
                bool(r.forced),
                to_datetime(r.at),
            )
            for r in rows
        ]

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _aliases(conn: sa.Connection, name: str) -> dict[str, int]:
        table = s.model_aliases
        rows = conn.execute(
            sa.select(table.c.alias, table.c.version).where(table.c.name == name)
        ).all()
        return {row.alias: int(row.version) for row in rows}

    @staticmethod
    def _missing(conn: sa.Connection, name: str, what: str) -> NoReturn:
        models = s.registered_models
        if conn.execute(sa.select(models.c.name).where(models.c.name == name)).first() is None:
            raise NotFoundError(f"no registered model named {name!r}")
        raise NotFoundError(f"no model version {what}")

    @staticmethod
    def _version(row: dict[str, Any], aliases: tuple[str, ...]) -> ModelVersion:
        return ModelVersion(
            name=row["name"],
            version=int(row["version"]),
            created_at=to_datetime(row["created_at"]),
            created_by=row["created_by"],
            run_id=row["run_id"],
            bundle_sha256=row["bundle_sha256"],
            status=row["status"],
            onnx_ready=bool(row["onnx_ready"]),
            description=row["description"],
            info=json.loads(row["info_json"]),
            aliases=aliases,
        )


def _moved(name: str, alias: str, expected: int | None, current: object) -> str:
    seen = "absent" if expected is None else f"at version {expected}"
    now = "absent" if current is None else f"at version {current}"
    return (
        f"alias {name}@{alias} moved while this change ran: it was {seen}, it is now {now}; "
        "look again and retry"
    )
