"""Queries for learners: who they are, their tokens, and their progress in figures.

A token is stored only as its SHA-256 digest and looked up by it; the token itself
exists only in the answer that hands it out. Issuing a token revokes every earlier
token of that learner.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from lang_portal import db, schema
from lang_portal.queries import cards, dashboard, progress
from lang_portal.queries.problems import NameTaken, UnknownLearner

# Every request in the open (single-user) mode acts as this learner, a teacher; the
# migration that brought learners in created it and gave it the history before them.
DEFAULT_LEARNER_ID = 1
LEARNER = "learner"
TEACHER = "teacher"
ROLES = (LEARNER, TEACHER)
TOKEN_BYTES = 32
_COLUMNS = (
    schema.learners.c.id,
    schema.learners.c.name,
    schema.learners.c.role,
    schema.learners.c.created_at,
    schema.learners.c.last_active_at,
)
_TOUCH = (
    update(schema.learners)
    .where(schema.learners.c.id == bindparam("touched_id", type_=schema.learners.c.id.type))
    .values(last_active_at=bindparam("now", type_=schema.learners.c.last_active_at.type))
)


def name_key(name: str) -> str:
    """What makes two names the same: ``Aiko`` and ``AIKO`` are one name."""
    return name.casefold()


def token_digest(token: str) -> str:
    """The SHA-256 digest of a token, as stored and looked up."""
    return hashlib.sha256(token.encode()).hexdigest()


def create(connection: Connection, name: str, role: str) -> dict[str, Any]:
    """Add a learner; returns its item (see :func:`get`). Raises NameTaken."""
    now = datetime.now(UTC)
    # The unique name_key decides, also between two requests racing for one name.
    learner_id = connection.execute(
        db.upsert(connection, schema.learners, ["name_key"])
        .values(name=name, name_key=name_key(name), role=role, created_at=now)
        .on_conflict_do_nothing(index_elements=["name_key"])
        .returning(schema.learners.c.id)
    ).scalar_one_or_none()
    if learner_id is None:
        raise NameTaken(name)
    created = get(connection, learner_id)
    assert created is not None  # just inserted, in this transaction
    return created


def issue_token(connection: Connection, learner_id: int) -> str:
    """A new token for the learner; every earlier one stops working. Raises UnknownLearner."""
    # Locking the learner's row makes concurrent rotations (two teachers, or a teacher
    # and the learner) take turns on PostgreSQL, so each deletes what the last inserted.
    exists = connection.execute(
        select(schema.learners.c.id).where(schema.learners.c.id == learner_id).with_for_update()
    ).first()
    if exists is None:
        raise UnknownLearner(learner_id)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    connection.execute(
        delete(schema.learner_tokens).where(schema.learner_tokens.c.learner_id == learner_id)
    )
    connection.execute(
        insert(schema.learner_tokens).values(
            learner_id=learner_id, token_hash=token_digest(token), created_at=datetime.now(UTC)
        )
    )
    return token


def by_token(connection: Connection, token: str) -> dict[str, Any] | None:
    """``{id, role}`` of the learner a token belongs to, or None."""
    row = connection.execute(
        select(schema.learners.c.id, schema.learners.c.role)
        .join(schema.learner_tokens, schema.learner_tokens.c.learner_id == schema.learners.c.id)
        .where(schema.learner_tokens.c.token_hash == token_digest(token))
    ).one_or_none()
    return dict(row._mapping) if row else None


def by_name(connection: Connection, name: str) -> dict[str, Any] | None:
    """``{id, name, role, created_at, last_active_at}`` of the learner with this name, in
    any case, or None."""
    row = connection.execute(
        select(*_COLUMNS).where(schema.learners.c.name_key == name_key(name))
    ).one_or_none()
    return dict(row._mapping) if row else None


def profile(connection: Connection, learner_id: int) -> dict[str, Any] | None:
    """``{id, name, role, created_at}`` of a learner, or None."""
    row = connection.execute(
        select(*_COLUMNS[:4]).where(schema.learners.c.id == learner_id)
    ).one_or_none()
    return dict(row._mapping) if row else None


def touch(connection: Connection, learner_id: int, now: datetime) -> None:
    """Note that the learner wrote just now (``last_active_at``).

    Every write calls it first in its transaction. On PostgreSQL that also locks the
    learner's row until commit, so one learner's writes take turns: counters, reset
    and keys of one learner are never updated by two transactions in opposite orders.
    """
    connection.execute(_TOUCH, {"touched_id": learner_id, "now": now})


def count(connection: Connection) -> int:
    """How many learners there are."""
    return connection.execute(select(func.count()).select_from(schema.learners)).scalar_one()


def page(connection: Connection, offset: int, limit: int) -> list[dict[str, Any]]:
    """A page of learners by id, each with their figures (see :func:`with_figures`)."""
    rows = connection.execute(
        select(*_COLUMNS).order_by(schema.learners.c.id).offset(offset).limit(limit)
    )
    return with_figures(connection, [dict(row._mapping) for row in rows])


def get(connection: Connection, learner_id: int) -> dict[str, Any] | None:
    """One learner with their figures, or None."""
    row = connection.execute(
        select(*_COLUMNS).where(schema.learners.c.id == learner_id)
    ).one_or_none()
    return with_figures(connection, [dict(row._mapping)])[0] if row else None


def with_figures(connection: Connection, learners: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The learners, each with ``total_sessions``, ``words_studied``, ``mastered_words``,
    ``due_now`` (cards due) and ``current_streak`` (in UTC days up to today), by the
    dashboard's clock, read in one query per figure."""
    now = dashboard.utc_now()
    ids = [learner["id"] for learner in learners]
    history = progress.history_totals_of(connection, ids)
    words = progress.word_totals_of(connection, ids)
    due = cards.due_now_of(connection, ids, now)
    streaks = progress.streaks_of(connection, ids, now.date())
    return [
        {
            **learner,
            "total_sessions": history[learner["id"]]["sessions"],
            "words_studied": words[learner["id"]]["studied"],
            "mastered_words": words[learner["id"]]["mastered"],
            "due_now": due[learner["id"]],
            "current_streak": streaks[learner["id"]],
        }
        for learner in learners
    ]
