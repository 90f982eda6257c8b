"""Queries for study sessions: start one, read them back, reset a learner's history.

Every session belongs to a learner, and every function here takes the learner's id:
another learner's session is, to these queries, a session that does not exist.
Every write keeps the counters that reads rely on (per session, and per learner:
per word, group, activity and UTC day) in the same transaction as the rows they
count, so a page of results never aggregates the review history. Recording
reviews is :mod:`lang_portal.queries.reviews`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    Table,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
)

from lang_portal import db, schema
from lang_portal.queries import progress, sorting
from lang_portal.queries.problems import UnknownGroup, UnknownStudyActivity

# Session lists are newest first unless sorted otherwise: by start time, descending.
_STARTED = schema.study_sessions.c.created_at
NEWEST_FIRST = sorting.ordering(_STARTED, schema.study_sessions.c.id, descending=True)
END_TIME = schema.SESSION_END_TIME
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
# The sort keys an index holds with the id, whose pages a keyset cursor finds
# (group_page_after) -> the field of a session that holds the key's value.
GROUP_CURSOR_FIELDS = {
    "created_at": "start_time",
    "start_time": "start_time",
    "startTime": "start_time",
    "end_time": "end_time",
    "endTime": "end_time",
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


# The write statements are built once per dialect, with bind parameters: building a
# statement costs more than executing it, and POST /api/study-sessions is the hot path
# (see docs/performance.md).
_INSERT_SESSION = insert(schema.study_sessions).returning(schema.study_sessions.c.id)
_DAY_COUNTS = (
    "sessions_count",
    "reviews_count",
    "correct_count",
    "recall_reviews_count",
    "recalled_count",
)


def _count_day_statement(connection: Connection) -> Any:
    upsert = db.upsert(connection, schema.daily_activity, ["learner_id", "day"])
    return upsert.on_conflict_do_update(
        index_elements=["learner_id", "day"],
        set_={name: schema.daily_activity.c[name] + upsert.excluded[name] for name in _DAY_COUNTS},
    )


def count_days(
    connection: Connection, learner_id: int, days: Mapping[date, Mapping[str, int]]
) -> None:
    """Add to the learner's rows of daily_activity, one per (UTC) day, creating them if
    needed. ``days`` maps each day to its changes by counter name; a counter not named
    does not change.

    Every write that adds sessions or reviews calls it in the same transaction as its
    rows, so the per-day counters always match them.
    """
    statement = db.statement_for(connection, "count_day", _count_day_statement)
    connection.execute(
        statement,
        [
            {
                "learner_id": learner_id,
                "day": day,
                **{name: changes.get(name, 0) for name in _DAY_COUNTS},
            }
            for day, changes in days.items()
        ],
    )


def _count_session_in(
    counters: Table, key: str, counted: Table, **also: Any
) -> Callable[[Connection], Any]:
    """A statement builder: add a session to the learner's row of ``counters`` for the row
    of ``counted`` (a group or an activity) named by the bind parameter ``key``, setting
    ``also`` too, if that row exists. The new row is selected from ``counted``, so a
    missing one inserts and returns nothing: the upsert is the existence check."""

    def build(connection: Connection) -> Any:
        values = {
            "learner_id": bindparam("learner_id", type_=counters.c.learner_id.type),
            key: counted.c.id,
            "sessions_count": literal(1),
            **also,
        }
        source = select(*values.values()).where(
            counted.c.id == bindparam(key, type_=counted.c.id.type)
        )
        upsert = db.upsert(connection, counters, ["learner_id", key])
        return (
            upsert.from_select(list(values), source)
            .on_conflict_do_update(
                index_elements=["learner_id", key],
                set_={"sessions_count": counters.c.sessions_count + 1, **also},
            )
            .returning(counters.c[key])
        )

    return build


_COUNT_GROUP = _count_session_in(
    schema.group_progress,
    "group_id",
    schema.groups,
    last_session_at=bindparam("now", type_=schema.group_progress.c.last_session_at.type),
)
_COUNT_ACTIVITY = _count_session_in(
    schema.activity_progress, "study_activity_id", schema.study_activities
)


def create(
    connection: Connection, learner_id: int, group_id: int, study_activity_id: int
) -> dict[str, Any]:
    """Start a study session of a learner for a group with an activity.

    The existence checks are the learner's counter updates themselves, so they and
    the insert are one transaction. Raises UnknownGroup, or else UnknownStudyActivity,
    when the row does not exist; the group is checked first.
    """
    now = datetime.now(UTC)
    # Each upsert returns its row when the group or activity exists, and nothing when it
    # does not. (Not rowcount: SQLAlchemy reports -1 for an INSERT on psycopg.)
    found_group = connection.execute(
        db.statement_for(connection, "count_group", _COUNT_GROUP),
        {"learner_id": learner_id, "group_id": group_id, "now": now},
    ).first()
    if found_group is None:
        raise UnknownGroup(group_id)
    found_activity = connection.execute(
        db.statement_for(connection, "count_activity", _COUNT_ACTIVITY),
        {"learner_id": learner_id, "study_activity_id": study_activity_id},
    ).first()
    if found_activity is None:
        raise UnknownStudyActivity(study_activity_id)
    # Neither row can vanish before the insert: on PostgreSQL the foreign keys of the
    # rows just written hold a share lock on the group and the activity until commit,
    # so a concurrent DELETE waits; SQLite runs one write transaction at a time.
    study_session_id = connection.execute(
        _INSERT_SESSION,
        {
            "learner_id": learner_id,
            "group_id": group_id,
            "study_activity_id": study_activity_id,
            "created_at": now,
        },
    ).scalar_one()
    count_days(connection, learner_id, {now.date(): {"sessions_count": 1}})
    return {
        "id": study_session_id,
        "session_id": study_session_id,
        "group_id": group_id,
        "study_activity_id": study_activity_id,
        "created_at": now,
    }


def count(connection: Connection, learner_id: int) -> int:
    """How many sessions the learner has: :func:`queries.progress.sessions_count`."""
    return progress.sessions_count(connection, learner_id)


def _page_of_sessions(
    where: tuple[ColumnElement[bool], ...],
    column: ColumnElement[Any],
    descending: bool,
    offset: int,
    limit: int,
    total: int | None,
    joined: bool = False,
) -> Select[Any]:
    """The sessions on one page, sorted by ``column`` then id, found in two steps: first
    their ids, then their rows.

    OFFSET has to step over every row before the page. Stepping over entries of an
    index that holds the sort key and the id is cheap; stepping over joined rows is
    not: page 10,000 of the session list took 55 ms at 1M sessions, and 2.5 ms like
    this (docs/performance.md). ``joined`` keeps the joins in the first step, for
    sort keys that live in another table.

    Given the list's ``total``, a page nearer the end than the start is found walking
    from the end (the reverse order, stepping over the rows after it), so the last page
    costs what the first does. The second step sorts the page's rows either way.
    """
    ids = (
        select_sessions().with_only_columns(schema.study_sessions.c.id)
        if joined
        else select(schema.study_sessions.c.id)
    )
    forward = sorting.ordering(column, schema.study_sessions.c.id, descending)
    walk, skip, take = forward, offset, limit
    remaining = None if total is None else total - offset  # from the page's first row on
    if remaining is not None and remaining > 0 and max(remaining - limit, 0) < offset:
        walk = sorting.ordering(column, schema.study_sessions.c.id, not descending)
        skip, take = max(remaining - limit, 0), min(limit, remaining)
    ids = ids.where(*where).order_by(*walk).offset(skip).limit(take)
    return select_sessions().where(schema.study_sessions.c.id.in_(ids)).order_by(*forward)


def _of_learner(learner_id: int, *where: ColumnElement[bool]) -> tuple[ColumnElement[bool], ...]:
    """The conditions of a session list: the learner's sessions, and these conditions."""
    return (schema.study_sessions.c.learner_id == learner_id, *where)


