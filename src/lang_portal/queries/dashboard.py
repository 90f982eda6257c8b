"""Queries for the dashboard: the most recent session and the learner's overall figures.

Every figure is read from counters kept by the writes (per word, per group and per
UTC day in ``daily_activity``), never by aggregating sessions or reviews, so the
dashboard costs the same with ten sessions or ten million. Dates are computed in
Python from :func:`utc_now`, not with dialect-specific SQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select

from lang_portal import schema
from lang_portal.queries.progress import history_totals
from lang_portal.queries.study_sessions import NEWEST_FIRST, select_sessions

ACTIVE_GROUP_WINDOW = timedelta(days=30)
# A word is mastered after at least this many reviews with at least this share correct.
MASTERY_MIN_REVIEWS = 5
MASTERY_MIN_PERCENT_CORRECT = 80


def utc_now() -> datetime:
    """The current time in UTC; tests replace this to freeze the clock."""
    return datetime.now(UTC)


def recent_session(connection: Connection) -> dict[str, Any] | None:
    """The newest session as ``{id, group_id, group_name, activity_name, created_at,
    correct_count, wrong_count}``, or None when there are none."""
    row = connection.execute(select_sessions().order_by(*NEWEST_FIRST).limit(1)).one_or_none()
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


def current_streak(days_with_sessions: Iterable[date], today: date) -> int:
    """Consecutive days with a session, ending today, or yesterday when today has none yet.

    ``days_with_sessions`` must be newest first; days after ``today`` are ignored.
    Reading stops at the first gap.
    """
    streak = 0
    expected = today
    for day in days_with_sessions:
        if day > today:
            continue
        if day == expected or (streak == 0 and day == today - timedelta(days=1)):
            streak += 1
            expected = day - timedelta(days=1)
        else:
            break
    return streak


def stats(connection: Connection) -> dict[str, Any]:
    """The dashboard figures, as the API contract defines each one.

    - total_vocabulary: words stored;
    - total_words_studied: words with at least one review;
    - mastered_words: words with >= 5 reviews, >= 80 % of them correct;
    - success_rate: correct reviews / all reviews, from 0 to 1 (0 with no reviews);
    - total_sessions: sessions stored;
    - active_groups: groups with a session in the last 30 days;
    - current_streak: see :func:`current_streak`, in UTC days.
    """
    now = utc_now()
    reviews = schema.words.c.correct_count + schema.words.c.wrong_count
    mastered = and_(
        reviews >= MASTERY_MIN_REVIEWS,
        schema.words.c.correct_count * 100 >= reviews * MASTERY_MIN_PERCENT_CORRECT,
    )
    vocabulary = connection.execute(
        select(
            func.count().label("total"),
            func.count().filter(reviews > 0).label("studied"),
            func.count().filter(mastered).label("mastered"),
        )
    ).one()
    history = history_totals(connection)
    active_groups = connection.execute(
        select(func.count())
        .select_from(schema.groups)
        .where(schema.groups.c.last_session_at >= now - ACTIVE_GROUP_WINDOW)
    ).scalar_one()
    today = now.date()
    days = connection.execute(
        select(schema.daily_activity.c.day)
        .where(schema.daily_activity.c.sessions_count > 0, schema.daily_activity.c.day <= today)
        .order_by(schema.daily_activity.c.day.desc())
    ).scalars()
    return {
        "total_vocabulary": vocabulary.total,
        "total_words_studied": vocabulary.studied,
        "mastered_words": vocabulary.mastered,
        "success_rate": history["correct"] / history["reviews"] if history["reviews"] else 0.0,
        "total_sessions": history["sessions"],
        "active_groups": active_groups,
        "current_streak": current_streak(days, today),
    }
