"""Fixtures for the PostgreSQL-only tests: fresh databases on the test server.

These tests need LANG_PORTAL_TEST_DATABASE_URL and skip, with that reason, without
it (through the shared ``postgres_template`` fixture). Every database they make is
dropped afterwards, even when the test fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text


def _admin(server_url: Any) -> Engine:
    return create_engine(server_url, isolation_level="AUTOCOMMIT", pool_size=1)


def new_database(server_url: Any, template: str | None) -> Iterator[str]:
    """Create a database (a copy of ``template``, or empty), yield its URL, then drop it."""
    name = f"lp_pg_{uuid.uuid4().hex[:12]}"
    admin = _admin(server_url)
    clause = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{clause}'))
    try:
        yield server_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url(postgres_template: tuple[Any, str]) -> Iterator[str]:
    """A fresh migrated and seeded PostgreSQL database, private to this test."""
    server_url, template = postgres_template
    yield from new_database(server_url, template)


@pytest.fixture
def empty_pg_url(postgres_template: tuple[Any, str]) -> Iterator[str]:
    """A fresh, empty PostgreSQL database (no tables), private to this test."""
    server_url, _ = postgres_template
    yield from new_database(server_url, None)


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """A plain engine on ``pg_url`` for checking rows after requests."""
    engine = create_engine(pg_url)
    yield engine
    engine.dispose()
