"""Queries for the learner's progress over time: reviews per UTC day, and history totals.

Both read the ``daily_activity`` counters (one row per UTC day with any activity),
never the review history itself, so they cost the same however long the history is.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from lang_portal import schema


def reviews_per_day(connection: Connection, today: date, days: int = 30) -> list[dict[str, Any]]:
    """One entry per UTC day, oldest first, for the ``days`` days ending with ``today``.

    Each entry is ``{day, reviews, correct}``; days without activity are zeros, so
    the list always has ``days`` entries. Days after ``today`` are ignored.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    first = today - timedelta(days=days - 1)
    rows = connection.execute(
        select(
            schema.daily_activity.c.day,
            schema.daily_activity.c.reviews_count,
            schema.daily_activity.c.correct_count,
        ).where(schema.daily_activity.c.day >= first, schema.daily_activity.c.day <= today)
    )
    counted = {row.day: (row.reviews_count, row.correct_count) for row in rows}
    entries = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        reviews, correct = counted.get(day, (0, 0))
        entries.append({"day": day, "reviews": reviews, "correct": correct})
    return entries


def history_totals(connection: Connection) -> dict[str, int]:
    """How much study history is stored, ``{sessions, reviews, correct}``, summed over the
    daily counters: the one place that adds them up, for the dashboard, the settings page
    and the session lists' totals."""
    row = connection.execute(
        select(
            *(
                func.coalesce(func.sum(schema.daily_activity.c[f"{name}_count"]), 0).label(name)
                for name in ("sessions", "reviews", "correct")
            )
        )
    ).one()
    return {"sessions": int(row.sessions), "reviews": int(row.reviews), "correct": int(row.correct)}


def sessions_count(connection: Connection) -> int:
    """How many study sessions are stored, from the daily counters."""
    return history_totals(connection)["sessions"]
