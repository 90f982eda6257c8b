"""Helpers for tests of the ``accounts`` mode: an app in that mode, learners made through
the API with the operator token, bearer headers, and a recomputation of every learner's
counters from their own rows.

The token digest is computed here, not imported from lang_portal, so the tests prove
what the database holds instead of agreeing with the code under test.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import Engine, select

from lang_portal import schema
from tests.conftest import make_app

# LANG_PORTAL_API_TOKEN in these tests: the operator, who acts as the default learner.
OPERATOR_TOKEN = "operator-token-0123456789abcdef0123456789abcdef"
DEFAULT_LEARNER_ID = 1
CHALLENGE = 'Bearer realm="lang-portal"'
JSON = {"Content-Type": "application/json"}


def bearer(token: str) -> dict[str, str]:
    """The Authorization header that presents ``token``."""
    return {"Authorization": f"Bearer {token}"}


OPERATOR = bearer(OPERATOR_TOKEN)


def token_digest(token: str) -> str:
    """SHA-256 of a token in hex: what learner_tokens.token_hash must hold."""
    return hashlib.sha256(token.encode()).hexdigest()


@contextmanager
def accounts_app(database_url: str, **settings: Any) -> Iterator[Flask]:
    """An app in the ``accounts`` mode with the operator token set; its engine is
    disposed afterwards."""
    application = make_app(database_url, AUTH="accounts", API_TOKEN=OPERATOR_TOKEN, **settings)
    try:
        yield application
    finally:
        application.extensions["lang_portal.engine"].dispose()


@dataclass(frozen=True)
class Learner:
    """A learner made through the API, with the token it was given."""

    id: int
    name: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


def add_learner(client: Any, name: str, role: str = "learner") -> Learner:
    """Add a learner as the operator (``POST /api/learners``); returns it with its token."""
    response = client.post("/api/learners", json={"name": name, "role": role}, headers=OPERATOR)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    return Learner(body["id"], body["name"], body["role"], body["token"])


def engine_of(client: Any) -> Engine:
    """The engine of a test client's app, for checking the database after a request."""
    return client.application.extensions["lang_portal.engine"]


