"""Idempotency-Key on the writes: replays, conflicts, and claims that never outlive their work.

The key is claimed in the same transaction as the work it guards (lang_portal.idempotency),
so a failed or killed request leaves no claim behind, and a reset can never separate a
key from the session it created.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select

from lang_portal import db, schema
from lang_portal.queries import learners as learner_queries
from lang_portal.queries import study_sessions as study_session_queries
from lang_portal.queries.learners import DEFAULT_LEARNER_ID
from tests.conftest import count_rows
from tests.support import NEW_STUDY_SESSION, STUDY_SESSIONS, assert_problem

JSON = {"Content-Type": "application/json"}


def test_same_key_same_body_replays(client, engine):
    headers = {"Idempotency-Key": '"8e03978e-40d5-43e8-bc93-6894a57f9324"'}
    first = client.post(STUDY_SESSIONS, json=NEW_STUDY_SESSION, headers=headers)
    second = client.post(STUDY_SESSIONS, json=NEW_STUDY_SESSION, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Location"] == first.headers["Location"]
    assert "Idempotent-Replayed" not in first.headers
    assert count_rows(engine, "study_sessions") == 1
    with engine.connect() as connection:
        row = connection.execute(select(schema.idempotency_keys)).one()
    assert (row.learner_id, row.key, row.status_code) == (
        DEFAULT_LEARNER_ID,
        "8e03978e-40d5-43e8-bc93-6894a57f9324",
        201,
    )
    assert row.location == first.headers["Location"]


def test_key_is_the_same_whether_quoted_or_bare_and_across_aliases(client, engine):
    first = client.post(STUDY_SESSIONS, json=NEW_STUDY_SESSION, headers={"Idempotency-Key": "abc"})
    again = client.post(
        "/study_sessions", json=NEW_STUDY_SESSION, headers={"Idempotency-Key": '"abc"'}
    )
    assert again.get_json()["id"] == first.get_json()["id"]
    assert count_rows(engine, "study_sessions") == 1


def test_same_key_other_body_is_422(client, engine):
    headers = {"Idempotency-Key": "key-1"}
    assert client.post(STUDY_SESSIONS, json=NEW_STUDY_SESSION, headers=headers).status_code == 201
    assert_problem(
        client.post(STUDY_SESSIONS, json={**NEW_STUDY_SESSION, "group_id": 2}, headers=headers), 422
    )
    assert count_rows(engine, "study_sessions") == 1
    assert count_rows(engine, "idempotency_keys") == 1


def test_failed_request_does_not_use_up_the_key(client, engine):
    headers = {"Idempotency-Key": "key-2"}
    assert_problem(
        client.post(STUDY_SESSIONS, json={**NEW_STUDY_SESSION, "group_id": 999}, headers=headers),
        400,
    )
    assert count_rows(engine, "idempotency_keys") == 0
    assert (
        client.post(
            STUDY_SESSIONS, json={**NEW_STUDY_SESSION, "group_id": 999}, headers=headers
        ).status_code
        == 400
    )
    assert client.post(STUDY_SESSIONS, json=NEW_STUDY_SESSION, headers=headers).status_code == 201
    assert count_rows(engine, "study_sessions") == 1


@pytest.mark.parametrize("key", ["", '""', "x" * 256, "caf\u00e9", "tab\there"])
def test_invalid_keys_are_400(client, engine, key):
    response = client.post(STUDY_SESSIONS, json=NEW_STUDY_SESSION, headers={"Idempotency-Key": key})
    assert_problem(response, 400)
    assert count_rows(engine, "study_sessions") == 0
    assert count_rows(engine, "idempotency_keys") == 0


def test_expired_keys_are_purged(app, engine):
    from lang_portal import idempotency

    old = datetime.now(UTC) - timedelta(hours=25)
    with engine.begin() as connection:
        connection.execute(
            schema.idempotency_keys.insert().values(
                learner_id=DEFAULT_LEARNER_ID,
                key="old",
                fingerprint="f" * 64,
                status_code=201,
                created_at=old,
                locked_at=old,
            )
        )
    with app.app_context(), engine.begin() as connection:
        assert idempotency.purge_expired(connection, datetime.now(UTC)) == 1
    assert count_rows(engine, "idempotency_keys") == 0


def _pause_inside_the_work(monkeypatch, during) -> None:
    """Run ``during()`` inside the write transaction, after the claim, before the work."""
    create = study_session_queries.create

    def create_after(connection, *args, **kwargs):
        during()
        return create(connection, *args, **kwargs)

    monkeypatch.setattr(study_session_queries, "create", create_after)


def test_a_claim_is_invisible_until_its_work_commits(client, engine, monkeypatch):
    """A worker killed mid-request leaves no claim behind: the claim was never committed.

    The old code committed the claim first, so a killed worker's key answered 409
    "still in progress" for 60 s; here another connection never sees it.
    """
    seen: list[int] = []
    _pause_inside_the_work(monkeypatch, lambda: seen.append(count_rows(engine, "idempotency_keys")))
    response = client.post(
        STUDY_SESSIONS, json=NEW_STUDY_SESSION, headers={"Idempotency-Key": "in-flight"}
    )
    assert response.status_code == 201
    assert seen == [0]
    assert count_rows(engine, "idempotency_keys") == 1


def test_work_that_dies_midway_rolls_back_its_claim(client, engine, monkeypatch):
    def die() -> None:
        raise KeyboardInterrupt  # like a worker stopped mid-request: no handler runs

    _pause_inside_the_work(monkeypatch, die)
    with pytest.raises(KeyboardInterrupt):
        client.post(STUDY_SESSIONS, json=NEW_STUDY_SESSION, headers={"Idempotency-Key": "dies"})
    assert count_rows(engine, "idempotency_keys") == 0
    assert count_rows(engine, "study_sessions") == 0
    monkeypatch.undo()
    retried = client.post(
        STUDY_SESSIONS, json=NEW_STUDY_SESSION, headers={"Idempotency-Key": "dies"}
    )
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert count_rows(engine, "study_sessions") == 1


def test_a_reset_during_the_work_cannot_make_a_key_run_twice(app, client, engine, monkeypatch):
    """A reset from elsewhere lands while a keyed request is between claim and work.

    Before, the claim was committed on its own: the reset deleted it, the work then
    committed a session, and the identical retry created a second one. Now the reset,
    which like every write of the learner first notes their activity
    (queries.learners.touch), waits until the request commits: on PostgreSQL for the
    learner's row, which the request locked first; on SQLite, whose writers take turns,
    for the write lock. It then deletes session and key together, and the retry starts
    one new session: one session exists at the end.
    """
    other = create_engine(engine.url)
    resetting: list[threading.Thread] = []
    reset_done: list[bool] = []  # a thread's exception is not raised here: note success

    def reset_from_elsewhere() -> None:
        with db.writing(other) as connection:
            learner_queries.touch(connection, DEFAULT_LEARNER_ID, datetime.now(UTC))
            study_session_queries.reset(connection, DEFAULT_LEARNER_ID)
        reset_done.append(True)

    def start_a_reset() -> None:
        thread = threading.Thread(target=reset_from_elsewhere)
        thread.start()
        thread.join(timeout=1)  # SQLite: it waits for this request's write lock
        resetting.append(thread)

    _pause_inside_the_work(monkeypatch, start_a_reset)
    first = client.post(
        STUDY_SESSIONS, json=NEW_STUDY_SESSION, headers={"Idempotency-Key": "reset-race"}
    )
    assert first.status_code == 201
    monkeypatch.undo()
    resetting[0].join(timeout=30)
    assert not resetting[0].is_alive() and reset_done == [True]
    retry = client.post(
        STUDY_SESSIONS, json=NEW_STUDY_SESSION, headers={"Idempotency-Key": "reset-race"}
    )
    assert retry.status_code == 201
    assert count_rows(engine, "study_sessions") == 1
    with engine.connect() as connection:
        stored = connection.execute(select(schema.study_sessions.c.id)).scalar()
    assert "Idempotent-Replayed" not in retry.headers
    assert retry.get_json()["id"] == stored != first.get_json()["id"]
    assert count_rows(engine, "idempotency_keys") == 1
    other.dispose()


def test_a_retry_while_the_first_is_in_flight(app, client, engine, monkeypatch):
    """PostgreSQL answers 409 with Retry-After at once; SQLite queues the retry and replays."""
    answers = []

    def retry_meanwhile() -> None:
        def send() -> None:
            answers.append(
                app.test_client().post(
                    STUDY_SESSIONS, json=NEW_STUDY_SESSION, headers={"Idempotency-Key": "busy"}
                )
            )

        thread = threading.Thread(target=send)
        thread.start()
        thread.join(timeout=1 if engine.dialect.name == "sqlite" else 10)
        retrying.append(thread)

    retrying: list[threading.Thread] = []
    _pause_inside_the_work(monkeypatch, lambda: None if retrying else retry_meanwhile())
    first = client.post(STUDY_SESSIONS, json=NEW_STUDY_SESSION, headers={"Idempotency-Key": "busy"})
    assert first.status_code == 201
    retrying[0].join(timeout=30)
    (retry,) = answers
    if engine.dialect.name == "postgresql":
        assert_problem(retry, 409)
        assert retry.headers["Retry-After"] == "1"
    else:
        assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
        assert retry.get_json() == first.get_json()
    assert count_rows(engine, "study_sessions") == 1


def test_twenty_concurrent_requests_with_one_key_create_one_row(live_server, engine):
    import requests

    def post(_: int) -> requests.Response:
        return requests.post(
            live_server + STUDY_SESSIONS,
            json=NEW_STUDY_SESSION,
            headers={"Idempotency-Key": "race"},
            timeout=30,
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(post, range(20)))
    statuses = sorted(r.status_code for r in responses)
    if engine.dialect.name == "sqlite":  # writers take turns: every retry replays
        assert statuses == [201] * 20
    else:
        assert set(statuses) <= {201, 409}, statuses
    created = [r for r in responses if r.status_code == 201]
    assert len({r.json()["id"] for r in created}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in created) == 1
    assert count_rows(engine, "study_sessions") == 1
