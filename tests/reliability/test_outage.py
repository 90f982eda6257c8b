"""The SQLite database disappears mid-run and comes back: the service degrades and heals.

Renaming the database's directory away makes the file unreachable (the tests run
as root, so chmod would not). lang-portal refuses to hand out a pooled connection
whose file was moved (db.py's checkout hook) and cannot open a new one, so every
request gets a clean 503 until the directory is back; then requests succeed
again with no restart.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from lang_portal import schema
from tests.reliability.support import (
    LoadResult,
    check_counters,
    check_problem,
    problem_body,
    run_writers,
    server_log,
)

pytestmark = pytest.mark.slow

CLIENTS = 4
HEALTHY_SECONDS = 1.0
OUTAGE_SECONDS = 2.0
RECOVERY_LIMIT = 10.0  # seconds the service may take to notice the database is back
PROBES = ["/api/groups", "/api/study-sessions", "/api/study-activities"]


UNAVAILABLE = "the database is unavailable; try again shortly"


def assert_unavailable(response: requests.Response) -> None:
    """The answer docs/reliability.md promises during an outage: a JSON 503 that says
    to retry (Retry-After: 1), with its request id and no internals."""
    assert response.status_code == 503, (response.url, response.status_code, response.text)
    assert response.headers["Retry-After"] == "1"
    assert problem_body(response)["error"] == UNAVAILABLE


def probe_outage(url: str) -> None:
    """Reads and a write during the outage: each a JSON 503 without internals."""
    with requests.Session() as http:
        for path in PROBES:
            assert_unavailable(http.get(url + path, timeout=10))
        assert_unavailable(
            http.post(
                url + "/api/study-sessions",
                json={"group_id": 1, "study_activity_id": 1},
                timeout=10,
            )
        )


def wait_for_recovery(url: str) -> float:
    """Seconds until a write succeeds again; fails the test after RECOVERY_LIMIT."""
    started = time.monotonic()
    with requests.Session() as http:
        while time.monotonic() - started < RECOVERY_LIMIT:
            response = http.post(
                url + "/api/study-sessions",
                json={"group_id": 3, "study_activity_id": 3},
                timeout=10,
            )
            if response.status_code == 201:
                return time.monotonic() - started
            assert_unavailable(response)
            time.sleep(0.1)
    pytest.fail(f"writes did not succeed within {RECOVERY_LIMIT}s of the database coming back")


def test_database_directory_moved_away_and_back(
    start_server, sqlite_file: Path, sqlite_engine, tmp_path: Path
):
    server = start_server(f"sqlite:///{sqlite_file}", workers=2)
    master = server.process.pid
    workers = sorted(server.worker_pids())
    directory = sqlite_file.parent
    away = directory.with_name("data-away")

    stop = threading.Event()
    outcome: list[LoadResult] = []
    load = threading.Thread(
        target=lambda: outcome.append(run_writers(server.url, CLIENTS, 60.0, stop)), daemon=True
    )
    load.start()
    try:
        time.sleep(HEALTHY_SECONDS)
        directory.rename(away)
        try:
            time.sleep(OUTAGE_SECONDS / 2)
            probe_outage(server.url)
            time.sleep(OUTAGE_SECONDS / 2)
            assert server.process.poll() is None
            assert sorted(server.worker_pids()) == workers
        finally:
            away.rename(directory)
        recovery = wait_for_recovery(server.url)
        time.sleep(HEALTHY_SECONDS)  # the load runs on against the healed service
    finally:
        stop.set()
        load.join(timeout=60)
    result = outcome[0]

    # The same processes served before, during and after: nothing was restarted.
    assert server.process.poll() is None and server.process.pid == master
    assert sorted(server.worker_pids()) == workers
    assert recovery < RECOVERY_LIMIT
    # The load saw the outage as clean 503 answers and nothing else.
    assert result.connection_errors == 0
    assert set(result.statuses) <= {201, 503}, result.statuses
    assert result.statuses[503] >= 1, "the load never saw the outage"
    for failure in result.failures:
        body = check_problem(failure.status, failure.body, failure.content_type, failure.request_id)
        assert body["error"] == UNAVAILABLE, str(failure)
    # The details went to the log instead, under the request id the client was given.
    log = server_log(tmp_path)
    assert f"request_id={result.failures[0].request_id}" in log
    assert "unable to open database file" in log
    # And the writes after recovery went through again.
    after = requests.get(server.url + "/api/study-sessions?per_page=1", timeout=10)
    assert after.status_code == 200
    server.stop()

    # No acknowledged write was lost, and every counter agrees with its rows.
    with sqlite_engine.connect() as connection:
        stored_sessions = set(connection.execute(select(schema.study_sessions.c.id)).scalars())
        stored_reviews = set(connection.execute(select(schema.word_review_items.c.id)).scalars())
    assert set(result.session_ids) <= stored_sessions
    assert set(result.review_ids) <= stored_reviews
    assert after.json()["total"] == len(stored_sessions)
    check_counters(sqlite_engine)
