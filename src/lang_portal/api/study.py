"""The due queue: what a learner should review now, scheduled by FSRS.

A study activity reads it to show the words in due order, each with the due time
every rating would give (``intervals``), then posts the answers with their ratings
to a study session of the word's group.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import Connection

from lang_portal import queries, scheduling
from lang_portal.api.cards import Card, current_scheduler
from lang_portal.api.routing import MAX_ID, routes


class DueQuery(BaseModel):
    """``?group_id&limit``: the queue of one group, or of every group."""

    group_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="Only this group's words; every group when absent."
    )
    limit: int = Field(20, ge=1, le=100, description="Items at most, 1 to 100.")


class DueWord(BaseModel):
    """A word of the queue."""

    id: int
    kanji: str
    romaji: str
    english: str
    parts: Any


class Intervals(BaseModel):
    """The due time each rating would give if answered now."""

    again: AwareDatetime
    hard: AwareDatetime
    good: AwareDatetime
    easy: AwareDatetime


class DueItem(BaseModel):
    """A word to review, its card (null for a word never reviewed) and its intervals."""

    word: DueWord
    card: Card | None
    intervals: Intervals


class DueQueue(BaseModel):
    """Cards due now (most overdue first), then new words, up to today's allowance."""

    items: list[DueItem]
    due_count: int = Field(description="Cards due now in scope.")
    new_count: int = Field(description="New words still allowed today (UTC) in scope.")
    next_due_at: AwareDatetime | None = Field(
        description="The earliest due time after now in scope, or null."
    )


@routes.get("/study/due", query=DueQuery, response=DueQueue, scoped=True, errors=(400,))
def get_due_queue(connection: Connection, learner_id: int, query: DueQuery) -> dict[str, Any]:
    """List what the learner should review now: due cards, then new words.

    New words are offered up to LANG_PORTAL_NEW_WORDS_PER_DAY a UTC day, across all
    groups. An unknown ``group_id`` is a 400.
    """
    now = queries.dashboard.utc_now()
    queue = queries.cards.due_queue(
        connection,
        learner_id,
        now,
        current_app.config["NEW_WORDS_PER_DAY"],
        query.limit,
        query.group_id,
    )
    schedule = current_scheduler()
    queue["items"] = [
        {
            **item,
            "card": item["card"] and scheduling.public(schedule, item["card"], now),
            "intervals": scheduling.intervals(schedule, item["card"], now),
        }
        for item in queue["items"]
    ]
    return queue
