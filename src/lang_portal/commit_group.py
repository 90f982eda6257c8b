"""Group commit: the SQLite write transactions of one process share a COMMIT, and its fsync.

With ``synchronous=FULL`` a COMMIT waits for the disk: about 1.0 ms of the 1.4 ms a
POST /api/study-sessions held the write lock (docs/performance.md, issue 18). Writers
that arrive while another is writing therefore join its transaction, each in a
SAVEPOINT of its own, and the last of them commits for all:

- A writer's ``with db.writing()`` block runs alone on the shared connection, as
  before; only the COMMIT is shared. Its block ends, and so its request is answered,
  only after that COMMIT has returned: nothing is acknowledged before it is on disk.
- A writer whose block raises rolls back its own savepoint and gets its own error; the
  others' work stands.
- If the transaction is lost (the COMMIT fails, or SQLite rolled the whole transaction
  back after an I/O error), every writer of the group gets :class:`GroupCommitFailed`,
  a 503, and none of their work is kept.

A group grows while writers are queued for their turn, up to ``MAX_WRITERS``; the
writer that finds nobody queued behind it commits. Groups form within one process;
processes still take turns on the :class:`~lang_portal.write_gate.WriteGate`.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, exc

from lang_portal import sqlite_engine, write_gate
from lang_portal.write_gate import WriteGate

# At most this many writers share one COMMIT, so that the first of them never waits for
# an endless line of later ones.
MAX_WRITERS = 32
# Each writer's savepoint; a write inside a write nests its own (SQLAlchemy's) in it.
_SAVEPOINT = "SAVEPOINT lang_portal_writer"
_ROLLBACK_TO_SAVEPOINT = "ROLLBACK TO lang_portal_writer"
_RELEASE_SAVEPOINT = "RELEASE lang_portal_writer"
# How often a writer waiting for its group's COMMIT checks that someone is still going
# to make it (a queued writer may have given up waiting for its turn).
_RECHECK_SECONDS = 0.05


class GroupCommitFailed(exc.SQLAlchemyError):
    """The transaction this writer's work was part of did not commit: nothing was kept."""


@dataclass(eq=False)
class _Group:
    """One open write transaction and the writers whose savepoints it holds."""

    connection: Connection
    writers: int = 0
    lost: BaseException | None = None  # why the transaction is gone, when it is
    failure: BaseException | None = None  # why its COMMIT did not happen, once ended
    ended: threading.Event = field(default_factory=threading.Event)


