"""The one module that owns the engine, connections and transactions.

Everything that touches the database goes through :func:`reading` or
:func:`writing`. Differences between SQLite and PostgreSQL live here and nowhere
else: connection set-up (pragmas, timeouts, pool), the isolation of reads, the
lock that lets several hosts migrate one database, and upserts.

SQLite is set up so that no acknowledged write is ever lost: WAL with
``synchronous=FULL`` (every commit reaches the disk before the 201), foreign keys
on, a busy timeout, and write transactions that take the write lock at BEGIN
(``BEGIN IMMEDIATE``) so that concurrent writers queue instead of failing with
"database is locked".
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Flask, current_app
from sqlalchemy import URL, Connection, Engine, Table, create_engine, event, exc, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.pool import ConnectionPoolEntry

log = logging.getLogger("lang_portal.db")

_WRITE = "lang_portal_write"
# SQLite's primary result code for "attempt to write a readonly database"; the extended
# codes (SQLITE_READONLY_RECOVERY, _CANTLOCK, _DBMOVED, ...) share its low byte.
_SQLITE_READONLY = 8


class DatabaseNotSetUp(exc.SQLAlchemyError):
    """The SQLite file did not exist when the app started and still does not.

    That is a missing set-up step (``lang-portal init-db``), not an outage: the API and
    the pages answer it with a 503 that says so. A file that disappears after the app
    found it is an outage, reported by the driver as usual.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(f"database file {path} does not exist: run `lang-portal init-db`")
        self.path = path


def init_app(app: Flask) -> None:
    """Create the app's engine from its DATABASE_URL setting.

    The app never creates a SQLite file: ``lang-portal init-db`` does. When the file
    is missing at start, the log says so at once, and requests get a 503 that says
    the service is not set up (:class:`DatabaseNotSetUp`) until the file exists.
    """
    app.extensions["lang_portal.engine"] = create_engine_from_settings(app.config, create=False)


def create_engine_from_settings(config: Any, create: bool = True) -> Engine:
    """Build an engine set up for lang-portal from resolved settings.

    With ``create=False`` a SQLite database file must already exist.
    """
    url = make_url(config["DATABASE_URL"])
    timeout_ms = config["DB_STATEMENT_TIMEOUT_MS"]
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url.render_as_string(hide_password=False), timeout_ms, create)
    return _postgres_engine(url, config["DB_POOL_SIZE"], timeout_ms)


# A transaction left open by a client that vanished (network cut, frozen host) would
# hold its row locks until the server notices. Longer than gunicorn's 30 s worker
# timeout, so it only ever ends sessions whose worker is already gone.
POSTGRES_IDLE_IN_TRANSACTION_MS = 60_000
# TCP keepalives find a dead server within ~25 s (idle 10 s, then 3 probes 5 s apart),
# also before gunicorn's worker timeout.
POSTGRES_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


def _postgres_engine(url: URL, pool_size: int, timeout_ms: int) -> Engine:
    """An engine for PostgreSQL through psycopg 3, sized and guarded for many workers.

    Each process keeps up to ``pool_size`` connections open and opens as many again
    under load (``max_overflow``), so one worker uses at most ``2 * pool_size``. Every
    connection is pinged when taken from the pool (``pool_pre_ping``): one broken by a
    database restart or failover is replaced instead of failing a request. Statements
    are cancelled by the server after ``timeout_ms``, and a request waits as long at
    most for a connection when all are in use. Parameters given in the URL's
    query (``?application_name=...``, ``?options=-c ...``) win over these defaults.
    """
    server_options = [
        f"-c statement_timeout={timeout_ms}",
        f"-c idle_in_transaction_session_timeout={POSTGRES_IDLE_IN_TRANSACTION_MS}",
    ]
    url_options = url.query.get("options")
    if isinstance(url_options, str):  # later -c settings win, so the URL's go last
        server_options.append(url_options)
    connect_args: dict[str, Any] = {
        "connect_timeout": 5,
        "application_name": "lang-portal",
        **POSTGRES_KEEPALIVES,
    }
    connect_args = {k: v for k, v in connect_args.items() if k not in url.query}
    connect_args["options"] = " ".join(server_options)
    if url.get_backend_name() == "postgresql":
        url = url.set(drivername="postgresql+psycopg")  # the keepalive options are libpq's
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        # A request waits for a free pooled connection at most as long as a statement
        # may run, then gets a 503 (see is_unavailable).
        pool_timeout=timeout_ms / 1000,
        connect_args=connect_args,
    )


