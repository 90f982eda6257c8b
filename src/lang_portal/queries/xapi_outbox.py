"""The xAPI outbox: reviews whose statements are still to be sent to the Learning Record
Store (schema.xapi_outbox; lang_portal.xapi_sender sends them).

A review's row is written in the review's own transaction (:func:`add`), so nothing is
ever sent for a review that did not commit, and nothing that committed is forgotten. A
sender takes due rows (:func:`claim`), and then, in a transaction of its own, deletes
those the LRS stored (:func:`remove`), puts off those it could not deliver
(:func:`postpone`), and sets aside those the LRS rejected (:func:`set_aside`).

Taking rows pushes their ``next_attempt_at`` forward by a lease: a second sender (another
host) skips them meanwhile, and if the first dies they come due again when it ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, delete, func, literal, select, update

from lang_portal import db, schema

_outbox = schema.xapi_outbox
_reviews = schema.word_review_items
# The longest reason from an LRS kept with a set-aside row (the column's length).
ERROR_LENGTH = _outbox.c.last_error.type.length or 500
_NEW_ROW_COLUMNS = ("review_id", "created_at", "attempts", "next_attempt_at")


@dataclass(frozen=True)
class Claimed:
    """An outbox row a sender took: its id, its review's, and the attempts before this."""

    id: int
    review_id: int
    attempts: int


@dataclass(frozen=True)
class Totals:
    """What the outbox holds: statements waiting to be sent (``pending``), of them those
    a sender may take now (``due``), and those the LRS rejected (``set_aside``)."""

    pending: int
    due: int
    set_aside: int


@dataclass(frozen=True)
class SetAside:
    """A statement the LRS rejected: its review, when, and the LRS's reason."""

    review_id: int
    set_aside_at: datetime
    attempts: int
    last_error: str | None


def add(connection: Connection, review_ids: Sequence[int], now: datetime) -> None:
    """Queue the statements of new reviews, due at once: one statement for the batch.

    Called in the reviews' own transaction (lang_portal.queries.reviews.add_reviews).
    """
    if not review_ids:
        return
    stored_now = db.driver_time(connection)(now)
    rows = [(review_id, stored_now, 0, stored_now) for review_id in review_ids]
    db.insert_rows(connection, _outbox, _NEW_ROW_COLUMNS, rows)


def queue_reviews(connection: Connection, now: datetime, since: datetime | None = None) -> int:
    """Queue the statements of every review (answered at or after ``since``) again, due at
    once; those already queued keep their row. Returns how many were queued.

    For an LRS set up after reviews were recorded, or one that lost its data: sending a
    statement again is harmless, since it keeps its id.
    """
    already = select(_outbox.c.id).where(_outbox.c.review_id == _reviews.c.id).exists()
    queued_at = literal(now, schema.UTCDateTime())
    reviews = select(_reviews.c.id, queued_at, literal(0), queued_at).where(~already)
    if since is not None:
        reviews = reviews.where(_reviews.c.reviewed_at >= since)
    # ON CONFLICT: a review recorded (and queued) meanwhile by another transaction.
    statement = (
        db.upsert(connection, _outbox, ["review_id"])
        .from_select(list(_NEW_ROW_COLUMNS), reviews.order_by(_reviews.c.id))
        .on_conflict_do_nothing(index_elements=["review_id"])
        .returning(_outbox.c.id)
    )
    return len(connection.execute(statement).all())


def _due(now: datetime, up_to_id: int | None) -> list[ColumnElement[bool]]:
    due = [_outbox.c.set_aside_at.is_(None), _outbox.c.next_attempt_at <= now]
    if up_to_id is not None:
        due.append(_outbox.c.id <= up_to_id)
    return due


def any_due(connection: Connection, now: datetime, up_to_id: int | None = None) -> bool:
    """Whether a sender has a row to take now: a read, so that an idle sender's look
    takes no write lock (SQLite)."""
    first = select(_outbox.c.id).where(*_due(now, up_to_id)).limit(1)
    return connection.execute(first).first() is not None


