"""SQL backends of the metadata store, chosen by URL scheme.

Both backends share every query (SQLAlchemy Core); a backend only decides what differs between
database servers: how an engine is opened and made safe for several writer processes, how an
upsert is spelt, and how a schema migration is serialised between processes.

- SQLite (embedded default): WAL journal so readers never block the writer, a busy timeout, and
  ``BEGIN IMMEDIATE`` for write transactions so two writers queue on the lock instead of failing
  with "database is locked" when one upgrades a read lock.
- PostgreSQL (``postgresql+psycopg://``): pooled connections checked before use; migrations
  serialised with an advisory lock. Its dialect is imported only when a PostgreSQL store is
  opened, so an embedded store does not pay for it.
"""

from __future__ import annotations

import abc
import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine

from modelcycle.errors import InvalidValueError, StoreUnavailableError

__all__ = ["SQLBackend", "backend_for", "supported_schemes"]

#: Execution option that marks a connection's transaction as a write.
WRITE_OPTION = "modelcycle_write"


class SQLBackend(abc.ABC):
    """What one kind of SQL server needs beyond the shared queries."""

    #: URL drivernames this backend accepts (``sqlite``, ``postgresql+psycopg`` ...).
    drivernames: ClassVar[tuple[str, ...]]

    @abc.abstractmethod
    def create_engine(self, url: sa.URL, shown: str) -> Engine:
        """Open an engine for ``url`` (called ``shown`` in messages) for concurrent writers."""

    @abc.abstractmethod
    def insert(self, table: sa.Table) -> Any:
        """A dialect insert construct supporting ``on_conflict_do_update/nothing``."""

    @abc.abstractmethod
    def migration_transaction(
        self, engine: Engine
    ) -> contextlib.AbstractContextManager[Connection]:
        """A transaction that no other process can migrate concurrently with."""


class SQLiteBackend(SQLBackend):
    """The embedded default: one file, WAL mode, safe for several writer processes."""

    drivernames = ("sqlite", "sqlite+pysqlite")
    busy_timeout_s = 60.0

    def create_engine(self, url: sa.URL, shown: str) -> Engine:
        """Create the folder, open the file in WAL mode, and refuse a read-only location."""
        database = url.database or ""
        if database in ("", ":memory:"):
            raise InvalidValueError(
                f"invalid store URL {shown!r}: the SQLite store needs a file "
                "path (sqlite:///path/to/modelcycle.db); an in-memory database cannot be shared"
            )
        _check_writable_folder(Path(database).parent, shown)
        engine = sa.create_engine(
            url,
            connect_args={"timeout": self.busy_timeout_s, "check_same_thread": False},
            poolclass=sa.pool.QueuePool,
            pool_size=4,
            max_overflow=8,
        )
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_on_begin)
        return engine

    def insert(self, table: sa.Table) -> Any:
        """SQLite's ``INSERT ... ON CONFLICT`` construct."""
        return sqlite.insert(table)

    @contextlib.contextmanager
    def migration_transaction(self, engine: Engine) -> Iterator[Connection]:
        """``BEGIN IMMEDIATE`` takes SQLite's write lock for the whole migration."""
        with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
            yield conn


def _check_writable_folder(folder: Path, shown: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailableError(
            f"cannot open store {shown}: cannot create folder {folder}: {exc.strerror}"
        ) from None
    if not os.access(folder, os.W_OK):
        raise StoreUnavailableError(
            f"cannot open store {shown}: folder {folder} is read-only "
            "(the SQLite store writes its database and journal there)"
        )


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module so BEGIN is ours to emit.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        _enable_wal(cursor, time.monotonic() + SQLiteBackend.busy_timeout_s)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _enable_wal(cursor: sqlite3.Cursor, deadline: float) -> None:
    """Switch a new database to WAL (the mode is stored in the file, so this happens once).

    Changing the journal mode needs a lock SQLite does not wait for: when several processes
    open a new store at once, all but one get "database is locked" at once. Retry until one
    has switched it (or the busy timeout has passed).
    """
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_on_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class PostgresBackend(SQLBackend):
    """PostgreSQL through psycopg 3: the metadata store at scale."""

    drivernames = ("postgresql", "postgresql+psycopg")
    #: Arbitrary constant naming modelcycle's migration lock among advisory locks.
    migration_lock_id = 0x6D6F64656C

    def create_engine(self, url: sa.URL, shown: str) -> Engine:
        """A pooled engine; ``postgresql://`` means the psycopg 3 driver."""
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise StoreUnavailableError(
                "cannot open a PostgreSQL store: the driver is missing; "
                "install it with: pip install 'modelcycle[postgres]'"
            ) from None
        return sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=8)

    def insert(self, table: sa.Table) -> Any:
        """PostgreSQL's ``INSERT ... ON CONFLICT`` construct."""
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)

    @contextlib.contextmanager
    def migration_transaction(self, engine: Engine) -> Iterator[Connection]:
        """A transaction holding an advisory lock until it ends."""
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": self.migration_lock_id})
            yield conn


_BACKENDS: tuple[type[SQLBackend], ...] = (SQLiteBackend, PostgresBackend)


def supported_schemes() -> list[str]:
    """Every URL scheme a metadata store can be opened with."""
    return [name for backend in _BACKENDS for name in backend.drivernames]


def backend_for(url: sa.URL, shown: str) -> SQLBackend:
    """The backend serving ``url`` (``shown`` in messages); an unknown scheme names the others."""
    for backend in _BACKENDS:
        if url.drivername in backend.drivernames:
            return backend()
    raise InvalidValueError(
        f"invalid store URL {shown!r}: unsupported scheme "
        f"{url.drivername!r}; supported: {', '.join(supported_schemes())}"
    )
