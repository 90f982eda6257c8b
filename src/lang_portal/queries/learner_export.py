"""Reading one learner's whole history for their data export, in batches.

A learner may have hundreds of thousands of reviews, so nothing here returns them all
at once: each function is a generator that runs one statement and yields its rows in
lists of at most ``batch_rows``, fetched as they are yielded (``yield_per``: a
server-side cursor on PostgreSQL, SQLite's own step-by-step cursor). Memory stays
that of one batch however long the history. The caller runs them one after the
other, in one read transaction, so the document is one snapshot; a generator closed
early closes its cursor.

Every statement walks an index in its order, so the database neither scans other
learners' rows nor sorts the learner's:

- sessions, oldest first (``learner_id, created_at, id``);
- reviews by word, each word's in the order its card took them
  (``learner_id, word_id, reviewed_at, id``): a word's card can be replayed from
  consecutive rows;
- cards by word (the primary key of ``word_progress``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Select, select

from lang_portal import scheduling, schema
from lang_portal.queries.study_sessions import select_sessions

# Rows per batch: the most held in memory at once, and the size of one streamed chunk
# (about 150 kB of JSON for reviews).
BATCH_ROWS = 1000

_sessions = schema.study_sessions
_reviews = schema.word_review_items
_progress = schema.word_progress
_REVIEW_COLUMNS = (
    _reviews.c.id,
    _reviews.c.word_id,
    _reviews.c.study_session_id,
    _reviews.c.correct,
    _reviews.c.rating,
    _reviews.c.reviewed_at,
    _reviews.c.duration_ms,
    _reviews.c.created_at,
)
_CARD_COLUMNS = [_progress.c[name] for name in scheduling.CARD_FIELDS]


def _batches(
    connection: Connection, statement: Select[Any], batch_rows: int
) -> Iterator[list[dict[str, Any]]]:
    """The statement's rows as dicts, in lists of at most ``batch_rows``, fetched as
    they are asked for."""
    with connection.execute(statement, execution_options={"yield_per": batch_rows}) as result:
        for partition in result.mappings().partitions():
            rows = [dict(row) for row in partition]
            del partition  # not kept alongside the next batch
            yield rows


def session_batches(
    connection: Connection, learner_id: int, batch_rows: int = BATCH_ROWS
) -> Iterator[list[dict[str, Any]]]:
    """The learner's study sessions, oldest first, with the columns session lists show
    (:data:`lang_portal.queries.study_sessions.SESSION_COLUMNS`)."""
    statement = (
        select_sessions()
        .where(_sessions.c.learner_id == learner_id)
        .order_by(_sessions.c.created_at, _sessions.c.id)
    )
    yield from _batches(connection, statement, batch_rows)


def review_batches(
    connection: Connection, learner_id: int, batch_rows: int = BATCH_ROWS
) -> Iterator[list[dict[str, Any]]]:
    """The learner's reviews, by word, each word's in ``(reviewed_at, id)`` order: the
    order in which the word's card took them. ``rating`` is fsrs's number (1 to 4)."""
    statement = (
        select(*_REVIEW_COLUMNS)
        .where(_reviews.c.learner_id == learner_id)
        .order_by(_reviews.c.word_id, _reviews.c.reviewed_at, _reviews.c.id)
    )
    yield from _batches(connection, statement, batch_rows)


def card_batches(
    connection: Connection, learner_id: int, batch_rows: int = BATCH_ROWS
) -> Iterator[list[dict[str, Any]]]:
    """The learner's cards by word id, as ``{word_id, card}`` with a
    :class:`lang_portal.scheduling.Card`; a word never reviewed has none."""
    statement = (
        select(_progress.c.word_id, *_CARD_COLUMNS)
        .where(_progress.c.learner_id == learner_id, _progress.c.state.is_not(None))
        .order_by(_progress.c.word_id)
    )
    for rows in _batches(connection, statement, batch_rows):
        cards = [{"word_id": row["word_id"], "card": scheduling.from_row(row)} for row in rows]
        del rows
        yield cards
