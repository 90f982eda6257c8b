"""Fixtures for the reliability tests: seeded SQLite files and real gunicorn servers."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from tests.servers import Gunicorn


@pytest.fixture
def sqlite_file(tmp_path: Path, sqlite_template: Path) -> Path:
    """A private copy of the seeded SQLite database, alone in its own directory."""
    path = tmp_path / "data" / "lang-portal.db"
    path.parent.mkdir()
    shutil.copyfile(sqlite_template, path)
    return path


@pytest.fixture
def sqlite_engine(sqlite_file: Path) -> Iterator[Engine]:
    """A plain engine on ``sqlite_file``, for checking what the server stored."""
    engine = create_engine(f"sqlite:///{sqlite_file}")
    yield engine
    engine.dispose()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Gunicorn]]:
    """Start gunicorn servers for a test; every one still running is stopped afterwards.

    Call it with the database URL, the number of workers and extra settings. All
    servers of one test append to ``tmp_path/server.log``.
    """
    servers: list[Gunicorn] = []

    def start(database_url: str, workers: int = 2, **settings: str) -> Gunicorn:
        server = Gunicorn(database_url, tmp_path / "server.log", workers, settings)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def study_session_id(client) -> int:
    """An existing study session, so review routes get past their 404."""
    response = client.post("/api/study-sessions", json={"group_id": 1, "study_activity_id": 1})
    assert response.status_code == 201
    return response.get_json()["id"]
