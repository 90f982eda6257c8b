"""The raw-sqlite3 reference: lang-portal's create-a-session writes, written close to the driver.

A bare Flask app, like bench/floor_app.py, whose POST /api/study-sessions does the durable
work lang-portal does for a new session, with the standard library's ``sqlite3`` and
nothing between: no SQLAlchemy, no validation models, no logging, no CORS, no limiter.
It shows how much of lang-portal's distance to the floor is the database's own work
(one fsync per commit) and how much is everything lang-portal runs around it (issue 18).
bench/run.py serves it under the same server and options as lang-portal and the floor
(lang_portal.server.serve: gunicorn with waitress workers, 2 workers of 4 threads) and
reports its throughput as a share of the floor's, beside lang-portal's.

The database is a SQLite file made by ``lang-portal init-db`` (the migrated schema, its
indexes, triggers and seed rows), opened as lang-portal opens it: WAL,
``synchronous=FULL``, foreign keys on, a busy timeout. Each request is one write
transaction, ``BEGIN IMMEDIATE`` ... ``COMMIT``, committed before the 201 is sent. These
are the statements lang-portal runs for ``POST /api/study-sessions`` in the open mode (as
the default learner, id 1), read with a ``before_cursor_execute`` listener at 78f031c
(unchanged at f32eff7),
in its order:

1. ``UPDATE learners SET last_active_at = :now WHERE id = :learner``
2. ``INSERT INTO group_progress (learner_id, group_id, sessions_count, last_session_at)
   SELECT :learner, groups.id, 1, :now FROM groups WHERE groups.id = :group
   ON CONFLICT (learner_id, group_id) DO UPDATE SET sessions_count = sessions_count + 1,
   last_session_at = :now RETURNING group_id`` (no row: no such group, a 404)
3. ``INSERT INTO activity_progress (learner_id, study_activity_id, sessions_count)
   SELECT :learner, study_activities.id, 1 FROM study_activities WHERE id = :activity
   ON CONFLICT (learner_id, study_activity_id) DO UPDATE SET sessions_count =
   sessions_count + 1 RETURNING study_activity_id`` (no row: no such activity, a 404)
4. ``INSERT INTO study_sessions (learner_id, group_id, study_activity_id, created_at,
   review_items_count, correct_count, wrong_count) VALUES (..., 0, 0, 0) RETURNING id``
5. ``INSERT INTO daily_activity (learner_id, day, sessions_count, reviews_count,
   correct_count, recall_reviews_count, recalled_count) VALUES (:learner, :day, 1, 0, 0,
   0, 0) ON CONFLICT (learner_id, day) DO UPDATE SET sessions_count = sessions_count +
   excluded.sessions_count, ...`` (every counter, as lang-portal's does)

The learner touch and the four writes of issue 18. Timestamps are stored in the text
form SQLAlchemy gives SQLite (``2026-12-05 12:03:47.246560``, UTC). Writers queue as
lang-portal's do (:mod:`lang_portal.write_gate`): on a thread lock, then on an ``flock``
of ``<database>-writer``, which the kernel hands to the next waiter at once; without it
(``--no-gate``) a writer that finds SQLite's lock taken sleeps in SQLite's busy handler.

The body is checked as the floor checks it (both ids JSON integers, else 400) and the
201 has lang-portal's body and ``Location``.

    python bench/raw_floor.py --database /tmp/raw.db --port 5098 --workers 2
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from datetime import UTC, datetime

import click
from flask import Flask, Response, request

from lang_portal.server import serve

# The learner every request acts as: the open mode's default learner.
LEARNER_ID = 1
BUSY_TIMEOUT_MS = 5000

TOUCH_LEARNER = "UPDATE learners SET last_active_at = ? WHERE id = ?"
COUNT_GROUP = (
    "INSERT INTO group_progress (learner_id, group_id, sessions_count, last_session_at)"
    " SELECT ?, groups.id, 1, ? FROM groups WHERE groups.id = ?"
    " ON CONFLICT (learner_id, group_id) DO UPDATE SET"
    " sessions_count = group_progress.sessions_count + 1, last_session_at = ?"
    " RETURNING group_id"
)
COUNT_ACTIVITY = (
    "INSERT INTO activity_progress (learner_id, study_activity_id, sessions_count)"
    " SELECT ?, study_activities.id, 1 FROM study_activities WHERE study_activities.id = ?"
    " ON CONFLICT (learner_id, study_activity_id) DO UPDATE SET"
    " sessions_count = activity_progress.sessions_count + 1"
    " RETURNING study_activity_id"
)
INSERT_SESSION = (
    "INSERT INTO study_sessions (learner_id, group_id, study_activity_id, created_at,"
    " review_items_count, correct_count, wrong_count) VALUES (?, ?, ?, ?, 0, 0, 0)"
    " RETURNING id"
)
COUNT_DAY = (
    "INSERT INTO daily_activity (learner_id, day, sessions_count, reviews_count,"
    " correct_count, recall_reviews_count, recalled_count) VALUES (?, ?, 1, 0, 0, 0, 0)"
    " ON CONFLICT (learner_id, day) DO UPDATE SET"
    " sessions_count = daily_activity.sessions_count + excluded.sessions_count,"
    " reviews_count = daily_activity.reviews_count + excluded.reviews_count,"
    " correct_count = daily_activity.correct_count + excluded.correct_count,"
    " recall_reviews_count = daily_activity.recall_reviews_count"
    " + excluded.recall_reviews_count,"
    " recalled_count = daily_activity.recalled_count + excluded.recalled_count"
)


class UnknownRow(Exception):
    """The group or the study activity of the request does not exist."""


class WriteQueue:
    """Write transactions one at a time: a thread lock, then an flock across processes."""

    def __init__(self, lock_path: str) -> None:
        self.lock_path = lock_path
        self.threads = threading.Lock()
        self.descriptor: int | None = None

    def __enter__(self) -> None:
        self.threads.acquire()
        if self.descriptor is None:  # opened in the worker, after the fork
            self.descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.descriptor, fcntl.LOCK_EX)

    def __exit__(self, *exc_info: object) -> None:
        assert self.descriptor is not None
        fcntl.flock(self.descriptor, fcntl.LOCK_UN)
        self.threads.release()


def connect(path: str) -> sqlite3.Connection:
    """A connection as lang-portal opens one: autocommit driver, WAL, synchronous=FULL."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    return connection


