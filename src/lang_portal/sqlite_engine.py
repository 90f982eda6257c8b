"""SQLite as lang-portal runs it: pragmas, file checks and recovery, one connect hook.

Only :mod:`lang_portal.db` calls :func:`create_engine_for`; the rest of the code goes
through ``db``. SQLite is set up so that no acknowledged write is ever lost: WAL with
``synchronous=FULL`` (every commit reaches the disk before the 201), foreign keys
on, a busy timeout, and write transactions that take the write lock at BEGIN
(``BEGIN IMMEDIATE``) so that concurrent writers queue instead of failing with
"database is locked". Writers queue first on the :mod:`lang_portal.write_gate`.

A pooled connection is handed out only while its file is still the configured one
and, once the file is writable again, only if it was opened writable; a file that
never existed is reported as :class:`DatabaseNotSetUp`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, exc, make_url
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.pool import ConnectionPoolEntry

from lang_portal import write_gate

log = logging.getLogger("lang_portal.db")

# The execution option lang_portal.db.writing sets: this transaction BEGINs IMMEDIATE.
WRITE_TRANSACTION = "lang_portal_write"
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


def sqlite_path(database_url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def create_engine_for(database_url: str, timeout_ms: int, create: bool) -> Engine:
    """An engine on a SQLite URL with lang-portal's pragmas, file checks and write gate.

    With ``create=False`` the file is never created: until it exists, connecting raises
    :class:`DatabaseNotSetUp`. ``timeout_ms`` is the busy timeout and the write gate's.
    """
    path = sqlite_path(database_url)
    connect_args: dict[str, Any] = {"timeout": timeout_ms / 1000}
    if path is not None and create:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif path is not None:
        # Open read-write but never create: `lang-portal init-db` does that.
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
        immediate = connection.get_execution_options().get(WRITE_TRANSACTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    if path is not None:
        gate = write_gate.WriteGate(Path(f"{path}-writer"), timeout_ms / 1000)
        write_gate.attach(engine, gate)
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
