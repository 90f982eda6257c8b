"""Fixtures shared by every test: an app on a fresh, seeded database of each engine.

Every test that uses ``app`` runs once on SQLite and once on PostgreSQL. The
PostgreSQL leg needs LANG_PORTAL_TEST_DATABASE_URL (``.ci/run`` sets it when a
server answers on 127.0.0.1:5432); without it that leg is skipped with a reason.
Each test gets its own database: a copy of a migrated, seeded template.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, create_engine, func, make_url, select, text
from werkzeug.serving import make_server

from lang_portal import create_app
from lang_portal.cli import prepare_database
from lang_portal.schema import metadata

# Scans every error body the suite produces for leaked internals (fails the run on a leak).
pytest_plugins = ["tests.reliability.error_bodies"]

POSTGRES_ENV = "LANG_PORTAL_TEST_DATABASE_URL"
ENGINES = ["sqlite", "postgresql"]
# SECRET_KEY: the accounts mode needs one; a fixed one keeps test runs alike.
TEST_SETTINGS = {
    "RATE_LIMIT": "off",
    "LOG_LEVEL": "WARNING",
    "SECRET_KEY": "test-secret-key-0123456789-abcdefghijklmnop",
}


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated and seeded SQLite file that each test copies."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_engine(f"sqlite:///{path}")
    prepare_database(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _postgres_server_url() -> Any:
    raw = os.environ.get(POSTGRES_ENV)
    if not raw:
        pytest.skip(f"PostgreSQL leg skipped: set {POSTGRES_ENV} to run it")
    return make_url(raw).set(drivername="postgresql+psycopg")


def _admin_engine(server_url: Any) -> Engine:
    return create_engine(server_url, isolation_level="AUTOCOMMIT", pool_size=1)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[Any]:
    """A migrated and seeded PostgreSQL database that each test clones, and its server URL."""
    server_url = _postgres_server_url()
    name = f"lp_template_{os.getpid()}"
    admin = _admin_engine(server_url)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(server_url.set(database=name))
    prepare_database(engine)
    engine.dispose()
    yield server_url, name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, seeded database of one engine, private to this test."""
    if request.param == "sqlite":
        path = tmp_path / "lang-portal.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server_url, template = request.getfixturevalue("postgres_template")
    name = f"lp_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(server_url)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield server_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def make_app(database_url: str, **settings: Any) -> Flask:
    """An app on ``database_url`` with test defaults, overridden by ``settings``."""
    return create_app({"DATABASE_URL": database_url, "TESTING": True, **TEST_SETTINGS, **settings})


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The app on a fresh seeded database, rate limiting off."""
    application = make_app(database_url)
    yield application
    application.extensions["lang_portal.engine"].dispose()


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


@pytest.fixture
def engine(app: Flask) -> Engine:
    """The app's engine, for checking the database after a request."""
    return app.extensions["lang_portal.engine"]


def count_rows(engine: Engine, table_name: str) -> int:
    """How many rows a table holds right now."""
    with engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(metadata.tables[table_name])
        ).scalar_one()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app behind a real threaded HTTP server on 127.0.0.1; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


# With LANG_PORTAL_TEST_DATABASE_URL set (as .ci/run sets it), the PostgreSQL leg must
# run in full: a PostgreSQL test that skips fails the run instead of passing quietly.
_POSTGRES_NODE = re.compile(r"^tests/postgres/|[\[-]postgresql[\]-]")
_postgres_skips: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and os.environ.get(POSTGRES_ENV)
        and _POSTGRES_NODE.search(report.nodeid)
    ):
        _postgres_skips.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _postgres_skips and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _postgres_skips:
        terminalreporter.section("PostgreSQL tests skipped", red=True)
        terminalreporter.write_line(
            f"{POSTGRES_ENV} is set, so no PostgreSQL test may skip; these did:"
        )
        for nodeid in _postgres_skips:
            terminalreporter.write_line(f"  {nodeid}")
