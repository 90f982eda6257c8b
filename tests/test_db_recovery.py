"""After a moment of read-only, the app's SQLite engine writes again at once, without a restart.

SQLite opens a file it may not write read-only, without a word, and that connection
stays read-only after the file is writable again (issue 13, finding 2). The file is
made immutable with ``chattr +i`` as root (root ignores permission bits), or made
read-only with chmod otherwise.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine

from lang_portal import db, sqlite_engine
from tests.support import NEW_STUDY_SESSION, read_only

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def database_files(database_url: str, engine: Engine) -> Iterator[list[Path]]:
    """The database file and its -wal, with the app's pool emptied.

    A connection outside the app keeps the -wal in existence, and the app's next
    connection is opened from scratch.
    """
    path = db.sqlite_path(database_url)
    assert path is not None
    engine.connect().close()  # the app's connect hook puts the file in WAL mode
    engine.dispose()
    keeper = sqlite3.connect(path)
    keeper.execute("SELECT count(*) FROM groups").fetchone()  # opens (creates) the -wal
    files = [path, Path(f"{path}-wal")]
    assert all(file.exists() for file in files)
    yield files
    keeper.close()


def count_sessions(database_url: str) -> int:
    """Study sessions stored, counted on a connection of its own (the app's pool stays cold)."""
    with closing(sqlite3.connect(db.sqlite_path(database_url))) as connection:
        return connection.execute("SELECT count(*) FROM study_sessions").fetchone()[0]


def test_connections_opened_while_read_only_are_replaced_once_writable(
    app: Flask, database_url: str, database_files: list[Path]
):
    client = app.test_client()
    before = count_sessions(database_url)
    with read_only(database_files):
        # The pool is cold: the connection opened now is read-only.
        refused = client.post("/api/study-sessions", json=NEW_STUDY_SESSION)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        assert client.get("/api/groups").status_code == 200  # reads still work
    # The very next write succeeds: no 503 left over from the fault.
    created = client.post("/api/study-sessions", json=NEW_STUDY_SESSION)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert count_sessions(database_url) == before + 1


def test_a_read_only_connection_the_check_missed_is_dropped_by_its_first_failed_write(
    app: Flask, database_url: str, database_files: list[Path], monkeypatch: pytest.MonkeyPatch
):
    """The race check-out cannot see: the files became writable while SQLite opened them."""
    monkeypatch.setattr(sqlite_engine, "_writable", lambda path: True)
    client = app.test_client()
    before = count_sessions(database_url)
    with read_only(database_files):
        assert client.get("/api/groups").status_code == 200  # opens a read-only connection
    # Its first write fails (a clean 503) and takes the connection out of the pool ...
    refused = client.post("/api/study-sessions", json=NEW_STUDY_SESSION)
    assert refused.status_code == 503
    assert refused.get_json()["error"] == "the database is unavailable; try again shortly"
    assert count_sessions(database_url) == before
    # ... so the next write gets a fresh connection and succeeds.
    created = client.post("/api/study-sessions", json=NEW_STUDY_SESSION)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert count_sessions(database_url) == before + 1
