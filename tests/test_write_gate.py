"""write_gate.WriteGate: SQLite writers queue on a lock the kernel hands over, not on sleeps.

A writer waits for the gate at most DB_STATEMENT_TIMEOUT_MS, then gets a 503 with
Retry-After, whether the holder is another thread of its process or another process.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import insert, select, update

from lang_portal import db, schema, write_gate
from lang_portal.queries.learners import DEFAULT_LEARNER_ID
from tests.conftest import count_rows, make_app

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def gate_of(engine) -> write_gate.WriteGate:
    gate = write_gate.of_engine(engine)
    assert gate is not None
    return gate


def test_the_gate_lives_beside_the_database_file(engine, database_url):
    with db.writing(engine):
        pass
    assert gate_of(engine).lock_path == Path(f"{db.sqlite_path(database_url)}-writer")
    assert gate_of(engine).lock_path.exists()


def test_concurrent_writers_take_turns_and_lose_nothing(engine):
    holders = []
    inside = threading.Lock()
    progress = schema.group_progress
    counted = (progress.c.learner_id == DEFAULT_LEARNER_ID, progress.c.group_id == 1)
    with db.writing(engine) as connection:
        connection.execute(
            insert(progress).values(learner_id=DEFAULT_LEARNER_ID, group_id=1, sessions_count=0)
        )

    def add_one() -> None:
        for _ in range(20):
            with db.writing(engine) as connection:
                # Nobody else is between BEGIN IMMEDIATE and COMMIT at the same time.
                assert inside.acquire(blocking=False)
                holders.append(threading.get_ident())
                connection.execute(
                    update(progress)
                    .where(*counted)
                    .values(sessions_count=progress.c.sessions_count + 1)
                )
                inside.release()

    threads = [threading.Thread(target=add_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with db.reading(engine) as connection:
        total = connection.execute(select(progress.c.sessions_count).where(*counted))
        assert total.scalar_one() == 80
    assert len(set(holders)) == 4


def test_a_nested_write_in_the_same_thread_does_not_wait_for_itself(engine):
    gate = gate_of(engine)
    finished = threading.Event()

    def nested() -> None:
        with gate.held(), gate.held():
            finished.set()

    thread = threading.Thread(target=nested, daemon=True)
    thread.start()
    assert finished.wait(timeout=5)
    thread.join(timeout=5)
    # And the gate is free again for another thread.
    acquired = threading.Event()

    def take() -> None:
        with gate.held():
            acquired.set()

    other = threading.Thread(target=take)
    other.start()
    other.join(timeout=5)
    assert acquired.is_set()


def test_a_second_process_waits_for_the_file_lock(engine):
    """The flock is what keeps two worker processes apart: a second open file must wait."""
    gate = gate_of(engine)
    with gate.held():
        other = os.open(gate.lock_path, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
    other = os.open(gate.lock_path, os.O_RDWR)
    try:
        started = time.monotonic()
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once the holder is done
        assert time.monotonic() - started < 1
        fcntl.flock(other, fcntl.LOCK_UN)
    finally:
        os.close(other)


GATE_TIMEOUT_MS = 500
NEW_SESSION = {"group_id": 1, "study_activity_id": 1}


@pytest.fixture
def short_timeout_app(database_url: str) -> Iterator[Flask]:
    """The app with a half-second statement timeout, so a gate wait ends quickly."""
    application = make_app(database_url, DB_STATEMENT_TIMEOUT_MS=GATE_TIMEOUT_MS)
    yield application
    application.extensions["lang_portal.engine"].dispose()


@contextmanager
def gate_held_by_another_process(lock_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holds the gate's flock until the block ends (as a stalled worker)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys\n"
            f"fd = os.open({str(lock_path)!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield holder
    finally:
        if holder.poll() is None:
            assert holder.stdin is not None
            holder.stdin.close()
        holder.wait(timeout=10)


@contextmanager
def gate_held_by_another_thread(gate: write_gate.WriteGate) -> Iterator[None]:
    """Another thread of this process holds the gate until the block ends."""
    inside, done = threading.Event(), threading.Event()

    def hold() -> None:
        with gate.held():
            inside.set()
            done.wait(timeout=30)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert inside.wait(timeout=5)
    try:
        yield
    finally:
        done.set()
        holder.join(timeout=5)


def create_session_timed(application: Flask) -> tuple[Any, float]:
    """POST a new session; the answer and the seconds it took.

    The request runs in its own thread, so a writer that would wait forever fails the
    test instead of hanging it.
    """
    answers: list[tuple[Any, float]] = []

    def post() -> None:
        started = time.monotonic()
        response = application.test_client().post("/api/study-sessions", json=NEW_SESSION)
        answers.append((response, time.monotonic() - started))

    writer = threading.Thread(target=post, daemon=True)
    writer.start()
    writer.join(timeout=GATE_TIMEOUT_MS / 1000 + 5)
    if not answers:
        pytest.fail("the writer was still waiting for the gate 5 s after its timeout")
    return answers[0]


def assert_gave_up_after_the_timeout(response, elapsed: float) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["error"] == "the database is unavailable; try again shortly"
    assert GATE_TIMEOUT_MS / 1000 * 0.9 <= elapsed < GATE_TIMEOUT_MS / 1000 + 1.5


@pytest.mark.parametrize("holder", ["another process", "another thread"])
def test_a_writer_waits_at_most_the_statement_timeout_then_gets_503(short_timeout_app, holder):
    engine = short_timeout_app.extensions["lang_portal.engine"]
    gate = gate_of(engine)
    before = count_rows(engine, "study_sessions")
    if holder == "another process":
        holding = gate_held_by_another_process(gate.lock_path)
    else:
        holding = gate_held_by_another_thread(gate)
    with holding:
        response, elapsed = create_session_timed(short_timeout_app)
        assert_gave_up_after_the_timeout(response, elapsed)
        assert count_rows(engine, "study_sessions") == before
        # Still held: the next writer gives up too, after the same wait.
        response, elapsed = create_session_timed(short_timeout_app)
        assert_gave_up_after_the_timeout(response, elapsed)
    assert count_rows(engine, "study_sessions") == before
    # The holder is gone: the next write goes through at once.
    response, elapsed = create_session_timed(short_timeout_app)
    assert response.status_code == 201
    assert elapsed < 1
    assert count_rows(engine, "study_sessions") == before + 1


def test_a_writer_gets_the_gate_the_moment_another_process_lets_go(short_timeout_app):
    engine = short_timeout_app.extensions["lang_portal.engine"]
    gate = gate_of(engine)
    before = count_rows(engine, "study_sessions")
    with gate_held_by_another_process(gate.lock_path) as holder:
        timer = threading.Timer(0.2, holder.stdin.close)
        timer.start()
        response, elapsed = create_session_timed(short_timeout_app)
        timer.join()
    assert response.status_code == 201
    assert 0.2 <= elapsed < GATE_TIMEOUT_MS / 1000
    assert count_rows(engine, "study_sessions") == before + 1


def test_a_writer_that_gave_up_leaves_the_file_lock_to_others(short_timeout_app):
    """The wait a writer abandoned must not end in a lock this process keeps for nobody."""
    engine = short_timeout_app.extensions["lang_portal.engine"]
    gate = gate_of(engine)
    with gate_held_by_another_process(gate.lock_path):
        response, _ = create_session_timed(short_timeout_app)
        assert response.status_code == 503
    # The helper thread got the lock when the holder quit, and let go of it at once.
    other = os.open(gate.lock_path, os.O_RDWR)
    try:
        deadline = time.monotonic() + 2
        while True:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "the gate's file lock was never let go"
                time.sleep(0.01)
        fcntl.flock(other, fcntl.LOCK_UN)
    finally:
        os.close(other)