def page(
    connection: Connection, learner_id: int, offset: int, limit: int, total: int | None = None
) -> list[dict[str, Any]]:
    """A page of the learner's sessions, newest first. ``total``, the learner's number of
    sessions if the caller knows it, lets a deep page be found from the nearer end."""
    statement = _page_of_sessions(_of_learner(learner_id), _STARTED, True, offset, limit, total)
    return [dict(row._mapping) for row in connection.execute(statement)]


def page_after(
    connection: Connection,
    learner_id: int,
    after: tuple[datetime, int],
    limit: int,
    study_activity_id: int | None = None,
) -> list[dict[str, Any]]:
    """The learner's sessions (of one activity, if given) that come after ``after``, the
    (start time, id) of the last session of the page before, newest first.

    A keyset page: the index is searched for where the page starts, so any page costs
    what the first does, where OFFSET steps over every row before it (21 ms in the
    middle of 1M sessions, docs/performance.md).
    """
    where = (
        ()
        if study_activity_id is None
        else (schema.study_sessions.c.study_activity_id == study_activity_id,)
    )
    statement = _sessions_after(_of_learner(learner_id, *where), _STARTED, True, after, limit)
    return [dict(row._mapping) for row in connection.execute(statement)]


def group_page_after(
    connection: Connection,
    learner_id: int,
    group_id: int,
    sort_by: str,
    descending: bool,
    after: tuple[datetime, int],
    limit: int,
) -> list[dict[str, Any]]:
    """The learner's sessions of one group after ``after`` (the sort key's time and the
    id of the last session of the page before), sorted by a key of
    ``GROUP_CURSOR_FIELDS``: a keyset page, as :func:`page_after`."""
    column = GROUP_SORT_COLUMNS[sort_by]
    where = _of_learner(learner_id, schema.study_sessions.c.group_id == group_id)
    statement = _sessions_after(where, column, descending, after, limit)
    rows = connection.execute(statement)
    return [{**row._mapping, "study_activity_id": row.activity_id} for row in rows]