def start_session(
    client: Any, learner: Learner, group_id: int = 1, study_activity_id: int = 1
) -> int:
    """Start a study session as ``learner``; returns its id, checked to be stored as theirs."""
    response = client.post(
        "/api/study-sessions",
        json={"group_id": group_id, "study_activity_id": study_activity_id},
        headers=learner.headers,
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    study_session_id = response.get_json()["id"]
    with engine_of(client).connect() as connection:
        row = connection.execute(
            select(schema.study_sessions).where(schema.study_sessions.c.id == study_session_id)
        ).one()
    assert (row.learner_id, row.group_id, row.study_activity_id) == (
        learner.id,
        group_id,
        study_activity_id,
    )
    return study_session_id


def review(
    client: Any, learner: Learner, study_session_id: int, reviews: list[tuple[int, bool]]
) -> None:
    """Record a batch of (word_id, correct) reviews as ``learner``; checks that they are
    the session's newest rows."""
    response = client.post(
        f"/api/study-sessions/{study_session_id}/review",
        json={"reviews": [{"word_id": w, "is_correct": c} for w, c in reviews]},
        headers=learner.headers,
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["reviews_created"] == len(reviews)
    items = schema.word_review_items
    with engine_of(client).connect() as connection:
        stored = connection.execute(
            select(items.c.word_id, items.c.correct)
            .where(items.c.study_session_id == study_session_id)
            .order_by(items.c.id)
        ).all()
    assert [tuple(row) for row in stored[-len(reviews) :]] == reviews


def learner_rows(engine: Engine, learner_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every row of one learner's history, per table, in a stable order: their sessions,
    the reviews in them, every per-learner counter, their idempotency keys, and their
    learners and learner_tokens rows."""
    with engine.connect() as connection:
        sessions = schema.study_sessions
        reviews = schema.word_review_items
        rows: dict[str, list[dict[str, Any]]] = {
            "word_review_items": [
                row._asdict()
                for row in connection.execute(
                    select(reviews)
                    .join(sessions, sessions.c.id == reviews.c.study_session_id)
                    .where(sessions.c.learner_id == learner_id)
                    .order_by(reviews.c.id)
                )
            ]
        }
        for table in (
            schema.study_sessions,
            schema.word_progress,
            schema.group_progress,
            schema.activity_progress,
            schema.daily_activity,
            schema.idempotency_keys,
            schema.learner_tokens,
        ):
            rows[table.name] = [
                row._asdict()
                for row in connection.execute(
                    select(table)
                    .where(table.c.learner_id == learner_id)
                    .order_by(*table.primary_key.columns)
                )
            ]
        rows["learners"] = [
            row._asdict()
            for row in connection.execute(
                select(schema.learners).where(schema.learners.c.id == learner_id)
            )
        ]
    return rows


HISTORY_TABLES = (
    "study_sessions",
    "word_review_items",
    "word_progress",
    "group_progress",
    "activity_progress",
    "daily_activity",
)


def _nonzero(counted: dict[Any, tuple[Any, ...]]) -> dict[Any, tuple[Any, ...]]:
    """Counter rows that count something: a row of zeros means the same as no row."""
    return {
        key: values
        for key, values in counted.items()
        if any(value for value in values if not isinstance(value, datetime))
    }


def recount(engine: Engine) -> dict[str, dict[Any, Any]]:
    """Every counter as stored and as recomputed from the session and review rows.

    Returns ``{counter: {"stored": {...}, "recomputed": {...}}}``; a caller asserts they
    are equal, and may look at the recomputation (per learner) for its own checks.
    """
    sessions_table = schema.study_sessions
    with engine.connect() as connection:
        sessions = connection.execute(select(sessions_table)).all()
        reviews = connection.execute(select(schema.word_review_items)).all()
        stored_words = connection.execute(select(schema.word_progress)).all()
        stored_groups = connection.execute(select(schema.group_progress)).all()
        stored_activities = connection.execute(select(schema.activity_progress)).all()
        stored_days = connection.execute(select(schema.daily_activity)).all()

    owner = {row.id: row.learner_id for row in sessions}
    per_session: dict[int, list[Any]] = defaultdict(list)
    for item in reviews:
        per_session[item.study_session_id].append(item)

    words: Counter[tuple[int, int, bool]] = Counter(
        (owner[item.study_session_id], item.word_id, item.correct) for item in reviews
    )
    word_keys = {(learner, word) for learner, word, _ in words}
    groups: dict[tuple[int, int], list[datetime]] = defaultdict(list)
    activities: Counter[tuple[int, int]] = Counter()
    days: dict[tuple[int, Any], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in sessions:
        groups[row.learner_id, row.group_id].append(row.created_at)
        activities[row.learner_id, row.study_activity_id] += 1
        days[row.learner_id, row.created_at.date()][0] += 1
    for item in reviews:
        day = days[owner[item.study_session_id], item.created_at.date()]
        day[1] += 1
        day[2] += int(item.correct)

    return {
        "study_sessions": {
            "stored": {
                row.id: (
                    row.review_items_count,
                    row.correct_count,
                    row.wrong_count,
                    row.last_review_at,
                )
                for row in sessions
            },
            "recomputed": {
                row.id: (
                    len(per_session[row.id]),
                    sum(1 for item in per_session[row.id] if item.correct),
                    sum(1 for item in per_session[row.id] if not item.correct),
                    max((item.created_at for item in per_session[row.id]), default=None),
                )
                for row in sessions
            },
        },
        "word_progress": {
            "stored": _nonzero(
                {(r.learner_id, r.word_id): (r.correct_count, r.wrong_count) for r in stored_words}
            ),
            "recomputed": {key: (words[(*key, True)], words[(*key, False)]) for key in word_keys},
        },
        "group_progress": {
            "stored": _nonzero(
                {
                    (r.learner_id, r.group_id): (r.sessions_count, r.last_session_at)
                    for r in stored_groups
                }
            ),
            "recomputed": {key: (len(times), max(times)) for key, times in groups.items()},
        },
        "activity_progress": {
            "stored": _nonzero(
                {
                    (r.learner_id, r.study_activity_id): (r.sessions_count,)
                    for r in stored_activities
                }
            ),
            "recomputed": {key: (count,) for key, count in activities.items()},
        },
        "daily_activity": {
            "stored": _nonzero(
                {
                    (r.learner_id, r.day): (r.sessions_count, r.reviews_count, r.correct_count)
                    for r in stored_days
                }
            ),
            "recomputed": {key: tuple(values) for key, values in days.items()},
        },
    }


def assert_counters_match_rows(engine: Engine) -> None:
    """Assert that every learner's counters equal a recomputation from their own rows."""
    for counter, versions in recount(engine).items():
        assert versions["stored"] == versions["recomputed"], counter