def create_session(
    connection: sqlite3.Connection, group_id: int, study_activity_id: int, now: datetime
) -> int:
    """The five statements, in one transaction committed before returning the new id.

    Raises UnknownRow (after rolling back) when the group or the activity does not exist.
    """
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(TOUCH_LEARNER, (stamp, LEARNER_ID))
        if connection.execute(COUNT_GROUP, (LEARNER_ID, stamp, group_id, stamp)).fetchone() is None:
            raise UnknownRow("group")
        if connection.execute(COUNT_ACTIVITY, (LEARNER_ID, study_activity_id)).fetchone() is None:
            raise UnknownRow("study activity")
        (study_session_id,) = connection.execute(
            INSERT_SESSION, (LEARNER_ID, group_id, study_activity_id, stamp)
        ).fetchone()
        connection.execute(COUNT_DAY, (LEARNER_ID, now.date().isoformat()))
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return study_session_id


def create_raw_floor_app(database: str, gate: bool = True) -> Flask:
    """The Flask app with the one route: 201, 400 for a malformed body, 404 for an unknown id."""
    app = Flask(__name__)
    local = threading.local()
    queue = WriteQueue(f"{database}-writer") if gate else None

    def connection() -> sqlite3.Connection:
        if not hasattr(local, "connection"):
            local.connection = connect(database)
        return local.connection

    @app.post("/api/study-sessions")
    def create_study_session() -> Response:
        try:
            body = json.loads(request.get_data())
            group_id, study_activity_id = body.get("group_id"), body.get("study_activity_id")
        except (ValueError, AttributeError):
            group_id = study_activity_id = None
        if type(group_id) is not int or type(study_activity_id) is not int:
            return Response('{"error": "bad request"}', 400, mimetype="application/json")
        now = datetime.now(UTC)
        try:
            if queue is None:
                study_session_id = create_session(connection(), group_id, study_activity_id, now)
            else:
                with queue:
                    study_session_id = create_session(
                        connection(), group_id, study_activity_id, now
                    )
        except UnknownRow as unknown:
            return Response(
                json.dumps({"error": f"{unknown} not found"}), 404, mimetype="application/json"
            )
        payload = {
            "id": study_session_id,
            "session_id": study_session_id,
            "group_id": group_id,
            "study_activity_id": study_activity_id,
            "created_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        response = Response(json.dumps(payload), 201, mimetype="application/json")
        response.headers["Location"] = f"/api/study-sessions/{study_session_id}"
        return response

    return app


@click.command()
@click.option(
    "--database",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="A SQLite file made by `lang-portal init-db`.",
)
@click.option(
    "--gate/--no-gate",
    default=True,
    show_default=True,
    help="Queue writers on a lock as lang-portal does; without, SQLite's busy handler.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5098, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
def main(database: str, gate: bool, host: str, port: int, workers: int) -> None:
    """Serve the raw-sqlite3 reference with lang_portal.server.serve, as the floor is."""
    serve(lambda: create_raw_floor_app(database, gate), host, port, workers)


if __name__ == "__main__":
    main()
