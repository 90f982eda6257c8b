"""Queries for a learner's progress: reviews per UTC day, history totals, words studied
and mastered, and streaks.

Every figure reads counters kept by the writes (``daily_activity``, one row per learner
and UTC day with any activity, and ``word_progress``, one row per learner and word
reviewed), never the review history itself, so each costs the same however long the
history is. The functions that take several learner ids answer a page of learners
with one query each, not one per learner.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select

from lang_portal import schema

# A word is mastered after at least this many reviews with at least this share correct.
MASTERY_MIN_REVIEWS = 5
MASTERY_MIN_PERCENT_CORRECT = 80


def reviews_per_day(
    connection: Connection, learner_id: int, today: date, days: int = 30
) -> list[dict[str, Any]]:
    """One entry per UTC day, oldest first, for the ``days`` days ending with ``today``.

    Each entry is ``{day, reviews, correct}``; days without activity are zeros, so
    the list always has ``days`` entries. Days after ``today`` are ignored.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    first = today - timedelta(days=days - 1)
    day = schema.daily_activity.c
    rows = connection.execute(
        select(day.day, day.reviews_count, day.correct_count).where(
            day.learner_id == learner_id, day.day >= first, day.day <= today
        )
    )
    counted = {row.day: (row.reviews_count, row.correct_count) for row in rows}
    entries = []
    for offset in range(days):
        moment = first + timedelta(days=offset)
        reviews, correct = counted.get(moment, (0, 0))
        entries.append({"day": moment, "reviews": reviews, "correct": correct})
    return entries


def history_totals(connection: Connection, learner_id: int) -> dict[str, int]:
    """How much study history a learner has, ``{sessions, reviews, correct}``, summed over
    the daily counters: the one place that adds them up, for the dashboard, the settings
    page and the session lists' totals."""
    return history_totals_of(connection, [learner_id])[learner_id]


def history_totals_of(
    connection: Connection, learner_ids: Iterable[int]
) -> dict[int, dict[str, int]]:
    """:func:`history_totals` for several learners at once, by learner id."""
    learner_ids = list(learner_ids)
    day = schema.daily_activity.c
    rows = connection.execute(
        select(
            day.learner_id,
            *(
                func.sum(day[f"{name}_count"]).label(name)
                for name in ("sessions", "reviews", "correct")
            ),
        )
        .where(day.learner_id.in_(learner_ids))
        .group_by(day.learner_id)
    )
    totals = {learner_id: {"sessions": 0, "reviews": 0, "correct": 0} for learner_id in learner_ids}
    for row in rows:
        totals[row.learner_id] = {
            "sessions": int(row.sessions),
            "reviews": int(row.reviews),
            "correct": int(row.correct),
        }
    return totals


def sessions_count(connection: Connection, learner_id: int) -> int:
    """How many study sessions a learner has, from the daily counters."""
    return history_totals(connection, learner_id)["sessions"]


def word_totals_of(connection: Connection, learner_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """``{studied, mastered}`` words of each learner, by learner id.

    Studied: words with at least one review. Mastered: at least
    :data:`MASTERY_MIN_REVIEWS` reviews, :data:`MASTERY_MIN_PERCENT_CORRECT` % of them right.
    """
    learner_ids = list(learner_ids)
    progress = schema.word_progress.c
    reviews = progress.correct_count + progress.wrong_count
    mastered = and_(
        reviews >= MASTERY_MIN_REVIEWS,
        progress.correct_count * 100 >= reviews * MASTERY_MIN_PERCENT_CORRECT,
    )
    rows = connection.execute(
        select(
            progress.learner_id,
            func.count().filter(reviews > 0).label("studied"),
            func.count().filter(mastered).label("mastered"),
        )
        .where(progress.learner_id.in_(learner_ids))
        .group_by(progress.learner_id)
    )
    totals = {learner_id: {"studied": 0, "mastered": 0} for learner_id in learner_ids}
    for row in rows:
        totals[row.learner_id] = {"studied": row.studied, "mastered": row.mastered}
    return totals


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


# How many days back a streak is first looked for. A page of learners reads only these
# days (reading every day of every learner was most of GET /api/learners' time); a
# learner whose streak fills the whole window is read again without the bound.
STREAK_WINDOW_DAYS = 62


def streaks_of(connection: Connection, learner_ids: Iterable[int], today: date) -> dict[int, int]:
    """Each learner's :func:`current_streak` in UTC days, by learner id."""
    learner_ids = list(learner_ids)
    since = today - timedelta(days=STREAK_WINDOW_DAYS)
    streaks = _streaks(connection, learner_ids, today, since)
    longer = [learner_id for learner_id, streak in streaks.items() if streak >= STREAK_WINDOW_DAYS]
    if longer:
        streaks.update(_streaks(connection, longer, today, since=None))
    return streaks


def _streaks(
    connection: Connection, learner_ids: list[int], today: date, since: date | None
) -> dict[int, int]:
    """:func:`current_streak` of each learner, from the days since ``since`` (None: all)."""
    day = schema.daily_activity.c
    conditions = [day.learner_id.in_(learner_ids), day.sessions_count > 0, day.day <= today]
    if since is not None:
        conditions.append(day.day >= since)
    rows = connection.execute(
        select(day.learner_id, day.day).where(*conditions).order_by(day.learner_id, day.day.desc())
    )
    days: dict[int, list[date]] = defaultdict(list)
    for row in rows:
        days[row.learner_id].append(row.day)
    return {learner_id: current_streak(days[learner_id], today) for learner_id in learner_ids}
