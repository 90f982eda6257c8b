"""Migration 0004 rates and times every review and replays every card from its log.

A database at revision 0003 is given a history written with SQL (0003's code is
gone): three learners, sessions over two months, right and wrong answers (a batch's
reviews share one instant, as 0003 recorded them; one review was recorded out of
time order), a word answered nine times with two lapses, and a reset that
deleted the largest review id. After ``upgrade head``:

- each review belongs to its session's learner, is rated good (right) or again
  (wrong), and was answered when it was recorded;
- each card is what lang_portal.scheduling replays from those reviews, with the
  DESIRED_RETENTION of the environment;
- each day counts the reviews answered in the review state, and those recalled.

Downgrading to 0003 gives back every row as it was, and no review id is handed out
twice on either engine.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, delete, insert, select

from lang_portal import db, migrate, scheduling, schema, settings
from tests.previous_release import tables

RETENTION = 0.85  # not the default: the migration must read the setting
START = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)
WORDS = 5
DEFAULT, AIKO, BEN = 1, 2, 3
# (learner, when the session started, its batch of (word, correct)), in insertion
# order. Every review of a batch is recorded at the session's start.
SESSIONS: list[tuple[int, datetime, list[tuple[int, bool]]]] = [
    (DEFAULT, START, [(1, True), (2, False), (3, True), (3, True)]),
    (DEFAULT, START + timedelta(minutes=10), [(1, True), (2, False)]),
    (AIKO, START + timedelta(days=1, hours=3), [(1, True), (5, False)]),
    (DEFAULT, START + timedelta(days=1), [(1, True), (2, True), (3, False)]),
    (DEFAULT, START + timedelta(days=3), [(1, True), (2, True)]),
    (AIKO, START + timedelta(days=2), [(1, True), (5, True)]),
    (DEFAULT, START + timedelta(days=7), [(1, True), (2, True)]),
    (DEFAULT, START + timedelta(days=15), [(1, False), (2, True)]),
    (AIKO, START + timedelta(days=6), [(1, True), (5, False)]),
    (DEFAULT, START + timedelta(days=30), [(1, True)]),
    (AIKO, START + timedelta(days=20), [(1, False), (5, True)]),
    # The last second of a UTC day: the review counts on that day.
    (DEFAULT, datetime(2026, 5, 1, 23, 59, 59, 999999, tzinfo=UTC), [(1, True), (4, True)]),
    # Recorded after the later sessions above, but answered before them.
    (DEFAULT, START + timedelta(days=5), [(1, False), (3, True), (4, False)]),
    # Ben's history, the newest ids of all, is reset (deleted) before the upgrade.
    (BEN, START + timedelta(days=40), [(1, True), (2, True), (2, False)]),
]


@dataclass(frozen=True)
class Review:
    """One review as 0003 recorded it."""

    id: int
    learner_id: int
    word_id: int
    study_session_id: int
    correct: bool
    created_at: datetime


def _reflected(engine: Engine) -> dict[str, Any]:
    """The tables as they are in the database (at 0003: its schema.py is gone)."""
    reflected = MetaData()
    reflected.reflect(engine)
    return reflected.tables


def _write_history(engine: Engine) -> list[Review]:
    """SESSIONS, with the vocabulary and counters they need, at revision 0003; Ben's
    history then reset. Returns every review kept."""
    t = _reflected(engine)
    reviews: list[Review] = []
    word_counts: Counter[tuple[int, int, bool]] = Counter()
    days: defaultdict[tuple[int, date], Counter[str]] = defaultdict(Counter)
    with db.writing(engine) as connection:
        for learner_id, name in ((AIKO, "Aiko"), (BEN, "Ben")):
            connection.execute(
                insert(t["learners"]).values(
                    id=learner_id,
                    name=name,
                    name_key=name.lower(),
                    role="learner",
                    created_at=START - timedelta(days=1),
                )
            )
        for number in range(1, WORDS + 1):
            connection.execute(
                insert(t["words"]).values(
                    id=number,
                    kanji=f"字{number}",
                    romaji=f"ji{number}",
                    english=f"word {number}",
                    parts=[],
                    created_at=START - timedelta(days=1),
                )
            )
        connection.execute(insert(t["groups"]).values(id=1, name="basics", words_count=0))
        connection.execute(
            insert(t["study_activities"]).values(id=1, name="flashcards", url="http://a.test")
        )
        for learner_id, started, batch in SESSIONS:
            right = sum(correct for _, correct in batch)
            session_id = connection.execute(
                insert(t["study_sessions"]).values(
                    learner_id=learner_id,
                    group_id=1,
                    study_activity_id=1,
                    created_at=started,
                    review_items_count=len(batch),
                    correct_count=right,
                    wrong_count=len(batch) - right,
                    last_review_at=started,
                )
            ).inserted_primary_key[0]
            day = days[(learner_id, started.date())]
            day.update(sessions_count=1, reviews_count=len(batch), correct_count=right)
            for word_id, correct in batch:
                review_id = connection.execute(
                    insert(t["word_review_items"]).values(
                        word_id=word_id,
                        study_session_id=session_id,
                        correct=correct,
                        created_at=started,
                    )
                ).inserted_primary_key[0]
                reviews.append(Review(review_id, learner_id, word_id, session_id, correct, started))
                word_counts[(learner_id, word_id, correct)] += 1
        for learner_id, word_id in sorted({(r.learner_id, r.word_id) for r in reviews}):
            connection.execute(
                insert(t["word_progress"]).values(
                    learner_id=learner_id,
                    word_id=word_id,
                    correct_count=word_counts[(learner_id, word_id, True)],
                    wrong_count=word_counts[(learner_id, word_id, False)],
                )
            )
        for (learner_id, day_), counters in sorted(days.items()):
            connection.execute(
                insert(t["daily_activity"]).values(learner_id=learner_id, day=day_, **counters)
            )
    with db.writing(engine) as connection:  # Ben's reset, as 0003's code did it
        sessions = select(t["study_sessions"].c.id).where(t["study_sessions"].c.learner_id == BEN)
        reviews_table = t["word_review_items"]
        connection.execute(
            delete(reviews_table).where(reviews_table.c.study_session_id.in_(sessions))
        )
        for name in ("study_sessions", "word_progress", "daily_activity"):
            connection.execute(delete(t[name]).where(t[name].c.learner_id == BEN))
    return [review for review in reviews if review.learner_id != BEN]


def _sqlite_sequence(engine: Engine) -> int | None:
    """The largest review id SQLite ever handed out (None on PostgreSQL)."""
    if engine.dialect.name != "sqlite":
        return None
    with engine.connect() as connection:
        return connection.exec_driver_sql(
            "SELECT seq FROM sqlite_sequence WHERE name = 'word_review_items'"
        ).scalar_one()


@pytest.fixture
def cli_engine(database_url: str) -> Iterator[Engine]:
    """The engine `lang-portal init-db` migrates with (foreign keys on, on SQLite)."""
    engine = db.create_engine_from_settings(settings.load({"DATABASE_URL": database_url}))
    yield engine
    engine.dispose()


@pytest.fixture
def history_at_0003(
    cli_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Review], int]:
    """An empty database at 0003 given SESSIONS; returns its reviews and the largest
    review id ever handed out (Ben's, deleted)."""
    monkeypatch.setenv(settings.ENV_PREFIX + "DESIRED_RETENTION", str(RETENTION))
    migrate.downgrade(cli_engine, "base")
    migrate.upgrade(cli_engine, "0003")
    reviews = _write_history(cli_engine)
    largest = sum(len(batch) for _, _, batch in SESSIONS)
    assert max(review.id for review in reviews) < largest
    return reviews, largest


def _logs(reviews: list[Review]) -> dict[tuple[int, int], list[scheduling.LoggedReview]]:
    """Each (learner, word)'s log, as the review state and rating define it."""
    logs: defaultdict[tuple[int, int], list[scheduling.LoggedReview]] = defaultdict(list)
    for review in reviews:
        rating = scheduling.GOOD if review.correct else scheduling.AGAIN
        logs[(review.learner_id, review.word_id)].append(
            scheduling.LoggedReview(review.id, review.created_at, rating)
        )
    return {key: sorted(log, key=lambda review: review.order) for key, log in logs.items()}


def _recalls(
    logs: dict[tuple[int, int], list[scheduling.LoggedReview]], retention: float
) -> dict[tuple[int, date], tuple[int, int]]:
    """Recounted: each (learner, UTC day)'s reviews in the review state, and recalled."""
    counts: defaultdict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])
    for (learner_id, _), log in logs.items():
        applied = scheduling.replay(scheduling.scheduler(retention), log)
        for review, state in zip(log, applied.states_before, strict=True):
            if state == scheduling.REVIEW:
                day = counts[(learner_id, review.reviewed_at.date())]
                day[0] += 1
                day[1] += review.rating != scheduling.AGAIN
    return {key: (recall, recalled) for key, (recall, recalled) in counts.items()}


