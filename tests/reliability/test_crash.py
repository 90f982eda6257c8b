"""A power cut mid-load: SIGKILL every server process while writes are in flight.

SQLite runs in WAL mode with ``synchronous=FULL``, so a commit is on disk before
the 201 leaves the server. After the kill, every acknowledged write must still be
there, the file must be intact, and a restarted server must take writes at once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from lang_portal import schema
from tests.reliability.support import LoadResult, check_counters, run_writers

pytestmark = pytest.mark.slow

CYCLES = 2
CLIENTS = 16
LOAD_BEFORE_KILL = 2.5  # seconds


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of the file, read as a fresh process would after a crash."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


def load_then_kill(url: str, kill: Callable[[], None]) -> LoadResult:
    """Run writers against ``url``, kill the server mid-load; returns what was acknowledged."""
    stop = threading.Event()
    outcome: list[LoadResult] = []
    load = threading.Thread(
        target=lambda: outcome.append(run_writers(url, CLIENTS, 30.0, stop)), daemon=True
    )
    load.start()
    time.sleep(LOAD_BEFORE_KILL)
    kill()
    stop.set()
    load.join(timeout=60)
    assert outcome, "the load did not finish"
    return outcome[0]


def test_sigkill_mid_load_loses_no_acknowledged_write(start_server, sqlite_file, sqlite_engine):
    acknowledged = LoadResult()
    database_url = f"sqlite:///{sqlite_file}"
    server = start_server(database_url, workers=4)
    for _ in range(CYCLES):
        result = load_then_kill(server.url, server.kill)
        acknowledged.merge(result)
        assert result.session_ids, "nothing was written before the kill"
        assert result.connection_errors >= 1, "the kill did not interrupt any request"
        assert {status for status in result.statuses if status >= 500} == set(), result.failures
        # The file as the crash left it, before anything opens it again.
        assert integrity(sqlite_file) == "ok"

        server = start_server(database_url, workers=4)
        # Writes are accepted at once: no retry, no recovery step.
        created = requests.post(
            server.url + "/api/study-sessions",
            json={"group_id": 2, "study_activity_id": 2},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        acknowledged.session_ids.append(created.json()["id"])
        reviewed = requests.post(
            server.url + f"/api/study-sessions/{created.json()['id']}/words/5/review",
            json={"correct": True},
            timeout=10,
        )
        assert reviewed.status_code == 201, reviewed.text
        acknowledged.review_ids.append(reviewed.json()["id"])

    server.stop()
    assert integrity(sqlite_file) == "ok"
    with sqlite_engine.connect() as connection:
        stored_sessions = set(connection.execute(select(schema.study_sessions.c.id)).scalars())
        reviews = connection.execute(
            select(schema.word_review_items.c.id, schema.word_review_items.c.study_session_id)
        ).all()
    assert set(acknowledged.session_ids) <= stored_sessions
    assert set(acknowledged.review_ids) <= {review_id for review_id, _ in reviews}
    # Batch reviews are acknowledged by count: each session holds at least the
    # acknowledged batch reviews plus its acknowledged single reviews.
    singles = set(acknowledged.review_ids)
    stored_per_session = Counter(study_session_id for _, study_session_id in reviews)
    singles_per_session = Counter(s for review_id, s in reviews if review_id in singles)
    for study_session_id, batch_count in acknowledged.batch_reviews.items():
        expected = batch_count + singles_per_session[study_session_id]
        assert stored_per_session[study_session_id] >= expected, study_session_id
    # Every transaction was all or nothing: the counters agree with the rows.
    check_counters(sqlite_engine)