def claim(
    connection: Connection,
    now: datetime,
    limit: int,
    lease: timedelta,
    up_to_id: int | None = None,
) -> list[Claimed]:
    """Take up to ``limit`` due rows, oldest first (up to outbox id ``up_to_id``), and
    keep them for ``lease``: no other sender takes them until then.

    On PostgreSQL the rows are locked and rows another sender is taking are skipped
    (FOR UPDATE SKIP LOCKED), so two senders never take the same row; on SQLite writes
    take turns. Run it in a short transaction of its own.
    """
    rows = connection.execute(
        select(_outbox.c.id, _outbox.c.review_id, _outbox.c.attempts)
        .where(*_due(now, up_to_id))
        .order_by(_outbox.c.next_attempt_at, _outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    claimed = [Claimed(*row) for row in rows]
    if claimed:
        connection.execute(
            update(_outbox)
            .where(_outbox.c.id.in_([row.id for row in claimed]))
            .values(next_attempt_at=now + lease)
        )
    return claimed


def remove(connection: Connection, outbox_ids: Sequence[int]) -> None:
    """Forget rows whose statements the LRS stored (or whose reviews are gone)."""
    if outbox_ids:
        connection.execute(delete(_outbox).where(_outbox.c.id.in_(sorted(outbox_ids))))


def postpone(
    connection: Connection, outbox_ids: Sequence[int], retry_at: datetime, error: str
) -> None:
    """Count a failed attempt on each row and make it due again at ``retry_at``."""
    if outbox_ids:
        connection.execute(
            update(_outbox)
            .where(_outbox.c.id.in_(sorted(outbox_ids)))
            .values(
                attempts=_outbox.c.attempts + 1,
                next_attempt_at=retry_at,
                last_error=error[:ERROR_LENGTH],
            )
        )


def set_aside(connection: Connection, outbox_id: int, now: datetime, error: str) -> None:
    """Set a rejected row aside with the LRS's reason: no sender takes it again until
    :func:`retry_set_aside` puts it back."""
    connection.execute(
        update(_outbox)
        .where(_outbox.c.id == outbox_id)
        .values(attempts=_outbox.c.attempts + 1, set_aside_at=now, last_error=error[:ERROR_LENGTH])
    )


def make_due(connection: Connection, now: datetime) -> int:
    """Make every row waiting out a backoff due now (``lang-portal xapi push``); rows
    never tried are due already. Returns how many changed."""
    return connection.execute(
        update(_outbox)
        .where(
            _outbox.c.set_aside_at.is_(None),
            _outbox.c.attempts > 0,
            _outbox.c.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
    ).rowcount


def retry_set_aside(connection: Connection, now: datetime) -> int:
    """Put every set-aside row back in the queue, due now, its attempts back to 0 and
    its reason kept until it is sent. Returns how many."""
    return connection.execute(
        update(_outbox)
        .where(_outbox.c.set_aside_at.is_not(None))
        .values(set_aside_at=None, attempts=0, next_attempt_at=now)
    ).rowcount


def newest_id(connection: Connection) -> int | None:
    """The largest outbox id: what is pending now is at or below it."""
    return connection.execute(select(func.max(_outbox.c.id))).scalar()


def totals(connection: Connection, now: datetime) -> Totals:
    """How many rows wait, are due now, and are set aside: one statement."""
    waiting = _outbox.c.set_aside_at.is_(None)
    row = connection.execute(
        select(
            func.count().filter(waiting),
            func.count().filter(waiting, _outbox.c.next_attempt_at <= now),
            func.count().filter(_outbox.c.set_aside_at.is_not(None)),
        )
    ).one()
    return Totals(*row)


def set_aside_rows(connection: Connection, limit: int) -> list[SetAside]:
    """The set-aside rows, the latest first, with the LRS's reasons."""
    rows = connection.execute(
        select(
            _outbox.c.review_id, _outbox.c.set_aside_at, _outbox.c.attempts, _outbox.c.last_error
        )
        .where(_outbox.c.set_aside_at.is_not(None))
        .order_by(_outbox.c.set_aside_at.desc(), _outbox.c.id.desc())
        .limit(limit)
    )
    return [SetAside(*row) for row in rows]
