"""The one module that owns the engine, connections and transactions.

Everything that touches the database goes through :func:`reading` or
:func:`writing`. Differences between SQLite and PostgreSQL live here and in
:mod:`lang_portal.sqlite_engine`, which only this module calls: connection set-up
(pragmas, timeouts, pool), the isolation of reads, the lock that lets several hosts
migrate one database, and upserts. The rest of the code imports nothing but ``db``:
:class:`DatabaseNotSetUp` and :func:`sqlite_path` are re-exported here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import URL, Connection, Engine, Table, create_engine, exc, make_url, text
from sqlalchemy.dialects import postgresql, sqlite

from lang_portal import sqlite_engine, write_gate
from lang_portal.sqlite_engine import DatabaseNotSetUp, sqlite_path

__all__ = [
    "DatabaseNotSetUp",
    "create_engine_from_settings",
    "engine",
    "init_app",
    "is_unavailable",
    "reading",
    "setup_lock",
    "sqlite_path",
    "statement_for",
    "try_transaction_lock",
    "upsert",
    "writing",
]


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
        database_url = url.render_as_string(hide_password=False)
        return sqlite_engine.create_engine_for(database_url, timeout_ms, create)
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
    gate = write_gate.of_engine(bind)
    with bind.connect() as connection:
        connection.execution_options(**{sqlite_engine.WRITE_TRANSACTION: True})
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


def insert_rows(
    connection: Connection,
    table: Table,
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    tail: str = "",
) -> list[tuple[Any, ...]]:
    """``INSERT INTO table (columns) VALUES (...), (...) tail``, every row in one statement,
    run by the driver itself; the rows RETURNING gives, as the driver gives them.

    For the write path's batches (a review batch's reviews and cards): SQLAlchemy's own
    executemany processes each row's parameters in Python, about 25 us a row, more than
    the database takes to store it (docs/performance.md). Values go to the driver as
    they are: pass timestamps through :func:`driver_time`. ``tail`` (ON CONFLICT,
    RETURNING) is SQL of the caller's, never input; names come from the schema.
    """
    names = ", ".join(table.c[name].name for name in columns)  # KeyError for a stray name
    mark = "?" if connection.dialect.name == "sqlite" else "%s"
    row = "(" + ", ".join([mark] * len(columns)) + ")"
    # Identifiers from the schema and the caller's constant tail; every value a parameter.
    sql = f"INSERT INTO {table.name} ({names}) VALUES {', '.join([row] * len(rows))} {tail}"  # noqa: S608
    result = connection.exec_driver_sql(sql, tuple(v for r in rows for v in r))
    return [tuple(returned) for returned in result] if result.returns_rows else []


def driver_time(connection: Connection) -> Callable[[datetime], Any]:
    """How the driver is given an aware timestamp to store: on SQLite the UTC text that
    SQLAlchemy's DATETIME writes (``2026-12-05 09:35:17.914856``), elsewhere the
    datetime itself."""
    if connection.dialect.name == "sqlite":
        return lambda moment: (
            moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        )
    return lambda moment: moment


_STATEMENTS: dict[tuple[str, str], Any] = {}


def statement_for(connection: Connection, name: str, build: Callable[[Connection], Any]) -> Any:
    """The statement called ``name`` for this connection's dialect, built on first use.

    For the statements of the write path, whose building costs more than their
    execution, and which differ by dialect (upserts).
    """
    key = (connection.dialect.name, name)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = build(connection)
    return statement


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
