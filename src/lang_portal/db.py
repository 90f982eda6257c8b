"""The one module that owns the engine, connections and transactions.

Everything that touches the database goes through :func:`reading` or
:func:`writing`. Differences between SQLite and PostgreSQL live here and nowhere
else: connection set-up (pragmas, timeouts, pool) and upserts.

SQLite is set up so that no acknowledged write is ever lost: WAL with
``synchronous=FULL`` (every commit reaches the disk before the 201), foreign keys
on, a busy timeout, and write transactions that take the write lock at BEGIN
(``BEGIN IMMEDIATE``) so that concurrent writers queue instead of failing with
"database is locked".
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Flask, current_app
from sqlalchemy import Connection, Engine, Table, create_engine, event, exc, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.pool import ConnectionPoolEntry

_WRITE = "lang_portal_write"


def init_app(app: Flask) -> None:
    """Create the app's engine from its DATABASE_URL setting.

    The app never creates a SQLite file: a missing file is an outage (503), not a
    reason to start an empty database. ``lang-portal init-db`` creates it.
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
    return create_engine(
        url,
        pool_size=config["DB_POOL_SIZE"],
        max_overflow=config["DB_POOL_SIZE"],
        pool_pre_ping=True,  # a restarted server is survived without restarting us
        pool_timeout=10,
        connect_args={"connect_timeout": 5, "options": f"-c statement_timeout={timeout_ms}"},
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

    @event.listens_for(engine, "begin")
    def begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def engine() -> Engine:
    """The current app's engine."""
    return current_app.extensions["lang_portal.engine"]


@contextmanager
def reading(bind: Engine | None = None) -> Iterator[Connection]:
    """A connection in a read transaction: every query sees one snapshot."""
    with (bind or engine()).connect() as connection, connection.begin():
        yield connection


@contextmanager
def writing(bind: Engine | None = None) -> Iterator[Connection]:
    """A connection in a write transaction, committed when the block ends without error.

    On SQLite the write lock is taken at BEGIN, so a transaction never fails halfway
    because another writer got there first; it waits up to the busy timeout instead.
    """
    with (bind or engine()).connect() as connection:
        connection.execution_options(**{_WRITE: True})
        with connection.begin():
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


def is_unavailable(error: BaseException) -> bool:
    """True when a database error means the database cannot be reached right now."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, exc.OperationalError | exc.InterfaceError | exc.DisconnectionError)
