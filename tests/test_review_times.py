"""A session's end_time is never earlier than its newest review.

On PostgreSQL two batches for one session can commit in the other order than the one
they took their timestamps in: the later one locks the session row first. The batch
that commits last must not move ``last_review_at`` back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from lang_portal import db, scheduling, schema
from lang_portal.queries import reviews as review_queries
from lang_portal.queries import study_sessions as study_session_queries
from lang_portal.queries.learners import DEFAULT_LEARNER_ID

SCHEDULE = scheduling.scheduler(0.9)


def _review(word_id: int, correct: bool) -> review_queries.NewReview:
    return review_queries.NewReview(word_id, scheduling.rating_of(correct))


class _Clock:
    """Stands in for ``datetime`` in the query module, with a chosen ``now``."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self, tz: object = None) -> datetime:
        return self.moment


def test_a_batch_timed_earlier_but_committed_later_keeps_the_later_end_time(
    app, engine, monkeypatch
):
    later = datetime.now(UTC) + timedelta(seconds=10)
    earlier = later - timedelta(seconds=2)
    with db.writing(engine) as connection:
        created = study_session_queries.create(connection, DEFAULT_LEARNER_ID, 1, 1)
        review_queries.add_reviews(
            connection, DEFAULT_LEARNER_ID, created["id"], [_review(1, True)], SCHEDULE
        )
    monkeypatch.setattr(review_queries, "datetime", _Clock(later))
    with db.writing(engine) as connection:
        review_queries.add_reviews(
            connection, DEFAULT_LEARNER_ID, created["id"], [_review(2, True)], SCHEDULE
        )
    monkeypatch.setattr(review_queries, "datetime", _Clock(earlier))
    with db.writing(engine) as connection:
        review_queries.add_reviews(
            connection, DEFAULT_LEARNER_ID, created["id"], [_review(3, False)], SCHEDULE
        )
    with engine.connect() as connection:
        end_time = connection.execute(
            select(schema.study_sessions.c.last_review_at).where(
                schema.study_sessions.c.id == created["id"]
            )
        ).scalar_one()
        newest = select(func.max(schema.word_review_items.c.created_at))
        newest_review = connection.execute(newest).scalar()
    assert end_time == later == newest_review
    with app.app_context():
        listed = app.test_client().get(f"/api/study-sessions/{created['id']}").get_json()
    assert listed["session"]["end_time"].startswith(later.strftime("%Y-%m-%dT%H:%M:%S"))