def sqlite_path(database_url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _sqlite_engine(database_url: str, timeout_ms: int, create: bool) -> Engine:
    path = sqlite_path(database_url)
    connect_args: dict[str, Any] = {"timeout": timeout_ms / 1000}
    if path is not None and create:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif path is not None:
        # Open read-write but never create: see init_app.
        database_url = f"sqlite:///file:{quote(str(path))}?mode=rw&uri=true"
    engine = create_engine(database_url, connect_args=connect_args)
    if path is not None and not create:
        _refuse_a_database_never_set_up(engine, path)

    @event.listens_for(engine, "connect")
    def set_pragmas(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, so writes can be IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(timeout_ms)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()
        if path is not None:
            record.info["inode"] = path.stat().st_ino
            # SQLite opens a file it may not write (immutable, read-only mount) read-only,
            # without a word, and the connection stays read-only after the file is
            # writable again. Remember it, so that check_file can replace it.
            record.info["opened_writable"] = _writable(path)

    @event.listens_for(engine, "checkout")
    def check_file(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        # A pooled connection keeps writing to its file even after the file is moved
        # or deleted, and those writes would be lost. Hand a connection out only while
        # the configured path still names the file it opened.
        if path is None:
            return
        try:
            inode = os.stat(path).st_ino
        except OSError:
            inode = None
        if inode != record.info.get("inode"):
            raise exc.DisconnectionError("the SQLite file was moved or removed")
        # A connection opened while the file was read-only serves reads, but once the
        # file can be written it is replaced by one that can write.
        if not record.info.get("opened_writable", True) and _writable(path):
            raise exc.DisconnectionError("the SQLite file is writable again")

    @event.listens_for(engine, "handle_error")
    def drop_read_only_connection(context: ExceptionContext) -> None:
        # The fallback for a connection check_file could not tell was read-only (the
        # file became writable while it was being opened): its first failed write
        # invalidates it, so the pool opens a fresh one, and the request gets a 503.
        code = getattr(context.original_exception, "sqlite_errorcode", None)
        if code is not None and code & 0xFF == _SQLITE_READONLY:
            context.is_disconnect = True
            context.invalidate_pool_on_disconnect = False  # check_file sees to the others

    @event.listens_for(engine, "begin")
    def begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    if path is not None:
        _WRITE_GATES[engine] = WriteGate(Path(f"{path}-writer"), timeout_ms / 1000)
    return engine


def _writable(path: Path) -> bool:
    """Whether this process may write the database file and its WAL and shared-memory files."""
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    return all(os.access(file, os.W_OK) for file in files if file.exists())


def _refuse_a_database_never_set_up(engine: Engine, path: Path) -> None:
    """Log a missing SQLite file now, and answer connections with DatabaseNotSetUp.

    Only while the file has never been seen: once it exists (``lang-portal init-db``
    ran), a file that disappears again is an outage, reported by the driver.
    """
    if path.exists():
        return
    log.error("database file %s does not exist: run `lang-portal init-db`", path.resolve())
    never_seen = [True]

    @event.listens_for(engine, "do_connect")
    def refuse_missing_file(dialect: Any, record: Any, cargs: Any, cparams: Any) -> None:
        if never_seen[0] and not path.exists():
            raise DatabaseNotSetUp(path.resolve())
        never_seen[0] = False


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
_WRITE_GATES: weakref.WeakKeyDictionary[Engine, WriteGate] = weakref.WeakKeyDictionary()


def engine() -> Engine:
    """The current app's engine."""
    return current_app.extensions["lang_portal.engine"]


@contextmanager
def reading(bind: Engine | None = None) -> Iterator[Connection]:
    """A connection in a read transaction: every query sees one snapshot."""
    with (bind or engine()).connect() as connection:
        if connection.dialect.name == "postgresql":
            # SQLite transactions read one snapshot; PostgreSQL's default READ COMMITTED
            # takes one per statement, so a page and its total could disagree. REPEATABLE
            # READ never fails a read-only transaction. Writes stay READ COMMITTED, where
            # `x = x + 1` counters and ON CONFLICT claims are race-free without retries.
            connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection


@contextmanager
def writing(bind: Engine | None = None) -> Iterator[Connection]:
    """A connection in a write transaction, committed when the block ends without error.

    On SQLite the write lock is taken at BEGIN, so a transaction never fails halfway
    because another writer got there first; it waits up to the busy timeout instead.
    """
    bind = bind or engine()
    gate = _WRITE_GATES.get(bind)
    with bind.connect() as connection:
        connection.execution_options(**{_WRITE: True})
        with gate.held() if gate else nullcontext(), connection.begin():
            yield connection


def upsert(connection: Connection, table: Table, key: list[str]) -> Any:
    """An INSERT for this connection's dialect that can take ON CONFLICT clauses.

    Use ``.on_conflict_do_nothing(index_elements=key)`` or
    ``.on_conflict_do_update(index_elements=key, set_=...)`` on the result.
    """
    dialect = connection.dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise NotImplementedError(f"upserts are not written for {dialect}")


# Any constant works; it only has to be the same in every lang-portal process.
_SETUP_LOCK_KEY = 0x6C616E67_706F7274  # "langport"


@contextmanager
def setup_lock(bind: Engine) -> Iterator[None]:
    """Hold a database-wide lock while the schema is migrated and the seed data loaded.

    Several hosts may run ``lang-portal serve`` (which migrates first) against one
    PostgreSQL database at the same moment; without this their migrations race and
    all but one crash on "duplicate table". With it they take turns, and the later
    ones find the work done. PostgreSQL: a transaction-level advisory lock on its own
    connection, released when the block ends or the process dies; the statement and
    idle timeouts are lifted on that connection only, since the wait and the work
    may take longer than one statement should. SQLite serves one host: nothing to do.
    """
    if bind.dialect.name != "postgresql":
        yield
        return
    with bind.connect() as connection, connection.begin():
        connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
        connection.exec_driver_sql("SET LOCAL idle_in_transaction_session_timeout = 0")
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SETUP_LOCK_KEY})
        yield


def is_unavailable(error: BaseException) -> bool:
    """True when a database error means the database cannot be reached right now.

    That includes a worker's pool having no free connection in time, and a writer
    finding SQLite's write gate taken for as long (``TimeoutError``): the database is
    overloaded, and the client should retry shortly. A database never set up
    (:class:`DatabaseNotSetUp`) is unavailable too, until ``lang-portal init-db`` runs.
    """
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(
        error,
        exc.OperationalError
        | exc.InterfaceError
        | exc.DisconnectionError
        | exc.TimeoutError
        | DatabaseNotSetUp,
    )


def try_transaction_lock(connection: Connection, name: str) -> bool:
    """Take a lock named ``name`` until this write transaction ends; False if it is held.

    PostgreSQL: a transaction-level advisory lock, released at COMMIT or ROLLBACK, or
    when the session dies with its worker, so it can never outlive the work it guards.
    SQLite: write transactions already run one at a time (BEGIN IMMEDIATE), so the
    lock is always free by the time a writer gets here.
    """
    if connection.dialect.name != "postgresql":
        return True
    digest = hashlib.sha256(name.encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    locked = connection.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key})
    return locked.scalar_one()
