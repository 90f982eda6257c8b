"""The SQLite file is read-only for a moment under load: clean 503s, then full recovery.

Issue 13, finding 2: SQLite opens a file it may not write read-only, without a word, and
such a connection stays read-only after the fault. Pooled, it kept 40-65 % of writes
failing ("attempt to write a readonly database") until a restart. The fault starts
while the workers' pools are cold, so every connection they open is opened during it:
the state the review reached through pool churn, made certain.

The database file and its -wal are made immutable with ``chattr +i`` (the tests run as
root, which permission bits would not stop); without root, they are chmod'ed read-only.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from lang_portal import schema
from tests.reliability.support import check_counters, check_problem, run_writers, server_log
from tests.support import read_only

pytestmark = pytest.mark.slow

CLIENTS = 16
FAULT_SECONDS = 2.0
RECOVERY_SECONDS = 3.0  # writes may still fail this long after the fault (they do not)
HEALTHY_SECONDS = 4.0


def test_writes_recover_within_seconds_after_the_file_was_read_only(
    start_server, sqlite_file: Path, sqlite_engine, tmp_path: Path
):
    server = start_server(f"sqlite:///{sqlite_file}", workers=2)
    files = [sqlite_file, Path(f"{sqlite_file}-wal")]
    assert all(file.exists() for file in files)  # the server has the file open in WAL mode

    with read_only(files):
        during = run_writers(server.url, CLIENTS, FAULT_SECONDS)
    settling = run_writers(server.url, CLIENTS, RECOVERY_SECONDS)
    after = run_writers(server.url, CLIENTS, HEALTHY_SECONDS)

    # During the fault: clean 503s, and only those; the details went to the log.
    assert set(during.statuses) == {503}, during.statuses
    assert during.connection_errors == 0
    for failure in during.failures:
        body = check_problem(failure.status, failure.body, failure.content_type, failure.request_id)
        assert body["error"] == "the database is unavailable; try again shortly"
    assert f"request_id={during.failures[0].request_id}" in server_log(tmp_path)
    # Never a 500, while the service settles or after.
    assert set(settling.statuses) <= {201, 503}, settling.statuses
    for failure in settling.failures:
        check_problem(failure.status, failure.body, failure.content_type, failure.request_id)
    # Within a few seconds of the fault, every write succeeds, without a restart.
    assert set(after.statuses) == {201}, (after.statuses, [str(f) for f in after.failures[:3]])
    assert after.statuses[201] >= 100
    server.stop()

    # Every acknowledged write is stored, and the counters agree with the rows.
    acknowledged_sessions = set(settling.session_ids + after.session_ids)
    acknowledged_reviews = set(settling.review_ids + after.review_ids)
    with sqlite_engine.connect() as connection:
        stored_sessions = set(connection.execute(select(schema.study_sessions.c.id)).scalars())
        stored_reviews = set(connection.execute(select(schema.word_review_items.c.id)).scalars())
        integrity = connection.exec_driver_sql("PRAGMA integrity_check").scalar_one()
    assert acknowledged_sessions <= stored_sessions
    assert acknowledged_reviews <= stored_reviews
    assert integrity == "ok"
    check_counters(sqlite_engine)
