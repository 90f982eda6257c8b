"""Recording a learner's reviews of words in one of their study sessions, and
scheduling the words they reviewed.

A batch of reviews moves the counters that reads rely on (the session's, and the
learner's for each word and for each day) and the learner's cards of the words
(:mod:`lang_portal.scheduling`) in the same transaction as the review rows, all or
nothing.

A card is a pure function of its word's reviews in ``(reviewed_at, id)`` order.
Reviews that come after the card's last one continue it; a review answered earlier
(an offline device syncing late) makes the card replay the word's whole log. Either
way the cards are read locked (PostgreSQL: FOR UPDATE, in word-id order as every
write locks rows; on SQLite writes take turns) and written back with the counters in
one upsert, so two batches never lose each other's update. A word never reviewed has
no row to lock: the learner's own row, which every write locks first
(:func:`lang_portal.queries.learners.touch`), keeps a second batch of the same
learner from creating it meanwhile.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import fsrs
from sqlalchemy import Connection, Integer, bindparam, case, select, update

from lang_portal import db, scheduling, schema
from lang_portal.queries import xapi_outbox
from lang_portal.queries.problems import ReviewTimeOutOfRange, UnknownStudySession, UnknownWord
from lang_portal.queries.study_sessions import count_days

# How far ahead of the server's clock a device's reviewed_at may be (clock skew).
FUTURE_LEEWAY = timedelta(seconds=60)


@dataclass(frozen=True)
class NewReview:
    """A review to record: the word, its rating (1 again to 4 easy), and optionally when
    it was answered (default: now) and how long the answer took."""

    word_id: int
    rating: int
    reviewed_at: datetime | None = None
    duration_ms: int | None = None


@dataclass(frozen=True)
class Recorded:
    """What a batch recorded: its review rows by id (the batch's order), and the card of
    each word it reviewed, after the batch, by word id."""

    reviews: list[dict[str, Any]]
    cards: dict[int, scheduling.Card]


# Built once, with bind parameters, like the statements of create(): see
# lang_portal.queries.study_sessions.
_REVIEWED_AT = bindparam("last_review_at", type_=schema.study_sessions.c.last_review_at.type)
_ADD_REVIEWS_TO_SESSION = (
    update(schema.study_sessions)
    .where(
        schema.study_sessions.c.id
        == bindparam("counted_session_id", type_=schema.study_sessions.c.id.type),
        schema.study_sessions.c.learner_id
        == bindparam("owner_id", type_=schema.study_sessions.c.learner_id.type),
    )
    .values(
        review_items_count=schema.study_sessions.c.review_items_count
        + bindparam("reviews", type_=Integer),
        correct_count=schema.study_sessions.c.correct_count + bindparam("right", type_=Integer),
        wrong_count=schema.study_sessions.c.wrong_count + bindparam("wrong", type_=Integer),
        # The later of the two: on PostgreSQL a concurrent batch that took its time
        # after this one may have locked the row, and committed, first.
        last_review_at=case(
            (
                schema.study_sessions.c.last_review_at > _REVIEWED_AT,
                schema.study_sessions.c.last_review_at,
            ),
            else_=_REVIEWED_AT,
        ),
    )
    .returning(schema.study_sessions.c.created_at)
)
_EXISTING_WORDS = select(schema.words.c.id).where(
    schema.words.c.id.in_(bindparam("word_ids", expanding=True))
)
# A batch's reviews and cards are written by the driver, all rows in one statement
# (db.insert_rows). RETURNING gives each review's id with what tells the reviews apart:
# rows come back in no promised order, and the ids, not the order of the request, break
# ties between two reviews answered at the same instant.
_REVIEW_COLUMNS = (
    "learner_id",
    "word_id",
    "study_session_id",
    "correct",
    "rating",
    "reviewed_at",
    "duration_ms",
    "created_at",
)
_RETURN_REVIEWS = "RETURNING id, word_id, rating, reviewed_at, duration_ms"
COUNTS = ("correct_count", "wrong_count")
_PROGRESS_COLUMNS = ("learner_id", "word_id", *COUNTS, *scheduling.CARD_FIELDS)
# Add the counts to a word's row and write its card; a new row for a word never reviewed.
_COUNT_AND_SCHEDULE = "ON CONFLICT (learner_id, word_id) DO UPDATE SET " + ", ".join(
    [f"{name} = word_progress.{name} + excluded.{name}" for name in COUNTS]
    + [f"{name} = excluded.{name}" for name in scheduling.CARD_FIELDS]
)
_CARD_COLUMNS = [schema.word_progress.c[name] for name in scheduling.CARD_FIELDS]
# The learner's cards of a batch's words, locked (PostgreSQL) in word-id order like
# every lock a write takes. A word never reviewed has no row to lock; no other batch can
# create it meanwhile, because every write of a learner first locks the learner's row
# (queries.learners.touch), and on SQLite writes take turns.
_CARDS_OF = (
    select(schema.word_progress.c.word_id, *_CARD_COLUMNS)
    .where(
        schema.word_progress.c.learner_id == bindparam("learner_id"),
        schema.word_progress.c.word_id.in_(bindparam("word_ids", expanding=True)),
    )
    .order_by(schema.word_progress.c.word_id)
    .with_for_update()
)
_review_log = schema.word_review_items
_WORD_LOGS = (
    select(_review_log.c.word_id, _review_log.c.id, _review_log.c.reviewed_at, _review_log.c.rating)
    .where(
        _review_log.c.learner_id == bindparam("learner_id"),
        _review_log.c.word_id.in_(bindparam("word_ids", expanding=True)),
    )
    .order_by(_review_log.c.word_id, _review_log.c.reviewed_at, _review_log.c.id)
)


def add_reviews(
    connection: Connection,
    learner_id: int,
    study_session_id: int,
    reviews: list[NewReview],
    schedule: fsrs.Scheduler,
    *,
    queue_statements: bool = False,
) -> Recorded:
    """Record reviews in one of the learner's sessions and reschedule their words, all
    or nothing.

    With ``queue_statements`` (an LRS is set: LANG_PORTAL_XAPI_ENDPOINT), the reviews'
    xAPI statements are queued in the xapi outbox in the same transaction, so they are
    sent if and only if the reviews commit.

    Raises UnknownStudySession when the learner has no such session (another learner's
    is none of theirs), UnknownWord for the first review (by index) whose word does
    not exist, and ReviewTimeOutOfRange for the first review answered before the
    session started or more than FUTURE_LEEWAY ahead of now.
    """
    now = datetime.now(UTC)
    answered = [review.reviewed_at or now for review in reviews]
    correct_total = sum(1 for review in reviews if scheduling.is_correct(review.rating))
    started = connection.execute(
        _ADD_REVIEWS_TO_SESSION,
        {
            "counted_session_id": study_session_id,
            "owner_id": learner_id,
            "reviews": len(reviews),
            "right": correct_total,
            "wrong": len(reviews) - correct_total,
            "last_review_at": max(answered),
        },
    ).scalar()
    if started is None:
        raise UnknownStudySession(study_session_id)
    _check_times(answered, started, now)
    word_ids = sorted({review.word_id for review in reviews})
    existing = set(connection.execute(_EXISTING_WORDS, {"word_ids": word_ids}).scalars())
    for index, review in enumerate(reviews):
        if review.word_id not in existing:
            raise UnknownWord(review.word_id, index)
    stored = connection.execute(_CARDS_OF, {"learner_id": learner_id, "word_ids": word_ids})
    cards = dict.fromkeys(word_ids) | {row.word_id: scheduling.from_row(row) for row in stored}
    recorded = _insert_reviews(connection, learner_id, study_session_id, reviews, answered, now)
    if queue_statements:
        xapi_outbox.add(connection, [row["id"] for row in recorded], now)
    days = _DayCounts()
    for row in recorded:
        days.add_review(row["reviewed_at"], row["correct"])
    logged: dict[int, list[scheduling.LoggedReview]] = defaultdict(list)
    for row in recorded:
        logged[row["word_id"]].append(
            scheduling.LoggedReview(row["id"], row["reviewed_at"], row["rating"])
        )
    late = [
        word_id
        for word_id, batch in logged.items()
        if scheduling.needs_replay(cards[word_id], batch)
    ]
    logs = _logs_of(connection, learner_id, late)
    rescheduled = {
        word_id: _reschedule(cards[word_id], batch, logs.get(word_id), schedule, days)
        for word_id, batch in sorted(logged.items())
    }
    _write_cards(connection, learner_id, reviews, rescheduled)
    count_days(connection, learner_id, days.rows())
    return Recorded(recorded, rescheduled)


def _insert_reviews(
    connection: Connection,
    learner_id: int,
    study_session_id: int,
    reviews: list[NewReview],
    answered: list[datetime],
    now: datetime,
) -> list[dict[str, Any]]:
    """Store the batch's reviews, answered at ``answered``, in one statement; the review
    rows as the API shows them, by id (the batch's order)."""
    to_driver = db.driver_time(connection)
    stored_now = to_driver(now)
    rows = [
        (
            learner_id,
            review.word_id,
            study_session_id,
            scheduling.is_correct(review.rating),
            review.rating,
            to_driver(reviewed_at),
            review.duration_ms,
            stored_now,
        )
        for review, reviewed_at in zip(reviews, answered, strict=True)
    ]
    as_time = schema.UTCDateTime().process_result_value
    returned = db.insert_rows(
        connection, schema.word_review_items, _REVIEW_COLUMNS, rows, _RETURN_REVIEWS
    )
    recorded = (
        {
            "id": review_id,
            "word_id": word_id,
            "study_session_id": study_session_id,
            "correct": scheduling.is_correct(rating),
            "rating": rating,
            "reviewed_at": as_time(reviewed_at, connection.dialect),
            "duration_ms": duration_ms,
            "created_at": now,
        }
        for review_id, word_id, rating, reviewed_at, duration_ms in returned
    )
    return sorted(recorded, key=lambda row: row["id"])


def _check_times(answered: list[datetime], started: datetime, now: datetime) -> None:
    latest = now + FUTURE_LEEWAY
    for index, reviewed_at in enumerate(answered):
        if reviewed_at < started:
            raise ReviewTimeOutOfRange(index, "is before the study session started")
        if reviewed_at > latest:
            raise ReviewTimeOutOfRange(index, "is more than 60 seconds in the future")


def _write_cards(
    connection: Connection,
    learner_id: int,
    reviews: list[NewReview],
    cards: dict[int, scheduling.Card],
) -> None:
    """Add the batch's right and wrong answers to each word's row, with its new card,
    creating the rows of words never reviewed: one statement for all the words (a
    50-review batch is one statement, not 50), in word-id order like every lock."""
    right = Counter(r.word_id for r in reviews if scheduling.is_correct(r.rating))
    wrong = Counter(r.word_id for r in reviews if not scheduling.is_correct(r.rating))
    to_driver = db.driver_time(connection)
    rows = [
        (
            learner_id,
            word_id,
            right[word_id],
            wrong[word_id],
            *(
                to_driver(value) if name in scheduling.CARD_TIMES else value
                for name, value in scheduling.to_row(cards[word_id]).items()
            ),
        )
        for word_id in sorted(cards)
    ]
    db.insert_rows(connection, schema.word_progress, _PROGRESS_COLUMNS, rows, _COUNT_AND_SCHEDULE)


def _logs_of(
    connection: Connection, learner_id: int, word_ids: list[int]
) -> dict[int, list[scheduling.LoggedReview]]:
    """The whole review log of each of these words, the batch's reviews included, in
    ``(reviewed_at, id)`` order: one statement for all of them."""
    if not word_ids:
        return {}
    logs: dict[int, list[scheduling.LoggedReview]] = defaultdict(list)
    rows = connection.execute(_WORD_LOGS, {"learner_id": learner_id, "word_ids": sorted(word_ids)})
    for word_id, review_id, reviewed_at, rating in rows:
        logs[word_id].append(scheduling.LoggedReview(review_id, reviewed_at, rating))
    return logs


def _reschedule(
    card: scheduling.Card | None,
    batch: list[scheduling.LoggedReview],
    log: list[scheduling.LoggedReview] | None,
    schedule: fsrs.Scheduler,
    days: _DayCounts,
) -> scheduling.Card:
    """The word's card after the batch: continued, or replayed from ``log`` (the word's
    whole log, given when a review of the batch comes before the card's last one). The
    recall counters of ``days`` move by what changed in the states the card was in when
    each review was answered."""
    if log is None:
        applied = scheduling.apply(schedule, card, batch)
        days.add_recalls(sorted(batch, key=lambda review: review.order), applied, +1)
        return applied.card
    batch_ids = {review.id for review in batch}
    before = [review for review in log if review.id not in batch_ids]
    days.add_recalls(before, scheduling.replay(schedule, before), -1)
    after = scheduling.replay(schedule, log)
    days.add_recalls(log, after, +1)
    return after.card


class _DayCounts:
    """The batch's changes to the learner's daily_activity rows, by UTC day answered."""

    def __init__(self) -> None:
        self._counts: dict[date, Counter[str]] = defaultdict(Counter)

    def add_review(self, reviewed_at: datetime, correct: bool) -> None:
        day = self._counts[reviewed_at.astimezone(UTC).date()]
        day["reviews_count"] += 1
        day["correct_count"] += correct

    def add_recalls(
        self, ordered: list[scheduling.LoggedReview], applied: scheduling.Applied, sign: int
    ) -> None:
        """Count (sign +1) or uncount (-1) the reviews answered in the review state."""
        for review, state in zip(ordered, applied.states_before, strict=True):
            if state == scheduling.REVIEW:
                day = self._counts[review.reviewed_at.astimezone(UTC).date()]
                day["recall_reviews_count"] += sign
                day["recalled_count"] += sign * scheduling.is_correct(review.rating)

    def rows(self) -> dict[date, Counter[str]]:
        """The changes by day, in day order."""
        return dict(sorted(self._counts.items()))
