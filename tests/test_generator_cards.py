"""bench/generate.py writes review logs, cards and recall counters the API agrees with.

The generator derives every learner's reviews from its random pools in Python and
replays them with lang_portal.scheduling, while the database expands the same reviews
by itself: its own ``--check`` (check_counters, check_cards) must find every counter
and every card equal to a recomputation from the rows, on both databases, and the API
must continue the generated cards (in order and out of order) as if it had written them.
tests/test_counters.py holds the generator's older counters to the API's.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from lang_portal import scheduling, schema
from tests.test_counters import load_generator


def assert_consistent(generator, engine, skip: tuple[str, ...] = ()) -> dict:
    """Every counter and every card of every learner equals its recomputation."""
    for name, result in generator.check_counters(engine).items():
        if name in skip:
            continue
        assert result["missing"] == result["extra"] == 0, (name, result)
        assert result["rows"] == result["recomputed"], (name, result)
    cards = generator.check_cards(engine, pairs=10**6, learners=10**6)
    assert cards["cards_differ"] == cards["days_differ"] == 0, cards["examples"]
    return cards


def test_the_generated_cards_are_the_replays_of_the_generated_logs(database_url, engine):
    generator = load_generator()

    generator.generate(
        database_url, sessions=120, reviews_per_session=6, seed=7, learners=3, progress=False
    )

    cards = assert_consistent(generator, engine)
    assert cards["learners"] == [1, 2, 3] and cards["cards"] > 100 and cards["days"] > 50
    with engine.connect() as connection:
        sessions = {row.id: row for row in connection.execute(select(schema.study_sessions))}
        reviews = connection.execute(
            select(schema.word_review_items).order_by(schema.word_review_items.c.id)
        ).all()
        recalls = connection.execute(select(schema.daily_activity.c.recall_reviews_count)).scalars()
        assert sum(recalls) > 0  # some reviews were answered in the review state
    assert len(reviews) == 720
    ratings = Counter(review.rating for review in reviews)
    assert set(ratings) == {1, 2, 3, 4} and ratings[3] > ratings[1] > 0
    previous: dict[int, object] = {}
    for review in reviews:
        session = sessions[review.study_session_id]
        assert review.learner_id == session.learner_id
        assert review.correct == (review.rating != scheduling.AGAIN)
        assert 1500 <= review.duration_ms <= 8000
        # Answered one after the other from the session's start, recorded after the last.
        assert review.reviewed_at > previous.get(session.id, session.created_at - timedelta(1))
        assert session.created_at < review.reviewed_at <= session.last_review_at
        assert review.created_at > session.last_review_at
        previous[session.id] = review.reviewed_at


def test_learners_with_long_logs_are_split_over_processes(database_url, engine, monkeypatch):
    generator = load_generator()
    # Every learner's words in three parts, computed by two worker processes.
    monkeypatch.setattr(generator, "TASK_REVIEWS", 100)

    generator.generate(
        database_url,
        sessions=90,
        reviews_per_session=3,
        seed=11,
        learners=2,
        progress=False,
        jobs=2,
    )

    assert_consistent(generator, engine)


def test_the_api_continues_the_generated_cards(database_url, client, engine):
    """A review answered now continues the card; one answered before the card's last
    review makes the API replay the log, moving the recall counters by the difference
    between two replays: both leave every card and counter as a full recount says."""
    generator = load_generator()
    generator.generate(
        database_url, sessions=60, reviews_per_session=5, seed=5, learners=1, progress=False
    )
    with engine.connect() as connection:
        card_row = connection.execute(
            select(schema.word_progress).order_by(schema.word_progress.c.reps.desc()).limit(1)
        ).one()
        word_id = card_row.word_id
        # The oldest session: any time after its start comes before the card's last review.
        oldest = connection.execute(
            select(schema.study_sessions).order_by(schema.study_sessions.c.id).limit(1)
        ).one()
    stored = scheduling.from_row(card_row)
    assert stored is not None and stored.reps >= 3

    in_order = client.post(
        f"/api/study-sessions/{oldest.id}/words/{word_id}/review", json={"rating": "hard"}
    )
    assert in_order.status_code == 201, in_order.get_json()
    late = (oldest.created_at + timedelta(seconds=1)).isoformat()
    out_of_order = client.post(
        f"/api/study-sessions/{oldest.id}/words/{word_id}/review",
        json={"rating": "again", "reviewed_at": late},
    )
    assert out_of_order.status_code == 201, out_of_order.get_json()

    # (A request's last_active_at is its own clock reading, not its review's created_at.)
    assert_consistent(generator, engine, skip=("learners.last_active_at",))
    with engine.connect() as connection:
        row = connection.execute(
            select(schema.word_progress).where(
                schema.word_progress.c.learner_id == 1, schema.word_progress.c.word_id == word_id
            )
        ).one()
    assert scheduling.from_row(row).reps == stored.reps + 2
