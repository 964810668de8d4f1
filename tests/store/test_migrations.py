"""Schema migrations: the tables in code equal the migrations, and old stores upgrade in place."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import modelcycle.store._db as db_module
from modelcycle.store import MetadataStore
from modelcycle.store._schema import HEAD_REVISION, metadata
from modelcycle.types import RunStatus

MIGRATIONS = Path(db_module.__file__).with_name("migrations")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def test_head_revision_constant_is_alembic_head() -> None:
    assert ScriptDirectory.from_config(_config()).get_current_head() == HEAD_REVISION


def test_migrated_schema_equals_the_tables_in_code(store_url: str) -> None:
    MetadataStore(store_url).close()
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_store_created_by_an_older_schema_upgrades_in_place(empty_store_url: str) -> None:
    store_url = empty_store_url
    url = sa.make_url(store_url)
    if url.drivername == "sqlite":
        Path(url.database or "").parent.mkdir(parents=True)
    engine = sa.create_engine(store_url)
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO experiments (name, created_at) VALUES ('legacy', 1700000000000)"
        )
        conn.exec_driver_sql(
            "INSERT INTO runs (run_id, experiment_id, name, status, start_time) "
            "VALUES ('0123456789abcdef0123456789abcdef', 1, 'old-run', 'FINISHED', 1700000000000)"
        )
        conn.exec_driver_sql(
            "INSERT INTO params (run_id, key, value) "
            "VALUES ('0123456789abcdef0123456789abcdef', 'lr', '0.1')"
        )
        assert not sa.inspect(conn).has_table("run_inputs")

    store = MetadataStore(store_url)
    assert store.db.current_revision() == HEAD_REVISION
    old = store.runs.get("01234567")
    assert (old.name, old.status, old.params) == ("old-run", RunStatus.FINISHED, {"lr": "0.1"})
    assert old.inputs == () and old.artifacts == ()
    store.close()
    engine.dispose()
