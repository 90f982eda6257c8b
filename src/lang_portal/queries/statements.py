"""Reviews as the records their xAPI statements are built from (:mod:`lang_portal.xapi`).

A record is one review with what its statement names besides the review itself: the
word (kanji, romaji, English), and the group and study activity of its session. The
sender reads them by review id (the outbox holds ids only); the statements API reads
one learner's, page by page, in ``(reviewed_at, id)`` order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, Select, select, tuple_

from lang_portal import schema

_reviews = schema.word_review_items
_sessions = schema.study_sessions
# Named as lang_portal.xapi.RECORD_KEYS names them (a test holds the two together).
_RECORD_COLUMNS = (
    _reviews.c.id,
    _reviews.c.learner_id,
    _reviews.c.word_id,
    schema.words.c.kanji,
    schema.words.c.romaji,
    schema.words.c.english,
    _reviews.c.study_session_id,
    _sessions.c.group_id,
    schema.groups.c.name.label("group_name"),
    _sessions.c.study_activity_id,
    schema.study_activities.c.name.label("study_activity_name"),
    _reviews.c.correct,
    _reviews.c.rating,
    _reviews.c.reviewed_at,
    _reviews.c.duration_ms,
)
# Statements are listed in the order of their timestamps; the id breaks ties, so that
# a page ends between two reviews answered at the same instant and the next goes on.
IN_TIME_ORDER = (_reviews.c.reviewed_at, _reviews.c.id)


def _select_records() -> Select[Any]:
    """Reviews joined with their word, session, group and activity."""
    return select(*_RECORD_COLUMNS).select_from(
        _reviews.join(schema.words, schema.words.c.id == _reviews.c.word_id)
        .join(_sessions, _sessions.c.id == _reviews.c.study_session_id)
        .join(schema.groups, schema.groups.c.id == _sessions.c.group_id)
        .join(
            schema.study_activities,
            schema.study_activities.c.id == _sessions.c.study_activity_id,
        )
    )


def review_records(connection: Connection, review_ids: Sequence[int]) -> list[RowMapping]:
    """The records of these reviews, in review id order; an id with no review (deleted
    by a reset of its learner's history) has none. Anyone's reviews: the caller (the
    sender) was given the ids by the review's own transaction."""
    if not review_ids:
        return []
    statement = (
        _select_records().where(_reviews.c.id.in_(sorted(set(review_ids)))).order_by(_reviews.c.id)
    )
    return list(connection.execute(statement).mappings())


def learner_records(
    connection: Connection,
    learner_id: int,
    limit: int,
    since: datetime | None = None,
    after: tuple[datetime, int] | None = None,
) -> list[RowMapping]:
    """Up to ``limit`` of the learner's review records in ``(reviewed_at, id)`` order:
    those answered after ``since`` (exclusive), and after ``after``, the
    ``(reviewed_at, id)`` of the last record of the page before (a keyset page: the
    next page starts where that one ended, with no gap and no repeat, however many
    reviews share a time)."""
    where = [_reviews.c.learner_id == learner_id]
    if since is not None:
        where.append(_reviews.c.reviewed_at > since)
    if after is not None:
        where.append(tuple_(*IN_TIME_ORDER) > after)
    statement = _select_records().where(*where).order_by(*IN_TIME_ORDER).limit(limit)
    return list(connection.execute(statement).mappings())
