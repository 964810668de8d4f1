"""The connection layer every repository of the metadata store shares.

``Database`` opens the engine through its backend, brings the schema to the newest revision
(Alembic, only when the stored revision is behind), and hands out read and write transactions
that turn driver errors into :class:`~modelcycle.errors.StoreUnavailableError` naming the store.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from modelcycle.errors import InvalidValueError, StoreUnavailableError, invalid_value
from modelcycle.store._backends import WRITE_OPTION, SQLBackend, backend_for
from modelcycle.store._schema import HEAD_REVISION

__all__ = ["Database", "aware_ms", "model_filter", "now_ms"]

_MIGRATIONS = Path(__file__).with_name("migrations")


def now_ms() -> int:
    """Milliseconds since the Unix epoch: the store's unit of time."""
    return time.time_ns() // 1_000_000


def aware_ms(when: datetime, field: str) -> int:
    """A timezone-aware datetime in the store's unit; a naive one (whose instant is unknown)
    is refused naming ``field``."""
    if not isinstance(when, datetime) or when.tzinfo is None:
        raise invalid_value(field, when, "expected a timezone-aware datetime")
    return int(when.timestamp() * 1000)


def model_filter(
    table: sa.Table,
    time_column: str,
    model: str,
    version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[sa.ColumnElement[bool]]:
    """The conditions every per-model record (predictions, feedback, monitoring) is read by:
    the model, optionally one version, and ``since`` (inclusive) to ``until`` (exclusive) on
    ``time_column``."""
    where: list[sa.ColumnElement[bool]] = [table.c.model == model]
    if version is not None:
        where.append(table.c.version == int(version))
    if since is not None:
        where.append(table.c[time_column] >= aware_ms(since, "since"))
    if until is not None:
        where.append(table.c[time_column] < aware_ms(until, "until"))
    return where


def parse_store_url(url: str) -> sa.URL:
    """Parse a store URL, naming it when it is malformed."""
    try:
        return sa.make_url(url)
    except sa.exc.ArgumentError:
        raise InvalidValueError(
            f"invalid store URL {url!r}: expected e.g. sqlite:///path/to/modelcycle.db or "
            "postgresql+psycopg://user@host:5432/db"
        ) from None


class Database:
    """An engine, its backend and the schema revision check."""

    def __init__(self, url: str) -> None:
        parsed = parse_store_url(url)
        self.url = url if parsed.password is None else parsed.render_as_string(hide_password=True)
        self.backend: SQLBackend = backend_for(parsed, self.url)
        self.engine: Engine = self.backend.create_engine(parsed, self.url)
        self.dialect = self.engine.dialect.name
        with self.translate_errors("open"):
            self._upgrade_schema()

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    @contextlib.contextmanager
    def translate_errors(self, action: str) -> Iterator[None]:
        """Turn driver errors into one line naming the store and what failed."""
        try:
            yield
        except sa.exc.OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise StoreUnavailableError(f"cannot {action} store {self.url}: {reason}") from exc
        except sa.exc.InterfaceError as exc:
            raise StoreUnavailableError(f"cannot {action} store {self.url}: {exc.orig}") from exc

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (never blocks on, nor blocks, a writer in SQLite WAL mode)."""
        with self.translate_errors("read"), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction; concurrent writers queue on the backend's lock."""
        with (
            self.translate_errors("write to"),
            self.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn,
            conn.begin(),
        ):
            yield conn

    def current_revision(self) -> str | None:
        """The schema revision stored in the database, or None for an empty database."""
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            row = conn.execute(sa.text("SELECT version_num FROM alembic_version")).first()
            return None if row is None else str(row[0])

    def _upgrade_schema(self) -> None:
        if self.current_revision() == HEAD_REVISION:
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self.backend.migration_transaction(self.engine) as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
