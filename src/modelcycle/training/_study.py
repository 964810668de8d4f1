"""Where Optuna keeps its studies: in the metadata database, beside modelcycle's tables.

Tuning shares its study through the metadata store's database so a crashed tuning resumes
where it stopped and workers on several machines draw trials from one study. Optuna's own
tables (``studies``, ``trials``, ``trial_params``, ``trial_values`` ...) do not collide with
ours (``experiments``, ``runs``, ``params``, ``tags``, ``metrics``, ``latest_metrics``,
``run_inputs``, ``run_artifacts``, ``dataset_versions``), but both schemas are migrated by
Alembic through the same default version table, ``alembic_version``: in one schema each side
reads the other's revision as its own, and opening fails ("Can't locate revision
'v3.2.0.a'" on our side, "no longer compatible with the table schema" on Optuna's). So the
study lives next to our tables, never among them:

- PostgreSQL: the same database, schema ``optuna`` (created on first use; the connection's
  ``search_path`` points Optuna there), so one backup and one URL cover both;
- SQLite: a sibling file ``optuna.db`` next to the store's file (SQLite has no schemas, and an
  attached database would still be a second file), in WAL mode with ``synchronous=NORMAL`` as
  the store's own file: every reported iteration of a pruned tuning is a commit, and SQLite's
  defaults (rollback journal, ``synchronous=FULL``) make each one wait for several fsyncs,
  longer than a boosting round takes. As for the store, a crashed process loses nothing; a
  power cut can lose the last commits.

Trials whose process died stay RUNNING until the heartbeat's grace period passes; the next
``optimize`` on the study then marks them FAIL (Optuna's heartbeat, enabled here).
"""

from __future__ import annotations

import contextlib
import sqlite3
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from modelcycle.errors import InvalidValueError, StoreUnavailableError

__all__ = ["OPTUNA_SCHEMA", "OPTUNA_SQLITE_FILE", "optuna_location", "study_storage"]

#: The PostgreSQL schema holding Optuna's tables.
OPTUNA_SCHEMA = "optuna"
#: The SQLite file holding Optuna's tables, next to the store's file.
OPTUNA_SQLITE_FILE = "optuna.db"
#: Seconds between a running trial's heartbeats, and before a silent trial counts as dead.
HEARTBEAT_S, GRACE_S = 60, 180


def _parse(store_url: str) -> sa.URL:
    try:
        return sa.make_url(store_url)
    except sa.exc.ArgumentError:
        raise InvalidValueError(f"invalid store URL {store_url!r}") from None


def optuna_location(store_url: str) -> tuple[str, dict[str, Any]]:
    """The URL and engine options Optuna's storage opens for the store at ``store_url``."""
    url = _parse(store_url)
    if url.drivername.startswith("sqlite"):
        if not url.database or url.database == ":memory:":
            raise InvalidValueError(f"invalid store URL {store_url!r}: tuning needs a file")
        study_file = Path(url.database).with_name(OPTUNA_SQLITE_FILE)
        options: dict[str, Any] = {"creator": _sqlite_connector(study_file)}
        return url.set(database=str(study_file)).render_as_string(hide_password=False), options
    if url.drivername in ("postgresql", "postgresql+psycopg"):
        url = url.set(drivername="postgresql+psycopg")
        options = {
            "connect_args": {"options": f"-c search_path={OPTUNA_SCHEMA}"},
            "pool_pre_ping": True,
        }
        return url.render_as_string(hide_password=False), options
    raise InvalidValueError(
        f"invalid store URL {store_url!r}: tuning supports sqlite and postgresql stores"
    )


def _sqlite_connector(path: Path) -> Callable[[], sqlite3.Connection]:
    """Connections to the study file in WAL mode, ``synchronous=NORMAL`` (module docstring)."""

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, timeout=60.0, check_same_thread=False)
        # Switching to WAL needs the file to itself: when another process holds it, this
        # connection stays in the current mode (slower, as correct) and a later one switches.
        with contextlib.suppress(sqlite3.OperationalError):
            connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    return connect


def _create_schema(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {OPTUNA_SCHEMA}")
    except sa.exc.IntegrityError:
        pass  # another worker created it between the check and the create
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        shown = _parse(url).render_as_string(hide_password=True)
        raise StoreUnavailableError(
            f"cannot create schema {OPTUNA_SCHEMA!r} for tuning studies in {shown}: {reason}"
        ) from exc
    finally:
        engine.dispose()


@contextlib.contextmanager
def study_storage(store_url: str) -> Iterator[Any]:
    """An ``optuna.storages.RDBStorage`` beside the store at ``store_url`` (see the module
    docstring), its connections released when the block ends.

        with study_storage(client.store_url) as storage:
            study = optuna.load_study(study_name=name, storage=storage)
    """
    import optuna
    from optuna.exceptions import ExperimentalWarning

    url, options = optuna_location(store_url)
    if url.startswith("postgresql"):
        _create_schema(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeats are "experimental"
        try:
            storage = optuna.storages.RDBStorage(
                url, engine_kwargs=options, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
            )
        except sa.exc.OperationalError as exc:
            shown = _parse(url).render_as_string(hide_password=True)
            raise StoreUnavailableError(
                f"cannot open tuning studies at {shown}: {exc.orig}"
            ) from exc
    try:
        yield storage
    finally:
        storage.engine.dispose()
