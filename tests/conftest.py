"""Shared fixtures: the metadata-store backends every contract test runs against.

The PostgreSQL backend uses the real server (``MODELCYCLE_TEST_POSTGRES``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``). When it cannot be reached the tests
FAIL: a silently skipped backend is an untested backend.
"""

from __future__ import annotations

import os
import random
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelcycle.store import MetadataStore
from modelcycle.tracking import Client

PG_ADMIN_URL = os.environ.get(
    "MODELCYCLE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgresql"]
_TABLES = (
    "experiments, runs, params, tags, metrics, latest_metrics, run_inputs, run_artifacts, "
    "dataset_versions, step_cache, registered_models, model_versions, model_aliases, "
    "alias_events, audit_events, audit_head, predictions, api_keys, feedback, "
    "monitor_windows, alerts"
)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's ./.modelcycle or environment."""
    monkeypatch.delenv("MODELCYCLE_STORE", raising=False)
    monkeypatch.delenv("MODELCYCLE_ARTIFACTS", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def seed() -> int:
    """The one seed of randomness in tests."""
    random.seed(1234)
    return 1234


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"modelcycle_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc.orig}); the PostgreSQL "
            "backend tests need the real server (set MODELCYCLE_TEST_POSTGRES)",
            pytrace=False,
        )
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _truncate(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if sa.inspect(conn).has_table("runs"):
            conn.exec_driver_sql(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE")
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS optuna CASCADE")  # tuning studies
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty metadata store URL, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'modelcycle.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    _truncate(url)
    yield url


@pytest.fixture
def store(store_url: str) -> Iterator[MetadataStore]:
    """An open, empty metadata store on each backend."""
    opened = MetadataStore(store_url)
    yield opened
    opened.close()


@pytest.fixture
def client(store_url: str, tmp_path: Path) -> Iterator[Client]:
    """A tracking client on each metadata backend with a local artifact folder."""
    with Client(store_url, str(tmp_path / "artifacts"), flush_interval=0.05) as opened:
        yield opened


@pytest.fixture
def empty_store_url(store_url: str) -> str:
    """A store URL whose database has no tables at all (not even modelcycle's)."""
    if store_url.startswith("postgresql"):
        engine = sa.create_engine(store_url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS optuna CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        engine.dispose()
    return store_url


#: ``cli(*args) -> (exit code, stdout, stderr)``
Invoke = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run ``modelcycle ARGS`` in-process through the real entry point."""
    from modelcycle.cli import main

    def invoke(*args: object) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["modelcycle", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            main()
        out, err = capsys.readouterr()
        code = exit_info.value.code
        return (code if isinstance(code, int) else 1), out, err

    return invoke
