"""Helpers for tests of the ``accounts`` mode: an app in that mode, learners made through
the API with the operator token, bearer headers, and a recomputation of every learner's
counters and cards from their own rows.

The token digest is computed here, not imported from lang_portal, so the tests prove
what the database holds instead of agreeing with the code under test. For the same
reason the cards are replayed here with the ``fsrs`` package called directly, not with
lang_portal.scheduling.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import fsrs
from flask import Flask
from sqlalchemy import Engine, delete, insert, select, update

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


def backdate_session(engine: Engine, study_session_id: int, created_at: datetime) -> None:
    """Move the start of a session with no reviews yet back to ``created_at``, with the
    counters that depend on it (the day it counts on, its group's last session), as if
    it had started then: reviews in it may then be answered days before now."""
    sessions, days, groups = schema.study_sessions, schema.daily_activity, schema.group_progress
    with engine.begin() as connection:
        row = connection.execute(select(sessions).where(sessions.c.id == study_session_id)).one()
        assert row.review_items_count == 0 and created_at <= row.created_at
        connection.execute(
            update(sessions).where(sessions.c.id == study_session_id).values(created_at=created_at)
        )
        learner_days = days.c.learner_id == row.learner_id
        old_day = learner_days & (days.c.day == _utc_day(row.created_at))
        connection.execute(
            update(days).where(old_day).values(sessions_count=days.c.sessions_count - 1)
        )
        connection.execute(
            delete(days).where(old_day, days.c.sessions_count == 0, days.c.reviews_count == 0)
        )
        new_day = learner_days & (days.c.day == _utc_day(created_at))
        if connection.execute(select(days.c.day).where(new_day)).first() is None:
            connection.execute(
                insert(days).values(
                    learner_id=row.learner_id, day=_utc_day(created_at), sessions_count=1
                )
            )
        else:
            connection.execute(
                update(days).where(new_day).values(sessions_count=days.c.sessions_count + 1)
            )
        same_group = (sessions.c.learner_id == row.learner_id) & (
            sessions.c.group_id == row.group_id
        )
        latest = connection.execute(
            select(sessions.c.created_at)
            .where(same_group)
            .order_by(sessions.c.created_at.desc())
            .limit(1)
        ).scalar_one()
        connection.execute(
            update(groups)
            .where(groups.c.learner_id == row.learner_id, groups.c.group_id == row.group_id)
            .values(last_session_at=latest)
        )


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


# The scheduler of the default LANG_PORTAL_DESIRED_RETENTION, without fuzz, as the spec
# says cards are scheduled.
SCHEDULER = fsrs.Scheduler(desired_retention=0.9, enable_fuzzing=False)
AGAIN = 1
# A word_progress row's card columns, in this order in the tuples below.
CARD_COLUMNS = (
    "state",
    "step",
    "stability",
    "difficulty",
    "due",
    "last_review_at",
    "last_review_id",
    "first_reviewed_at",
    "reps",
    "lapses",
)


@dataclass(frozen=True)
class Replayed:
    """A word's card after its whole log, as a tuple of CARD_COLUMNS, and the reviews
    answered while the card was in the review state, as (reviewed_at, recalled)."""

    card: tuple[Any, ...]
    recalls: list[tuple[datetime, bool]]


def replay_log(log: list[Any]) -> Replayed:
    """Replay one (learner, word)'s reviews (anything with ``id``, ``reviewed_at`` and
    ``rating``) in ``(reviewed_at, id)`` order on a new fsrs card."""
    ordered = sorted(log, key=lambda item: (item.reviewed_at, item.id))
    first, last = ordered[0], ordered[-1]
    card = fsrs.Card(card_id=1, due=first.reviewed_at.astimezone(UTC))
    lapses = 0
    recalls: list[tuple[datetime, bool]] = []
    for item in ordered:
        if card.state == fsrs.State.Review:
            recalls.append((item.reviewed_at, item.rating != AGAIN))
            lapses += item.rating == AGAIN
        card, _ = SCHEDULER.review_card(
            card, fsrs.Rating(item.rating), item.reviewed_at.astimezone(UTC)
        )
    return Replayed(
        (
            card.state.value,
            card.step,
            card.stability,
            card.difficulty,
            card.due,
            last.reviewed_at,
            last.id,
            first.reviewed_at,
            len(ordered),
            lapses,
        ),
        recalls,
    )


def stored_card(row: Any) -> tuple[Any, ...]:
    """A word_progress row's card columns, as a tuple of CARD_COLUMNS."""
    return tuple(getattr(row, name) for name in CARD_COLUMNS)


