"""Session and review ids are never handed out twice, not even after a reset.

Before study_sessions and word_review_items were AUTOINCREMENT, SQLite gave the
first session after ``POST /api/study-sessions/reset`` id 1 again, and an activity
tab still open from before the reset posted its reviews into that new, unrelated
session. PostgreSQL sequences never go back; both engines must behave the same. A migration
that rebuilds these tables on SQLite must carry their sequences over: a copy of the
rows alone forgets the ids a reset deleted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from lang_portal import db, migrate, schema
from tests import previous_release
from tests.conftest import make_app
from tests.previous_release import PREVIOUS_HEAD
from tests.support import (
    NEW_STUDY_SESSION,
    STUDY_SESSIONS,
    reset_history,
    review_word,
    start_session,
)

JSON = {"Content-Type": "application/json"}


def stored_ids(engine: Engine) -> tuple[list[int], list[tuple[int, int]]]:
    """The session ids, and the (review id, session id) pairs, stored right now."""
    with engine.connect() as connection:
        sessions = connection.execute(select(schema.study_sessions.c.id).order_by("id")).scalars()
        reviews = connection.execute(
            select(
                schema.word_review_items.c.id, schema.word_review_items.c.study_session_id
            ).order_by("id")
        )
        return list(sessions), [tuple(row) for row in reviews]


def test_ids_after_a_reset_are_larger_than_any_handed_out_before(client, engine):
    old_sessions = [start_session(client) for _ in range(3)]
    old_reviews = [review_word(client, old, word_id) for old in old_sessions for word_id in (1, 2)]
    reset_history(client, engine)

    new_session = start_session(client)
    new_review = review_word(client, new_session)

    assert new_session > max(old_sessions)
    assert new_review > max(old_reviews)
    assert stored_ids(engine) == ([new_session], [(new_review, new_session)])


def test_a_tab_open_before_the_reset_cannot_post_into_a_new_session(client, engine):
    """The issue's story: the stale tab's session is gone, so its reviews are refused."""
    stale_session = start_session(client)
    review_word(client, stale_session)
    reset_history(client, engine)
    new_session = start_session(client)

    batch = client.post(
        f"/api/study-sessions/{stale_session}/review",
        json={"reviews": [{"word_id": 1, "is_correct": True}]},
    )
    single = client.post(
        f"/api/study-sessions/{stale_session}/words/1/review", json={"correct": False}
    )

    assert batch.status_code == 404
    assert single.status_code == 404
    assert stored_ids(engine) == ([new_session], [])


def test_ids_keep_growing_over_several_resets(client, engine):
    handed_out: list[int] = []
    for _ in range(3):
        handed_out += [start_session(client), start_session(client)]
        reset_history(client, engine)
    assert handed_out == sorted(set(handed_out))  # strictly increasing: none reused


@pytest.fixture(scope="session")
def previous_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The previous release's package (``src``), extracted from git."""
    return previous_release.source(tmp_path_factory.mktemp("previous-release"))


@pytest.fixture
def cli_engine(database_url: str) -> Iterator[Engine]:
    """The engine `lang-portal init-db` migrates with (foreign keys on, on SQLite)."""
    engine = db.create_engine_from_settings(make_app(database_url).config)
    yield engine
    engine.dispose()


def test_ids_reset_away_before_the_upgrade_are_not_handed_out_again(
    database_url, cli_engine, previous_src, tmp_path
):
    """The previous release reset its history, then the learners migration ran."""
    migrate.downgrade(cli_engine, "base")
    new_session = {"path": STUDY_SESSIONS, "json": NEW_STUDY_SESSION, "status": 201}
    review = {"json": {"correct": True}, "status": 201}
    writes = [
        {**new_session, "session": True},
        {"path": f"{STUDY_SESSIONS}/{{0}}/words/1/review", **review},
        {"path": f"{STUDY_SESSIONS}/{{0}}/words/2/review", **review},
        {**new_session, "session": True},
        {"path": f"{STUDY_SESSIONS}/reset", "data": "", "headers": JSON, "status": 200},
    ]
    old = previous_release.run(
        previous_src, tmp_path, database_url, revision=PREVIOUS_HEAD, writes=writes
    )
    old_reviews = [body["id"] for _, body in old["writes"][1:3]]
    assert stored_ids(cli_engine) == ([], [])

    migrate.upgrade(cli_engine)

    app = make_app(database_url)
    try:
        client = app.test_client()
        new_session_id = start_session(client)
        new_review = review_word(client, new_session_id)
    finally:
        app.extensions["lang_portal.engine"].dispose()
    assert new_session_id > max(old["sessions"])
    assert new_review > max(old_reviews)


def test_ids_reset_away_are_not_handed_out_again_after_a_downgrade_and_upgrade(
    client, engine, cli_engine
):
    old_sessions = [start_session(client) for _ in range(2)]
    old_reviews = [review_word(client, old_sessions[0], word_id) for word_id in (1, 2)]
    reset_history(client, engine)

    migrate.downgrade(cli_engine, PREVIOUS_HEAD)
    migrate.upgrade(cli_engine)

    new_session = start_session(client)
    assert new_session > max(old_sessions)
    assert review_word(client, new_session) > max(old_reviews)
