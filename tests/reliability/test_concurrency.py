"""Many writers at once on SQLite: nothing fails, nothing is lost, nothing is counted twice."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from lang_portal import schema
from tests.conftest import count_rows
from tests.reliability.support import (
    body_example,
    check_counters,
    one_per_endpoint,
    run_writers,
    server_log,
    table_totals,
    write_rules,
)

pytestmark = pytest.mark.slow

WORKERS = 4
CLIENTS = 32
SECONDS = 10.0
SAME_KEY_REQUESTS = 20


def test_32_concurrent_writers_on_4_workers_lose_and_fail_nothing(
    start_server, sqlite_file, sqlite_engine, tmp_path: Path
):
    """32 clients for 10 s: every answer is a 201 and every 201 is exactly one stored row.

    SQLite allows one writer at a time; BEGIN IMMEDIATE plus the busy timeout make
    writers queue instead of failing with "database is locked".
    """
    server = start_server(f"sqlite:///{sqlite_file}", workers=WORKERS)
    result = run_writers(server.url, CLIENTS, SECONDS)
    server.stop()

    assert result.connection_errors == 0
    assert result.failures == []
    assert set(result.statuses) == {201}, result.statuses
    assert result.requests >= 3 * CLIENTS  # every client got through at least one round
    assert "database is locked" not in server_log(tmp_path)

    assert len(set(result.session_ids)) == len(result.session_ids)
    assert count_rows(sqlite_engine, "study_sessions") == len(result.session_ids)
    assert count_rows(sqlite_engine, "word_review_items") == result.reviews_acknowledged
    with sqlite_engine.connect() as connection:
        stored_sessions = set(connection.execute(select(schema.study_sessions.c.id)).scalars())
        stored_reviews = set(connection.execute(select(schema.word_review_items.c.id)).scalars())
        per_session = dict(
            connection.execute(
                select(schema.word_review_items.c.study_session_id, func.count()).group_by(
                    schema.word_review_items.c.study_session_id
                )
            ).all()
        )
    assert stored_sessions == set(result.session_ids)
    assert set(result.review_ids) <= stored_reviews
    for study_session_id, batch_count in result.batch_reviews.items():
        assert per_session.get(study_session_id, 0) >= batch_count
    check_counters(sqlite_engine)


def _same_key_requests(url: str, body: dict, key: str) -> list[requests.Response]:
    """SAME_KEY_REQUESTS requests with one Idempotency-Key, released together."""
    start = threading.Barrier(SAME_KEY_REQUESTS)
    responses: list[requests.Response] = []
    lock = threading.Lock()

    def send() -> None:
        with requests.Session() as http:
            start.wait(timeout=30)
            response = http.post(url, json=body, headers={"Idempotency-Key": key}, timeout=30)
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=send, daemon=True) for _ in range(SAME_KEY_REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return responses


# The reviews of cards in the review state, per day: the warm-up, the race and the
# single request review one word in turn, and its card leaves learning at the second
# good answer, so the single request's review is a recall review and the race's is not.
# Every other counter moves the same for any review.
RECALLS = ("recall_reviews_count", "recalled_count")


def test_20_concurrent_requests_with_one_idempotency_key_do_the_work_once(
    start_server, sqlite_file, sqlite_engine
):
    """For every idempotent write route: 20 racing requests with one key change the
    database exactly as one request does, and every 201 carries the same body."""
    server = start_server(f"sqlite:///{sqlite_file}", workers=WORKERS)
    created = requests.post(
        server.url + "/api/study-sessions", json={"group_id": 1, "study_activity_id": 1}, timeout=10
    )
    assert created.status_code == 201
    study_session_id = created.json()["id"]
    idempotent = [
        r for r in one_per_endpoint(write_rules()) if r.registered and r.registered.idempotent
    ]
    assert len(idempotent) >= 3  # the session and both review routes

    for index, rule in enumerate(idempotent):
        url = server.url + rule.path(study_session_id=study_session_id)
        body = body_example(rule) or {}
        # A first request with its own key creates the rows a learner's first write of
        # this kind creates (word_progress on a word's first review), so that neither
        # the race nor the single request below is that first one.
        warm_up = requests.post(
            url, json=body, headers={"Idempotency-Key": f"warm-{index}"}, timeout=10
        )
        assert warm_up.status_code == 201, warm_up.text
        before = table_totals(sqlite_engine, RECALLS)
        responses = _same_key_requests(url, body, f"race-{index}")
        after_race = table_totals(sqlite_engine, RECALLS)
        # One more request with a fresh key shows what a single request changes.
        single = requests.post(
            url, json=body, headers={"Idempotency-Key": f"one-{index}"}, timeout=10
        )
        assert single.status_code == 201, single.text
        after_single = table_totals(sqlite_engine, RECALLS)

        statuses = [response.status_code for response in responses]
        assert len(statuses) == SAME_KEY_REQUESTS
        assert set(statuses) <= {201, 409}, (rule, statuses)
        assert 201 in statuses
        bodies = {response.text for response in responses if response.status_code == 201}
        assert len(bodies) == 1, (rule, bodies)
        for table in before:
            race_delta = [a - b for a, b in zip(after_race[table], before[table], strict=True)]
            one_delta = [a - b for a, b in zip(after_single[table], after_race[table], strict=True)]
            assert race_delta == one_delta, (rule, table, race_delta, one_delta)