def recount(engine: Engine) -> dict[str, dict[Any, Any]]:
    """Every counter and card as stored and as recomputed from the session and review rows.

    Returns ``{counter: {"stored": {...}, "recomputed": {...}}}``; a caller asserts they
    are equal, and may look at the recomputation (per learner) for its own checks.

    Reviews count on the UTC day they were answered (``reviewed_at``), sessions on the
    day they started. Each (learner, word)'s card is its reviews replayed with fsrs in
    ``(reviewed_at, id)`` order, and the day's recall counters count the reviews
    answered while that replay had the card in the review state.
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
    logs: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for item in reviews:
        per_session[item.study_session_id].append(item)
        logs[owner[item.study_session_id], item.word_id].append(item)

    words: Counter[tuple[int, int, bool]] = Counter(
        (owner[item.study_session_id], item.word_id, item.correct) for item in reviews
    )
    word_keys = {(learner, word) for learner, word, _ in words}
    groups: dict[tuple[int, int], list[datetime]] = defaultdict(list)
    activities: Counter[tuple[int, int]] = Counter()
    # sessions, reviews, correct, recall reviews, recalled
    days: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for row in sessions:
        groups[row.learner_id, row.group_id].append(row.created_at)
        activities[row.learner_id, row.study_activity_id] += 1
        days[row.learner_id, _utc_day(row.created_at)][0] += 1
    for item in reviews:
        day = days[owner[item.study_session_id], _utc_day(item.reviewed_at)]
        day[1] += 1
        day[2] += int(item.rating != AGAIN)
    cards = {}
    for (learner_id, word_id), log in logs.items():
        replayed = replay_log(log)
        cards[learner_id, word_id] = replayed.card
        for reviewed_at, recalled in replayed.recalls:
            day = days[learner_id, _utc_day(reviewed_at)]
            day[3] += 1
            day[4] += int(recalled)

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
                    max((item.reviewed_at for item in per_session[row.id]), default=None),
                )
                for row in sessions
            },
        },
        "word_review_items": {
            "stored": {item.id: (item.learner_id, item.correct) for item in reviews},
            "recomputed": {
                item.id: (owner[item.study_session_id], item.rating != AGAIN) for item in reviews
            },
        },
        "word_progress": {
            "stored": _nonzero(
                {(r.learner_id, r.word_id): (r.correct_count, r.wrong_count) for r in stored_words}
            ),
            "recomputed": {key: (words[(*key, True)], words[(*key, False)]) for key in word_keys},
        },
        # Every row with a card or a count must have the card of its log, and only those.
        "cards": {
            "stored": {
                (r.learner_id, r.word_id): stored_card(r)
                for r in stored_words
                if r.state is not None or r.correct_count or r.wrong_count
            },
            "recomputed": cards,
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
                    (r.learner_id, r.day): (
                        r.sessions_count,
                        r.reviews_count,
                        r.correct_count,
                        r.recall_reviews_count,
                        r.recalled_count,
                    )
                    for r in stored_days
                }
            ),
            "recomputed": {key: tuple(values) for key, values in days.items()},
        },
    }


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def assert_counters_match_rows(engine: Engine) -> None:
    """Assert that every learner's counters and cards equal a recomputation from their
    own rows, and every review row names its session's learner and its rating's
    correctness."""
    for counter, versions in recount(engine).items():
        assert versions["stored"] == versions["recomputed"], counter
