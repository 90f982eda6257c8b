"""db.WriteGate: SQLite writers queue on a lock the kernel hands over, not on SQLite's sleeps."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select, update

from lang_portal import db
from lang_portal.schema import groups

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def gate_of(engine) -> db.WriteGate:
    return db._WRITE_GATES[engine]


def test_the_gate_lives_beside_the_database_file(engine, database_url):
    with db.writing(engine):
        pass
    assert gate_of(engine).lock_path == Path(f"{db.sqlite_path(database_url)}-writer")
    assert gate_of(engine).lock_path.exists()


def test_concurrent_writers_take_turns_and_lose_nothing(engine):
    holders = []
    inside = threading.Lock()

    def add_one() -> None:
        for _ in range(20):
            with db.writing(engine) as connection:
                # Nobody else is between BEGIN IMMEDIATE and COMMIT at the same time.
                assert inside.acquire(blocking=False)
                holders.append(threading.get_ident())
                connection.execute(
                    update(groups)
                    .where(groups.c.id == 1)
                    .values(sessions_count=groups.c.sessions_count + 1)
                )
                inside.release()

    threads = [threading.Thread(target=add_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with db.reading(engine) as connection:
        total = connection.execute(select(groups.c.sessions_count).where(groups.c.id == 1))
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
