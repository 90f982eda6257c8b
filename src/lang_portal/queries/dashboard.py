"""Queries for the dashboard: a learner's most recent session and overall figures.

Every figure is read from counters kept by the writes (per learner: per word, per
group and per UTC day in ``daily_activity``), never by aggregating sessions or
reviews, so the dashboard costs the same with ten sessions or ten million. Dates are
computed in Python from :func:`utc_now`, not with dialect-specific SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from lang_portal import schema
from lang_portal.queries import progress
from lang_portal.queries.study_sessions import NEWEST_FIRST, select_sessions

ACTIVE_GROUP_WINDOW = timedelta(days=30)


def utc_now() -> datetime:
    """The current time in UTC; tests replace this to freeze the clock."""
    return datetime.now(UTC)


def recent_session(connection: Connection, learner_id: int) -> dict[str, Any] | None:
    """The learner's newest session as ``{id, group_id, group_name, activity_name,
    created_at, correct_count, wrong_count}``, or None when there are none."""
    row = connection.execute(
        select_sessions()
        .where(schema.study_sessions.c.learner_id == learner_id)
        .order_by(*NEWEST_FIRST)
        .limit(1)
    ).one_or_none()
    if row is None:
        return None
    return {
        "id": row.id,
        "group_id": row.group_id,
        "group_name": row.group_name,
        "activity_name": row.activity_name,
        "created_at": row.start_time,
        "correct_count": row.correct_count,
        "wrong_count": row.wrong_count,
    }


def stats(connection: Connection, learner_id: int) -> dict[str, Any]:
    """A learner's dashboard figures, as the API contract defines each one.

    - total_vocabulary: words stored (the same for everyone);
    - total_words_studied: words with at least one review;
    - mastered_words: see :func:`queries.progress.word_totals_of`;
    - success_rate: correct reviews / all reviews, from 0 to 1 (0 with no reviews);
    - total_sessions: sessions stored;
    - active_groups: groups with a session in the last 30 days;
    - current_streak: see :func:`queries.progress.current_streak`, in UTC days.
    """
    now = utc_now()
    total_vocabulary = connection.execute(
        select(func.count()).select_from(schema.words)
    ).scalar_one()
    words = progress.word_totals_of(connection, [learner_id])[learner_id]
    history = progress.history_totals(connection, learner_id)
    groups = schema.group_progress.c
    active_groups = connection.execute(
        select(func.count()).where(
            groups.learner_id == learner_id, groups.last_session_at >= now - ACTIVE_GROUP_WINDOW
        )
    ).scalar_one()
    return {
        "total_vocabulary": total_vocabulary,
        "total_words_studied": words["studied"],
        "mastered_words": words["mastered"],
        "success_rate": history["correct"] / history["reviews"] if history["reviews"] else 0.0,
        "total_sessions": history["sessions"],
        "active_groups": active_groups,
        "current_streak": progress.streaks_of(connection, [learner_id], now.date())[learner_id],
    }