class CommitGroups:
    """The write transactions of one engine on a SQLite file, committed in groups."""

    def __init__(self, engine: Engine, gate: WriteGate) -> None:
        self._engine = engine
        self._gate = gate
        self._turn = threading.Lock()  # one writer at a time runs on the connection
        self._queued = 0  # writers waiting for the turn
        self._queued_lock = threading.Lock()
        self._open: _Group | None = None
        self._inside = threading.local()  # the connection of a thread inside its block

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A connection inside this writer's savepoint of the current group's transaction.

        Raises sqlalchemy.exc.TimeoutError when the turn or the gate is not free within
        the gate's timeout, and :class:`GroupCommitFailed` when the group's COMMIT fails.
        """
        nested = getattr(self._inside, "connection", None)
        if nested is not None:  # a write inside a write: one more savepoint
            with nested.begin_nested():
                yield nested
            return
        self._take_turn()
        failure: BaseException | None = None
        try:
            group = self._open or self._begin()
            self._inside.connection = group.connection
            try:
                failure = yield from self._run_in_savepoint(group)
            finally:
                self._inside.connection = None
            if group.lost is not None or group.writers >= MAX_WRITERS or not self._queued:
                self._end(group)
        finally:
            self._turn.release()
        if failure is not None:
            raise failure
        self._wait_for(group)

    @staticmethod
    def _run_in_savepoint(group: _Group) -> Iterator[Connection]:
        """Run the writer's block in a savepoint; what it raised, if it did (else None).

        A savepoint that cannot be rolled back, or released, means the transaction
        itself is gone: the group is lost, and the writer still gets its own error.
        The savepoint statements go straight to the driver: through SQLAlchemy's
        ``begin_nested`` they took about as long as the writer's own statements
        (docs/performance.md).
        """
        driver = group.connection.connection.driver_connection
        try:
            driver.execute(_SAVEPOINT)
        except sqlite3.Error as error:
            group.lost = error
            return GroupCommitFailed("the writer's savepoint could not be made")
        try:
            yield group.connection
        except BaseException as error:
            try:
                if driver.in_transaction:
                    driver.execute(_ROLLBACK_TO_SAVEPOINT)
                    driver.execute(_RELEASE_SAVEPOINT)
                    return error
            except sqlite3.Error:
                pass
            group.lost = error
            return error
        try:
            driver.execute(_RELEASE_SAVEPOINT)
        except sqlite3.Error as error:
            group.lost = error
            return GroupCommitFailed("the writer's savepoint could not be released")
        group.writers += 1
        return None

    def _take_turn(self) -> None:
        with self._queued_lock:
            self._queued += 1
        try:
            if not self._turn.acquire(timeout=self._gate.timeout):
                raise exc.TimeoutError(
                    f"no turn to write within {self._gate.timeout:g} s"
                ) from None
        finally:
            with self._queued_lock:
                self._queued -= 1

    def _begin(self) -> _Group:
        """Take the gate and open the next group's transaction (BEGIN IMMEDIATE)."""
        self._gate.enter()
        try:
            connection = self._engine.connect()
            try:
                connection.execution_options(**{sqlite_engine.WRITE_TRANSACTION: True})
                connection.begin()
            except BaseException:
                connection.close()
                raise
        except BaseException:
            self._gate.leave()
            raise
        self._open = _Group(connection)
        return self._open

    def _end(self, group: _Group) -> None:
        """COMMIT the group (or roll it back, when it has no work or lost it); free the gate.

        Called with the turn held, so no writer is on the connection meanwhile.
        """
        self._open = None
        group.failure = group.lost
        try:
            if group.lost is None and group.writers:
                group.connection.commit()
            elif group.lost is None:
                group.connection.rollback()
        except BaseException as error:
            group.failure = error
        finally:
            try:
                if group.failure is not None:
                    # A transaction that failed may still be open in the driver: close
                    # the connection itself, which rolls it back, rather than pool it.
                    group.connection.invalidate()
                group.connection.close()
            finally:
                self._gate.leave()
                group.ended.set()

    def _wait_for(self, group: _Group) -> None:
        """Return once the group has committed; raise if it did not.

        The writers queued behind this one end the group. If every one of them gave up
        waiting for the turn, this writer ends it itself.
        """
        while not group.ended.wait(_RECHECK_SECONDS):
            if self._turn.acquire(blocking=False):
                try:
                    if self._open is group and not self._queued:
                        self._end(group)
                finally:
                    self._turn.release()
        if group.failure is not None:
            raise GroupCommitFailed(
                "the shared commit failed, so this write was not kept"
            ) from group.failure


# The commit groups of each engine that has a write gate (one on a SQLite file).
_GROUPS: weakref.WeakKeyDictionary[Engine, CommitGroups] = weakref.WeakKeyDictionary()
_GROUPS_LOCK = threading.Lock()


def of_engine(engine: Engine) -> CommitGroups | None:
    """The commit groups of ``engine``, or None for an engine without a write gate.

    PostgreSQL has none: its writers each have their own connection, and the server
    shares the WAL flush among concurrent commits itself.
    """
    groups = _GROUPS.get(engine)
    if groups is None:
        gate = write_gate.of_engine(engine)
        if gate is None:
            return None
        with _GROUPS_LOCK:
            groups = _GROUPS.setdefault(engine, CommitGroups(engine, gate))
    return groups
