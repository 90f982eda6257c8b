"""Group commit (lang_portal.commit_group): SQLite writers queued together share a COMMIT.

Each test lines writers up the same way: the first holds its turn until the others are
queued behind it, so they all join its transaction. Then what the issue asks holds:
one COMMIT for all, a failing writer rolls back only its own savepoint, a lost COMMIT
fails every writer with a 503 and keeps nothing, and nobody hears back before the
COMMIT has returned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, insert, select

from lang_portal import commit_group, db, schema
from tests.conftest import count_rows

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

WRITERS = 4
NEW_SESSION = {"group_id": 1, "study_activity_id": 1}


def groups_of(engine: Engine) -> commit_group.CommitGroups:
    groups = commit_group.of_engine(engine)
    assert groups is not None
    return groups


def wait_until(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("the writers never lined up")
        time.sleep(0.001)


def add_word(connection: Connection, kanji: str) -> None:
    connection.execute(
        insert(schema.words).values(
            kanji=kanji, romaji="r", english="e", parts={}, created_at=datetime.now(UTC)
        )
    )


def stored_kanji(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        rows = connection.execute(select(schema.words.c.kanji).where(schema.words.c.romaji == "r"))
        return set(rows.scalars())


def run_lined_up(
    engine: Engine, blocks: list[Callable[[Connection], None]], results: list[Any] | None = None
) -> list[Any]:
    """Run each block in ``db.writing(engine)`` in its own thread, the first holding its
    turn until all the others are queued behind it; each thread's result or error, put
    in ``results`` the moment its ``db.writing`` block has ended."""
    groups = groups_of(engine)
    results = [None] * len(blocks) if results is None else results
    others_queued = threading.Event()

    def writer(index: int) -> None:
        try:
            with db.writing(engine) as connection:
                if index == 0:
                    others_queued.wait(timeout=5)
                blocks[index](connection)
            results[index] = "done"
        except Exception as error:  # the test reads it
            results[index] = error

    threads = [threading.Thread(target=writer, args=(0,))]
    threads[0].start()
    wait_until(lambda: groups._open is not None)
    for index in range(1, len(blocks)):
        threads.append(threading.Thread(target=writer, args=(index,)))
        threads[-1].start()
    wait_until(lambda: groups._queued == len(blocks) - 1)
    others_queued.set()
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive()
    return results


def count_commits(engine: Engine) -> list[int]:
    commits = [0]

    @event.listens_for(engine, "commit")
    def counted(connection: Connection) -> None:
        commits[0] += 1

    return commits


def test_writers_queued_together_share_one_commit_and_all_their_work_is_kept(engine):
    commits = count_commits(engine)
    kanji = [f"語{index}" for index in range(WRITERS)]
    results = run_lined_up(engine, [lambda c, k=k: add_word(c, k) for k in kanji])
    assert results == ["done"] * WRITERS
    assert commits[0] == 1
    assert stored_kanji(engine) == set(kanji)


def test_a_writer_that_fails_rolls_back_only_its_own_savepoint(engine):
    commits = count_commits(engine)

    def fails(connection: Connection) -> None:
        add_word(connection, "失敗")
        raise ValueError("this writer's own error")

    blocks = [
        lambda c: add_word(c, "一"),
        fails,
        lambda c: add_word(c, "三"),
        lambda c: add_word(c, "四"),
    ]
    results = run_lined_up(engine, blocks)
    assert results[0] == results[2] == results[3] == "done"
    assert isinstance(results[1], ValueError)
    assert str(results[1]) == "this writer's own error"
    assert commits[0] == 1
    assert stored_kanji(engine) == {"一", "三", "四"}


def test_when_the_commit_fails_every_writer_of_the_group_fails_and_nothing_is_kept(engine):
    @event.listens_for(engine, "commit")
    def disk_full(connection: Connection) -> None:
        raise OSError("the disk is full")

    results = run_lined_up(engine, [lambda c, k=k: add_word(c, k) for k in "甲乙丙丁"])
    assert all(isinstance(result, commit_group.GroupCommitFailed) for result in results)
    assert all(db.is_unavailable(result) for result in results)  # each a 503
    event.remove(engine, "commit", disk_full)
    assert stored_kanji(engine) == set()
    # The gate is free again: the next write commits on its own.
    with db.writing(engine) as connection:
        add_word(connection, "次")
    assert stored_kanji(engine) == {"次"}


def test_a_transaction_sqlite_rolled_back_fails_every_writer_of_the_group(engine):
    """SQLite ends the whole transaction after some errors (a full disk, an I/O error);
    the writer before the one that met it must not be told its work was kept. The next
    writer starts a new transaction."""

    def meets_an_io_error(connection: Connection) -> None:
        add_word(connection, "失")
        connection.exec_driver_sql("ROLLBACK")  # what SQLite does itself on SQLITE_FULL
        raise OSError("disk I/O error")

    results = run_lined_up(engine, [lambda c: add_word(c, "前"), meets_an_io_error])
    assert isinstance(results[0], commit_group.GroupCommitFailed)
    assert isinstance(results[1], OSError)
    assert stored_kanji(engine) == set()
    with db.writing(engine) as connection:
        add_word(connection, "後")
    assert stored_kanji(engine) == {"後"}


def test_no_writer_hears_back_before_the_commit_has_returned(engine):
    results: list[Any] = [None] * WRITERS
    seen_during_commit: list[list[Any]] = []

    @event.listens_for(engine, "commit")
    def slow_fsync(connection: Connection) -> None:
        time.sleep(0.05)
        seen_during_commit.append(list(results))

    run_lined_up(engine, [lambda c, k=k: add_word(c, k) for k in "春夏秋冬"], results)
    assert seen_during_commit == [[None] * WRITERS]
    assert results == ["done"] * WRITERS


def test_a_writer_is_not_stranded_when_the_writer_queued_behind_it_gives_up(engine):
    """The writer that leaves the group open counts on the next one to end it; if that
    one gives up waiting for its turn, the first ends the group itself."""
    groups = groups_of(engine)
    done = threading.Event()

    def writer() -> None:
        with db.writing(engine) as connection:
            add_word(connection, "独")
            with groups._queued_lock:
                groups._queued += 1  # someone queued behind ...
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    wait_until(lambda: groups._open is None or not thread.is_alive() or groups._queued == 1)
    time.sleep(0.1)
    assert not done.is_set()  # ... so the group is left open for them
    with groups._queued_lock:
        groups._queued -= 1  # ... who gave up
    assert done.wait(timeout=2)
    thread.join(timeout=2)
    assert stored_kanji(engine) == {"独"}


def test_a_write_inside_a_write_is_a_savepoint_of_the_same_transaction(engine):
    with db.writing(engine) as outer:
        add_word(outer, "外")
        with pytest.raises(ValueError), db.writing(engine) as inner:
            assert inner is outer
            add_word(inner, "内")
            raise ValueError("rolls back the inner write only")
    assert stored_kanji(engine) == {"外"}


def test_concurrent_session_posts_in_groups_are_all_kept_once(app, engine):
    """Over HTTP, with many writers at once: every 201 is a row, and no row lacks one."""
    before = count_rows(engine, "study_sessions")
    answers: list[Any] = []
    lock = threading.Lock()

    def post() -> None:
        client = app.test_client()
        for _ in range(10):
            response = client.post("/api/study-sessions", json=NEW_SESSION)
            with lock:
                answers.append(response)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [r.status_code for r in answers] == [201] * 80
    ids = {r.get_json()["id"] for r in answers}
    assert len(ids) == 80
    with engine.connect() as connection:
        stored = set(
            connection.execute(
                select(schema.study_sessions.c.id).where(schema.study_sessions.c.id.in_(ids))
            ).scalars()
        )
    assert stored == ids
    assert count_rows(engine, "study_sessions") == before + 80
