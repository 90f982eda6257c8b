"""Queries for study sessions: start one, read them back, reset the history.

Every write keeps the counters that reads rely on (per session, per word, per
group, per activity and per UTC day) in the same transaction as the rows they
count, so a page of results never aggregates the review history. Recording
reviews is :mod:`lang_portal.queries.reviews`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    bindparam,
    cast,
    delete,
    func,
    insert,
    select,
    update,
)

from lang_portal import db, schema
from lang_portal.queries import progress, sorting
from lang_portal.queries.problems import UnknownGroup, UnknownStudyActivity

# A session ends with its last review; one with no reviews yet ends when it started.
END_TIME = func.coalesce(schema.study_sessions.c.last_review_at, schema.study_sessions.c.created_at)
SESSION_COLUMNS = (
    schema.study_sessions.c.id,
    schema.study_sessions.c.group_id,
    schema.groups.c.name.label("group_name"),
    schema.study_sessions.c.study_activity_id.label("activity_id"),
    schema.study_activities.c.name.label("activity_name"),
    schema.study_sessions.c.created_at.label("start_time"),
    END_TIME.label("end_time"),
    schema.study_sessions.c.review_items_count,
    schema.study_sessions.c.correct_count,
    schema.study_sessions.c.wrong_count,
)
NEWEST_FIRST = (schema.study_sessions.c.created_at.desc(), schema.study_sessions.c.id.desc())

# The whitelist of sort keys for a group's sessions, in the snake_case and camelCase
# spellings the lang-portal frontend sends -> the column each means.
GROUP_SORT_COLUMNS = {
    "created_at": schema.study_sessions.c.created_at,
    "start_time": schema.study_sessions.c.created_at,
    "startTime": schema.study_sessions.c.created_at,
    "end_time": END_TIME,
    "endTime": END_TIME,
    "activity_name": schema.study_activities.c.name,
    "activityName": schema.study_activities.c.name,
    "group_name": schema.groups.c.name,
    "groupName": schema.groups.c.name,
    "review_items_count": schema.study_sessions.c.review_items_count,
    "reviewItemsCount": schema.study_sessions.c.review_items_count,
}


def select_sessions() -> Select[Any]:
    """Sessions with their group and activity names, ready for where/order/limit."""
    return select(*SESSION_COLUMNS).select_from(
        schema.study_sessions.join(
            schema.groups, schema.groups.c.id == schema.study_sessions.c.group_id
        ).join(
            schema.study_activities,
            schema.study_activities.c.id == schema.study_sessions.c.study_activity_id,
        )
    )


# The write statements are built once, with bind parameters: building a statement costs
# more than executing it, and POST /api/study-sessions is the hot path (see
# docs/performance.md).
_ADD_SESSION_TO_GROUP = (
    update(schema.groups)
    .where(schema.groups.c.id == bindparam("counted_group_id", type_=schema.groups.c.id.type))
    .values(
        sessions_count=schema.groups.c.sessions_count + 1,
        last_session_at=bindparam("now", type_=schema.groups.c.last_session_at.type),
    )
)
_ADD_SESSION_TO_ACTIVITY = (
    update(schema.study_activities)
    .where(
        schema.study_activities.c.id
        == bindparam("counted_activity_id", type_=schema.study_activities.c.id.type)
    )
    .values(sessions_count=schema.study_activities.c.sessions_count + 1)
)
_INSERT_SESSION = insert(schema.study_sessions).returning(schema.study_sessions.c.id)
_DAY_COUNTS = ("sessions_count", "reviews_count", "correct_count")
_COUNT_DAY: dict[str, Any] = {}  # dialect name -> the upsert into daily_activity


def count_day(
    connection: Connection, now: datetime, sessions: int, reviews: int, correct: int
) -> None:
    """Add to the day's (UTC) row of daily_activity, creating it if needed.

    Every write that adds sessions or reviews calls it in the same transaction as its
    rows, so the per-day counters always match them.
    """
    statement = _COUNT_DAY.get(connection.dialect.name)
    if statement is None:
        upsert = db.upsert(connection, schema.daily_activity, ["day"])
        statement = _COUNT_DAY[connection.dialect.name] = upsert.on_conflict_do_update(
            index_elements=["day"],
            set_={
                name: schema.daily_activity.c[name] + upsert.excluded[name] for name in _DAY_COUNTS
            },
        )
    counts = {"sessions_count": sessions, "reviews_count": reviews, "correct_count": correct}
    connection.execute(statement, {"day": now.date(), **counts})


def create(connection: Connection, group_id: int, study_activity_id: int) -> dict[str, Any]:
    """Start a study session for a group with an activity.

    The existence checks are the counter updates themselves, so they and the insert
    are one transaction. Raises UnknownGroup, or else UnknownStudyActivity, when the
    row does not exist; the group is checked first.
    """
    now = datetime.now(UTC)
    found_group = connection.execute(
        _ADD_SESSION_TO_GROUP, {"counted_group_id": group_id, "now": now}
    ).rowcount
    if not found_group:
        raise UnknownGroup(group_id)
    found_activity = connection.execute(
        _ADD_SESSION_TO_ACTIVITY, {"counted_activity_id": study_activity_id}
    ).rowcount
    if not found_activity:
        raise UnknownStudyActivity(study_activity_id)
    # Neither row can vanish before the insert: on PostgreSQL each UPDATE above holds
    # its row's lock until commit, so a concurrent DELETE waits (and a row deleted
    # before it is not found: rowcount 0); SQLite runs one write transaction at a time.
    study_session_id = connection.execute(
        _INSERT_SESSION,
        {"group_id": group_id, "study_activity_id": study_activity_id, "created_at": now},
    ).scalar_one()
    count_day(connection, now, sessions=1, reviews=0, correct=0)
    return {
        "id": study_session_id,
        "session_id": study_session_id,
        "group_id": group_id,
        "study_activity_id": study_activity_id,
        "created_at": now,
    }


def count(connection: Connection) -> int:
    """How many sessions are stored: :func:`queries.progress.sessions_count`."""
    return progress.sessions_count(connection)


def _page_of_sessions(
    where: tuple[ColumnElement[bool], ...],
    ordering: tuple[Any, ...],
    offset: int,
    limit: int,
    joined: bool = False,
) -> Select[Any]:
    """The sessions on one page, found in two steps: first their ids, then their rows.

    OFFSET has to step over every row before the page. Stepping over entries of an
    index that holds the sort key and the id is cheap; stepping over joined rows is
    not: page 10,000 of the session list took 55 ms at 1M sessions, and 2.5 ms like
    this (docs/performance.md). ``joined`` keeps the joins in the first step, for
    sort keys that live in another table.
    """
    ids = (
        select_sessions().with_only_columns(schema.study_sessions.c.id)
        if joined
        else select(schema.study_sessions.c.id)
    )
    ids = ids.where(*where).order_by(*ordering).offset(offset).limit(limit)
    return select_sessions().where(schema.study_sessions.c.id.in_(ids)).order_by(*ordering)


def page(connection: Connection, offset: int, limit: int) -> list[dict[str, Any]]:
    """A page of sessions, newest first."""
    rows = connection.execute(_page_of_sessions((), NEWEST_FIRST, offset, limit))
    return [dict(row._mapping) for row in rows]


def group_page(
    connection: Connection,
    group_id: int,
    sort_by: str,
    descending: bool,
    offset: int,
    limit: int,
) -> list[dict[str, Any]]:
    """A page of one group's sessions, sorted by a whitelisted key and then by id.

    Items carry ``study_activity_id`` as well as ``activity_id``. The total is the
    group's ``sessions_count`` counter. Sorting by start time walks the
    (group_id, created_at) index; the other keys sort the group's sessions.
    """
    column = GROUP_SORT_COLUMNS[sort_by]
    ordering = sorting.ordering(column, schema.study_sessions.c.id, descending)
    # Names of groups and activities are sorted on the joined rows.
    joined = getattr(column, "table", schema.study_sessions) is not schema.study_sessions
    statement = _page_of_sessions(
        (schema.study_sessions.c.group_id == group_id,), ordering, offset, limit, joined
    )
    rows = connection.execute(statement)
    return [{**row._mapping, "study_activity_id": row.activity_id} for row in rows]


def activity_page(
    connection: Connection, study_activity_id: int, offset: int, limit: int
) -> list[dict[str, Any]]:
    """A page of the sessions started with one activity, newest first.

    Walks the (study_activity_id, created_at) index; the total is the activity's
    ``sessions_count`` counter.
    """
    where = (schema.study_sessions.c.study_activity_id == study_activity_id,)
    rows = connection.execute(_page_of_sessions(where, NEWEST_FIRST, offset, limit))
    return [dict(row._mapping) for row in rows]


def get(connection: Connection, study_session_id: int) -> dict[str, Any] | None:
    """One session with its group and activity names, or None."""
    row = connection.execute(
        select_sessions().where(schema.study_sessions.c.id == study_session_id)
    ).one_or_none()
    return dict(row._mapping) if row else None


def reviewed_words(
    connection: Connection, study_session_id: int, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """Words reviewed in a session, with that session's correct/wrong counts, and their total."""
    correct = func.sum(cast(schema.word_review_items.c.correct, Integer))
    per_word = (
        select(
            schema.word_review_items.c.word_id,
            correct.label("correct_count"),
            (func.count() - correct).label("wrong_count"),
        )
        .where(schema.word_review_items.c.study_session_id == study_session_id)
        .group_by(schema.word_review_items.c.word_id)
        .subquery()
    )
    total = connection.execute(select(func.count()).select_from(per_word)).scalar_one()
    rows = connection.execute(
        select(
            schema.words.c.id,
            schema.words.c.kanji,
            schema.words.c.romaji,
            schema.words.c.english,
            per_word.c.correct_count,
            per_word.c.wrong_count,
        )
        .join(per_word, per_word.c.word_id == schema.words.c.id)
        .order_by(schema.words.c.id)
        .offset(offset)
        .limit(limit)
    )
    return [dict(row._mapping) for row in rows], total


def reset(connection: Connection) -> None:
    """Delete every session and review and zero the counters; words, groups and activities stay."""
    # Rows are locked in the order create() and reviews.add_reviews() lock them (groups and
    # activities, then sessions, words, days, keys), so that on PostgreSQL a reset
    # waits for concurrent writes instead of deadlocking with them. Groups are locked in
    # id order first: a whole-table UPDATE visits rows in storage order, which differs
    # between two concurrent resets. (SQLite has no FOR UPDATE and needs none.)
    connection.execute(select(schema.groups.c.id).order_by(schema.groups.c.id).with_for_update())
    connection.execute(update(schema.groups).values(sessions_count=0, last_session_at=None))
    connection.execute(update(schema.study_activities).values(sessions_count=0))
    connection.execute(delete(schema.word_review_items))
    connection.execute(delete(schema.study_sessions))
    connection.execute(update(schema.words).values(correct_count=0, wrong_count=0))
    connection.execute(delete(schema.daily_activity))
    connection.execute(delete(schema.idempotency_keys))