def _sessions_after(
    where: tuple[ColumnElement[bool], ...],
    column: ColumnElement[Any],
    descending: bool,
    after: tuple[datetime, int],
    limit: int,
) -> Select[Any]:
    """The ``limit`` sessions that follow ``after`` in the order of ``column`` then id.

    The condition is written ``column <= time AND (column < time OR id < last id)`` (for
    a descending list), not as a row-value comparison: SQLite starts the walk of an index
    where the page starts from either, but from the row value only on plain columns, and
    the end time is an expression (the last page by cursor took 21 ms at 1M sessions).
    """
    time, last_id = after
    study_session_id = schema.study_sessions.c.id
    if descending:
        follows = and_(column <= time, or_(column < time, study_session_id < last_id))
    else:
        follows = and_(column >= time, or_(column > time, study_session_id > last_id))
    order = sorting.ordering(column, schema.study_sessions.c.id, descending)
    ids = select(schema.study_sessions.c.id).where(*where, follows).order_by(*order).limit(limit)
    return select_sessions().where(schema.study_sessions.c.id.in_(ids)).order_by(*order)


def group_page(
    connection: Connection,
    learner_id: int,
    group_id: int,
    sort_by: str,
    descending: bool,
    offset: int,
    limit: int,
    total: int | None = None,
) -> list[dict[str, Any]]:
    """A page of the learner's sessions of one group, sorted by a whitelisted key and then
    by id.

    Items carry ``study_activity_id`` as well as ``activity_id``. The total is the
    learner's ``group_progress.sessions_count`` (given, a deep page is found from the
    nearer end). Sorting by start time walks the (learner_id, group_id, created_at)
    index; the other keys sort those sessions.
    """
    column = GROUP_SORT_COLUMNS[sort_by]
    # Names of groups and activities are sorted on the joined rows.
    joined = getattr(column, "table", schema.study_sessions) is not schema.study_sessions
    where = _of_learner(learner_id, schema.study_sessions.c.group_id == group_id)
    statement = _page_of_sessions(where, column, descending, offset, limit, total, joined)
    rows = connection.execute(statement)
    return [{**row._mapping, "study_activity_id": row.activity_id} for row in rows]


def activity_page(
    connection: Connection,
    learner_id: int,
    study_activity_id: int,
    offset: int,
    limit: int,
    total: int | None = None,
) -> list[dict[str, Any]]:
    """A page of the learner's sessions started with one activity, newest first.

    Walks the (learner_id, study_activity_id, created_at) index; the total is the
    learner's ``activity_progress.sessions_count`` (given, a deep page is found from
    the nearer end).
    """
    where = _of_learner(learner_id, schema.study_sessions.c.study_activity_id == study_activity_id)
    statement = _page_of_sessions(where, _STARTED, True, offset, limit, total)
    return [dict(row._mapping) for row in connection.execute(statement)]


def get(connection: Connection, learner_id: int, study_session_id: int) -> dict[str, Any] | None:
    """One of the learner's sessions with its group and activity names, or None (also
    when the session is another learner's)."""
    row = connection.execute(
        select_sessions().where(
            *_of_learner(learner_id, schema.study_sessions.c.id == study_session_id)
        )
    ).one_or_none()
    return dict(row._mapping) if row else None


def launch_of(
    connection: Connection, learner_id: int, study_session_id: int
) -> dict[str, Any] | None:
    """``{group_id, created_at}`` of one of the learner's sessions (what a launch token
    needs), or None (also when the session is another learner's)."""
    sessions = schema.study_sessions
    row = connection.execute(
        select(sessions.c.group_id, sessions.c.created_at).where(
            *_of_learner(learner_id, sessions.c.id == study_session_id)
        )
    ).one_or_none()
    return dict(row._mapping) if row else None


def reviewed_words(
    connection: Connection, learner_id: int, study_session_id: int, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """Words reviewed in one of the learner's sessions, with that session's correct/wrong
    counts, and their total (none for another learner's session)."""
    owned = select(schema.study_sessions.c.id).where(
        *_of_learner(learner_id, schema.study_sessions.c.id == study_session_id)
    )
    correct = func.sum(cast(schema.word_review_items.c.correct, Integer))
    per_word = (
        select(
            schema.word_review_items.c.word_id,
            correct.label("correct_count"),
            (func.count() - correct).label("wrong_count"),
        )
        .where(schema.word_review_items.c.study_session_id.in_(owned))
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


def reset(connection: Connection, learner_id: int) -> None:
    """Delete the learner's sessions, reviews and counters; nobody else's history, and
    not the vocabulary (words, groups, activities), changes."""
    # The caller holds the learner's row lock (queries.learners.touch, taken first by
    # every write), so on PostgreSQL no other write of this learner runs meanwhile.
    sessions = select(schema.study_sessions.c.id).where(*_of_learner(learner_id))
    connection.execute(
        delete(schema.word_review_items).where(
            schema.word_review_items.c.study_session_id.in_(sessions)
        )
    )
    for table in (
        schema.study_sessions,
        schema.word_progress,
        schema.group_progress,
        schema.activity_progress,
        schema.daily_activity,
        schema.idempotency_keys,
    ):
        connection.execute(delete(table).where(table.c.learner_id == learner_id))
