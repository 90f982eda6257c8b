"""Recording a learner's reviews of words in one of their study sessions.

A batch of reviews moves the counters that reads rely on (the session's, and the
learner's for each word and for today) in the same transaction as the review rows,
all or nothing.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, case, insert, select, update

from lang_portal import db, schema
from lang_portal.queries.problems import UnknownStudySession, UnknownWord
from lang_portal.queries.study_sessions import count_day

# Built once, with bind parameters, like the statements of create(): see
# lang_portal.queries.study_sessions.
_REVIEWED_AT = bindparam("now", type_=schema.study_sessions.c.last_review_at.type)
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
)
_EXISTING_WORDS = select(schema.words.c.id).where(
    schema.words.c.id.in_(bindparam("word_ids", expanding=True))
)
_INSERT_REVIEWS = insert(schema.word_review_items).returning(
    schema.word_review_items.c.id,
    schema.word_review_items.c.word_id,
    schema.word_review_items.c.correct,
)


def _count_words_statement(connection: Connection) -> Any:
    """The upsert that adds right and wrong answers to a learner's row for a word."""
    progress = schema.word_progress
    upsert = db.upsert(connection, progress, ["learner_id", "word_id"])
    return upsert.on_conflict_do_update(
        index_elements=["learner_id", "word_id"],
        set_={
            name: progress.c[name] + upsert.excluded[name]
            for name in ("correct_count", "wrong_count")
        },
    )


def add_reviews(
    connection: Connection,
    learner_id: int,
    study_session_id: int,
    reviews: list[tuple[int, bool]],
) -> list[dict[str, Any]]:
    """Record (word_id, correct) reviews in one of the learner's sessions, all or nothing.

    Raises UnknownStudySession when the learner has no such session (another learner's
    is none of theirs), and UnknownWord for the first review (by index) whose word does
    not exist.
    """
    now = datetime.now(UTC)
    correct_total = sum(1 for _, correct in reviews if correct)
    found = connection.execute(
        _ADD_REVIEWS_TO_SESSION,
        {
            "counted_session_id": study_session_id,
            "owner_id": learner_id,
            "reviews": len(reviews),
            "right": correct_total,
            "wrong": len(reviews) - correct_total,
            "now": now,
        },
    ).rowcount
    if not found:
        raise UnknownStudySession(study_session_id)
    word_ids = {word_id for word_id, _ in reviews}
    existing = set(connection.execute(_EXISTING_WORDS, {"word_ids": list(word_ids)}).scalars())
    for index, (word_id, _) in enumerate(reviews):
        if word_id not in existing:
            raise UnknownWord(word_id, index)
    created = connection.execute(
        _INSERT_REVIEWS,
        [
            {"word_id": w, "study_session_id": study_session_id, "correct": c, "created_at": now}
            for w, c in reviews
        ],
    ).all()
    right = Counter(word_id for word_id, correct in reviews if correct)
    wrong = Counter(word_id for word_id, correct in reviews if not correct)
    # One executemany for all the words (a 50-review batch is one statement, not 50),
    # in id order: two batches locking the same words in different orders deadlock on
    # PostgreSQL (a set's order depends on insertion order).
    connection.execute(
        db.statement_for(connection, "count_words", _count_words_statement),
        [
            {
                "learner_id": learner_id,
                "word_id": word_id,
                "correct_count": right[word_id],
                "wrong_count": wrong[word_id],
            }
            for word_id in sorted(word_ids)
        ],
    )
    count_day(connection, learner_id, now, sessions=0, reviews=len(reviews), correct=correct_total)
    return [
        {
            "id": row.id,
            "word_id": row.word_id,
            "study_session_id": study_session_id,
            "correct": row.correct,
            "created_at": now,
        }
        for row in created
    ]