def _rows(engine: Engine, table: Any) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(table))]


def test_upgrade_rates_every_review_and_replays_every_card(history_at_0003, cli_engine, caplog):
    reviews, largest = history_at_0003
    before = tables(cli_engine)
    sequence = _sqlite_sequence(cli_engine)
    assert sequence in (largest, None)
    caplog.set_level(logging.INFO, logger="alembic.runtime.migration")

    migrate.upgrade(cli_engine)

    # The log: the session's learner, good or again, answered when recorded.
    recorded = {review.id: review for review in reviews}
    sessions = {row["id"]: row["learner_id"] for row in _rows(cli_engine, schema.study_sessions)}
    rated = _rows(cli_engine, schema.word_review_items)
    assert sorted(row["id"] for row in rated) == sorted(recorded)
    for row in rated:
        review = recorded[row["id"]]
        assert row == {
            "id": review.id,
            "learner_id": review.learner_id,
            "word_id": review.word_id,
            "study_session_id": review.study_session_id,
            "correct": review.correct,
            "rating": 3 if review.correct else 1,
            "reviewed_at": review.created_at,
            "duration_ms": None,
            "created_at": review.created_at,
        }
        assert row["learner_id"] == sessions[row["study_session_id"]]

    # The cards: each word's log replayed, with the retention of the environment.
    logs = _logs(reviews)
    progress = {
        (row["learner_id"], row["word_id"]): row for row in _rows(cli_engine, schema.word_progress)
    }
    assert set(progress) == set(logs)
    at_default_retention = 0
    for key, log in logs.items():
        card = scheduling.replay(scheduling.scheduler(RETENTION), log).card
        assert {name: progress[key][name] for name in scheduling.CARD_FIELDS} == (
            scheduling.to_row(card)
        ), key
        default_card = scheduling.replay(scheduling.scheduler(0.9), log).card
        at_default_retention += default_card.due == card.due
    assert at_default_retention < len(logs)  # the setting made a difference
    # Pinned by hand: the default learner's word 1, answered nine times, twice wrongly
    # in the review state, and Aiko's word 1, which lapsed on its last review.
    word_1 = progress[(DEFAULT, 1)]
    assert (word_1["state"], word_1["reps"], word_1["lapses"]) == (scheduling.REVIEW, 9, 2)
    assert word_1["first_reviewed_at"] == START
    assert word_1["last_review_at"] == datetime(2026, 5, 1, 23, 59, 59, 999999, tzinfo=UTC)
    aiko_1 = progress[(AIKO, 1)]
    assert (aiko_1["state"], aiko_1["reps"], aiko_1["lapses"]) == (scheduling.RELEARNING, 4, 1)
    # The 0003 counters are untouched.
    assert [
        {name: row[name] for name in ("learner_id", "word_id", "correct_count", "wrong_count")}
        for row in sorted(progress.values(), key=lambda row: (row["learner_id"], row["word_id"]))
    ] == before["word_progress"]

    # The days: every review answered in the review state counted on its UTC day.
    recalls = _recalls(logs, RETENTION)
    days = {
        (row["learner_id"], row["day"]): row for row in _rows(cli_engine, schema.daily_activity)
    }
    assert set(recalls) <= set(days)
    for key, row in days.items():
        assert (row["recall_reviews_count"], row["recalled_count"]) == recalls.get(key, (0, 0))
    assert recalls[(DEFAULT, date(2026, 5, 1))] == (1, 1)
    assert recalls[(DEFAULT, (START + timedelta(days=15)).date())] == (2, 1)  # word 1's lapse
    assert sum(recall for recall, _ in recalls.values()) > sum(
        recalled for _, recalled in recalls.values()
    )
    assert f"0004: replayed {len(logs)} cards from {len(reviews)} reviews" in caplog.messages

    # No id handed out again: not the deleted largest, and not on SQLite's sequence.
    assert _sqlite_sequence(cli_engine) == sequence
    migrate.downgrade(cli_engine, "0003")
    assert tables(cli_engine) == before
    assert _sqlite_sequence(cli_engine) == sequence
    migrate.upgrade(cli_engine)
    with db.writing(cli_engine) as connection:
        new_id = connection.execute(
            insert(schema.word_review_items).values(
                learner_id=DEFAULT,
                word_id=1,
                study_session_id=reviews[0].study_session_id,
                correct=True,
                rating=scheduling.GOOD,
                reviewed_at=datetime.now(UTC),
                created_at=datetime.now(UTC),
            )
        ).inserted_primary_key[0]
    assert new_id > largest


def test_a_day_without_its_row_gets_one(history_at_0003, cli_engine):
    """Days without a daily_activity row (impossible as 0003 counted) still get their
    recall counters: in a new row that counts nothing else."""
    reviews, _ = history_at_0003
    recalls = _recalls(_logs(reviews), RETENTION)
    missing = (DEFAULT, (START + timedelta(days=15)).date())
    daily_activity = _reflected(cli_engine)["daily_activity"]
    with db.writing(cli_engine) as connection:
        connection.execute(
            delete(daily_activity).where(
                daily_activity.c.learner_id == missing[0], daily_activity.c.day == missing[1]
            )
        )

    migrate.upgrade(cli_engine)

    days = {
        (row["learner_id"], row["day"]): row for row in _rows(cli_engine, schema.daily_activity)
    }
    assert days[missing] == {
        "learner_id": missing[0],
        "day": missing[1],
        "sessions_count": 0,
        "reviews_count": 0,
        "correct_count": 0,
        "recall_reviews_count": recalls[missing][0],
        "recalled_count": recalls[missing][1],
    }
    assert recalls[missing] == (2, 1)
