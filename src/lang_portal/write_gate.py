"""The write gate: lang-portal's SQLite writers queue on a lock the kernel hands over.

:mod:`lang_portal.sqlite_engine` gives every engine on a SQLite file one
:class:`WriteGate`, and :func:`lang_portal.db.writing` holds it around each write
transaction (:func:`of_engine`).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, exc


class WriteGate:
    """Lets lang-portal's SQLite write transactions through one at a time, without sleeping.

    SQLite serialises writers itself, but a writer that finds the write lock taken
    sleeps (1 ms, then 2, 5, 10 ms ...) before it tries again, so with a few
    concurrent writers most of a write's time is spent asleep while the lock is free:
    POST /api/study-sessions ran at a tenth of the disk's commit rate (see
    docs/performance.md). Here writers queue on a thread lock and then on an ``flock``
    on a file beside the database, which the kernel hands to the next waiter the
    moment it is released, across threads and worker processes alike. The lock goes
    with its holder's process if that dies. Writers that do not use the gate (another
    program) still meet SQLite's busy timeout as before.

    A writer waits at most ``timeout`` seconds in all, then gets
    ``sqlalchemy.exc.TimeoutError`` (a 503 with ``Retry-After``), so one stalled holder
    cannot hang every other write. ``flock`` itself cannot time out, so a contended
    file lock is waited for by a helper thread (:class:`_FileLockWaiter`) while the
    writer waits for it with a deadline.
    """

    def __init__(self, lock_path: Path, timeout: float) -> None:
        self.lock_path = lock_path
        self.timeout = timeout
        self._threads = threading.RLock()
        self._depth = 0  # nested holds by the thread that has _threads
        self._file_lock: _FileLockWaiter | None = None
        self._pid = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the gate for the duration of the block (re-entrant within a thread).

        Raises sqlalchemy.exc.TimeoutError when the gate is not free within the timeout.
        """
        deadline = time.monotonic() + self.timeout
        if not self._threads.acquire(timeout=self.timeout):
            raise _gate_timeout(self.timeout)
        try:
            if self._depth == 0:
                self._process_lock().acquire(deadline)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._process_lock().release()
        finally:
            self._threads.release()

    def _process_lock(self) -> _FileLockWaiter:
        # Opened on first use, once the database is known to exist, and again in a
        # forked child: flock belongs to the open file, which a child would share, and
        # the parent's helper thread does not exist in the child.
        if self._pid != os.getpid() or self._file_lock is None:
            self._pid = os.getpid()
            self._file_lock = _FileLockWaiter(self.lock_path, self.timeout)
        return self._file_lock


def _gate_timeout(timeout: float) -> exc.TimeoutError:
    return exc.TimeoutError(f"the SQLite write gate was not free within {timeout:g} s")


class _FileLockWaiter:
    """The ``flock`` of one process on the gate's file, taken with a deadline.

    Only the thread that holds the gate's thread lock calls :meth:`acquire`. A free
    lock is taken at once. A taken one is waited for by a daemon thread in a
    blocking ``flock``, so the kernel still hands it over the moment its holder lets
    go; the writer waits for that thread until its deadline. If the writer gives up,
    the wait goes on for the next writer of this process, or the lock is let go at
    once when nobody wants it any more. Every change of state happens under
    ``_changed``.
    """

    def __init__(self, lock_path: Path, timeout: float) -> None:
        self.timeout = timeout
        try:
            self._descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:  # e.g. a read-only directory: SQLite's own locking still holds
            self._descriptor = -1
        self._changed = threading.Condition()
        self._pending = False  # the helper is (about to be) blocked in flock
        self._wanted = False  # a writer is waiting for the helper's flock
        self._handed_over = False  # the helper got the lock for the waiting writer
        self._helper: threading.Thread | None = None

    def acquire(self, deadline: float) -> None:
        """Take the file lock by ``deadline`` (time.monotonic) or raise TimeoutError."""
        if self._descriptor < 0:
            return
        with self._changed:
            if not self._pending:
                try:
                    fcntl.flock(self._descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    self._pending = True
                    self._start_helper()
                    self._changed.notify_all()
            self._wanted = True
            got = self._changed.wait_for(
                lambda: self._handed_over, max(0.0, deadline - time.monotonic())
            )
            self._wanted = False
            if not got:
                raise _gate_timeout(self.timeout)
            self._handed_over = False

    def release(self) -> None:
        """Let go of the file lock; the kernel hands it to the next waiter at once."""
        if self._descriptor >= 0:
            fcntl.flock(self._descriptor, fcntl.LOCK_UN)

    def _start_helper(self) -> None:
        if self._helper is None:
            self._helper = threading.Thread(
                target=self._wait_for_the_lock, name="lang-portal write gate", daemon=True
            )
            self._helper.start()

    def _wait_for_the_lock(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending)
            fcntl.flock(self._descriptor, fcntl.LOCK_EX)
            with self._changed:
                self._pending = False
                if self._wanted:
                    self._handed_over = True
                    self._changed.notify_all()
                else:  # the writer gave up meanwhile, and no other came
                    fcntl.flock(self._descriptor, fcntl.LOCK_UN)


# The write gate of each engine on a SQLite file.
_GATES: weakref.WeakKeyDictionary[Engine, WriteGate] = weakref.WeakKeyDictionary()


def attach(engine: Engine, gate: WriteGate) -> None:
    """Make ``gate`` the one every write transaction on ``engine`` holds."""
    _GATES[engine] = gate


def of_engine(engine: Engine) -> WriteGate | None:
    """The write gate of ``engine``, or None for an engine that has none (PostgreSQL)."""
    return _GATES.get(engine)
