"""Statements sent to a real Learning Record Store, Ralph (tests/lrs.py), and read back.

Reviews are posted to lang-portal, the sender runs (``lang-portal xapi push``, the
background thread, ``lang-portal serve``), and what Ralph's own xAPI API returns is
compared with lang-portal's statements (``GET /api/xapi/statements``) and its reviews:
the same ids, verbs, objects, results. Ralph is stopped mid-stream and started again:
nothing is lost and every statement arrives once. A statement sent again is stored
once; one Ralph rejects is set aside and not retried.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import Engine, select

from lang_portal import schema, xapi
from lang_portal.cli import main
from lang_portal.xapi_sender import BackgroundSender, Sender
from tests.conftest import make_app
from tests.lrs import Ralph, ralph_python
from tests.servers import Gunicorn
from tests.support import STUDY_SESSIONS, start_session

PUBLIC_URL = "https://portal.example.org"
# What Ralph adds to a statement it stores: when, and on whose authority.
ADDED_BY_THE_LRS = ("stored", "authority")
# How long a review may take to reach Ralph from a running sender.
DELIVERY_SECONDS = 10


@pytest.fixture(scope="module")
def ralph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ralph]:
    """One Ralph for the module; each test empties it (see ``lrs``)."""
    server = Ralph(ralph_python(), tmp_path_factory.mktemp("ralph")).start()
    yield server
    server.stop()


@pytest.fixture
def lrs(ralph: Ralph) -> Ralph:
    """Ralph, running and holding no statement."""
    if not ralph.running:  # a test that failed while it was stopped
        ralph.start()
    ralph.clear()
    assert ralph.statements() == []
    return ralph


@pytest.fixture
def lrs_app(database_url: str, lrs: Ralph) -> Iterator[Flask]:
    """The app on a fresh database, sending to Ralph."""
    app = make_app(database_url, PUBLIC_URL=PUBLIC_URL, **lrs.settings)
    yield app
    app.extensions["lang_portal.engine"].dispose()


@pytest.fixture
def lrs_client(lrs_app: Flask) -> Any:
    return lrs_app.test_client()


@pytest.fixture
def lrs_engine(lrs_app: Flask) -> Engine:
    return lrs_app.extensions["lang_portal.engine"]


def record_reviews(client: Any, words: range, *, durations: bool = True) -> list[int]:
    """A session with one review of each word, every rating and with or without a
    duration, in a batch, then one more through the single-review route; their ids."""
    before = set(review_ids_from(client))
    session_id = start_session(client)
    ratings = ["again", "hard", "good", "easy"]
    batch = [
        {"word_id": word_id, "rating": ratings[word_id % 4]}
        | ({"duration_ms": 1234 + word_id} if durations and word_id % 2 else {})
        for word_id in words
    ]
    response = client.post(f"{STUDY_SESSIONS}/{session_id}/review", json={"reviews": batch})
    assert response.status_code == 201, response.get_json()
    single = client.post(
        f"{STUDY_SESSIONS}/{session_id}/words/{words[0]}/review", json={"rating": "good"}
    )
    assert single.status_code == 201, single.get_json()
    return sorted(set(review_ids_from(client)) - before)


def review_ids_from(client: Any) -> list[int]:
    """Every review id lang-portal holds, in id order (read through its statements)."""
    return sorted(_review_id(statement) for statement in portal_statements(client))


def portal_statements(client: Any) -> list[dict[str, Any]]:
    """Every statement GET /api/xapi/statements lists, following its ``more`` links."""
    found: list[dict[str, Any]] = []
    url = "/api/xapi/statements?limit=7"
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        found += page["statements"]
        url = page["more"]
    return found


_ID_OF_STATEMENT: dict[str, int] = {}


def _review_id(statement: dict[str, Any]) -> int:
    """The review a statement id was derived from (ids are UUIDv5s: looked up, not read)."""
    if not _ID_OF_STATEMENT:
        _ID_OF_STATEMENT.update({xapi.statement_id(n): n for n in range(1, 5000)})
    return _ID_OF_STATEMENT[statement["id"]]


def as_sent(stored: dict[str, Any]) -> dict[str, Any]:
    """A statement Ralph returned, without what Ralph added to it."""
    return {key: value for key, value in stored.items() if key not in ADDED_BY_THE_LRS}


def push(database_url: str, lrs: Ralph) -> Any:
    """``lang-portal xapi push`` with the settings that send to Ralph."""
    environment = {f"LANG_PORTAL_{name}": value for name, value in lrs.settings.items()}
    environment |= {"LANG_PORTAL_DATABASE_URL": database_url, "LANG_PORTAL_PUBLIC_URL": PUBLIC_URL}
    return CliRunner().invoke(main, ["xapi", "push"], env=environment)


def outbox_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(schema.xapi_outbox).order_by(schema.xapi_outbox.c.id))
        return [dict(row._mapping) for row in rows]


def assert_ralph_holds_exactly(lrs: Ralph, client: Any) -> list[dict[str, Any]]:
    """Ralph holds each of lang-portal's statements once, equal to it but for what the
    LRS adds; returns Ralph's statements."""
    stored = lrs.statements()
    counts = Counter(statement["id"] for statement in stored)
    assert [statement_id for statement_id, n in counts.items() if n > 1] == []
    expected = {statement["id"]: statement for statement in portal_statements(client)}
    assert {statement["id"]: as_sent(statement) for statement in stored} == expected
    for statement in stored:
        assert statement["authority"]["account"]["name"] == "lang-portal"
    return stored


def test_push_sends_every_review_and_ralph_returns_the_same_statements(
    lrs, lrs_client, lrs_engine, database_url
):
    review_ids = record_reviews(lrs_client, range(1, 60))  # 60: two batches
    assert [row["review_id"] for row in outbox_rows(lrs_engine)] == review_ids

    result = push(database_url, lrs)

    assert result.exit_code == 0, result.output
    assert "Sending statements" in result.output  # the progress bar of a longer push
    assert (
        result.output.splitlines()[-1] == f"Sent {len(review_ids)}, set aside 0, still pending 0."
    )
    assert outbox_rows(lrs_engine) == []
    stored = assert_ralph_holds_exactly(lrs, lrs_client)
    assert sorted(_review_id(statement) for statement in stored) == review_ids
    with lrs_engine.connect() as connection:
        reviews = {row.id: row for row in connection.execute(select(schema.word_review_items))}
    for statement in stored:
        review = reviews[_review_id(statement)]
        assert statement["verb"]["id"] == "http://adlnet.gov/expapi/verbs/answered"
        assert statement["object"]["id"] == f"{PUBLIC_URL}/words/{review.word_id}"
        assert statement["actor"]["account"] == {
            "homePage": PUBLIC_URL,
            "name": f"learner-{review.learner_id}",
        }
        assert statement["result"]["success"] is review.correct
        assert (
            statement["result"]["response"] == ["again", "hard", "good", "easy"][review.rating - 1]
        )
        assert ("duration" in statement["result"]) is (review.duration_ms is not None)
        assert statement["timestamp"] == xapi.timestamp(review.reviewed_at)


def test_an_outage_mid_stream_delays_statements_and_loses_none(
    lrs, lrs_app, lrs_client, lrs_engine
):
    first = record_reviews(lrs_client, range(1, 10))
    sender = Sender.for_app(lrs_app, batch_size=4)
    assert sender is not None
    batches = []

    def stop_ralph_after_the_first_batch(done: int) -> None:
        batches.append(done)
        if len(batches) == 1:
            lrs.stop()

    delivery = sender.push(stop_ralph_after_the_first_batch)

    # The second batch failed and waits; push stopped there, the third was never taken.
    assert (delivery.sent, delivery.postponed, batches) == (4, 4, [4, 0])
    assert delivery.unreachable is not None and "could not connect" in delivery.unreachable
    # Reviews go on being recorded, and queued, while the LRS is down.
    second = record_reviews(lrs_client, range(20, 25))
    waiting = outbox_rows(lrs_engine)
    assert [row["review_id"] for row in waiting] == first[4:] + second
    tried = {row["review_id"]: (row["attempts"], row["set_aside_at"]) for row in waiting}
    assert tried == {n: (1, None) for n in first[4:8]} | {n: (0, None) for n in first[8:] + second}
    assert all("could not connect" in row["last_error"] for row in waiting[:4])
    assert sender.push().unreachable is not None  # still down: nothing is lost either
    assert len(outbox_rows(lrs_engine)) == len(first) - 4 + len(second)

    lrs.start()
    delivery = sender.push()

    assert (delivery.sent, delivery.unreachable) == (len(first) - 4 + len(second), None)
    assert outbox_rows(lrs_engine) == []
    stored = assert_ralph_holds_exactly(lrs, lrs_client)
    assert sorted(_review_id(statement) for statement in stored) == first + second


def test_push_fails_while_ralph_is_down_and_keeps_the_statements(
    lrs, lrs_client, lrs_engine, database_url
):
    review_ids = record_reviews(lrs_client, range(1, 4))
    lrs.stop()

    result = push(database_url, lrs)

    assert result.exit_code == 1, result.output
    assert f"Sent 0, set aside 0, still pending {len(review_ids)}." in result.output
    assert "Error: the LRS could not be reached: could not connect" in result.output
    assert [row["review_id"] for row in outbox_rows(lrs_engine)] == review_ids
    lrs.start()
    assert push(database_url, lrs).exit_code == 0
    assert_ralph_holds_exactly(lrs, lrs_client)


def test_statements_sent_again_are_stored_once(lrs, lrs_client, lrs_engine, database_url):
    review_ids = record_reviews(lrs_client, range(1, 8))
    assert push(database_url, lrs).exit_code == 0
    before = lrs.statements()
    environment = {f"LANG_PORTAL_{name}": value for name, value in lrs.settings.items()}
    environment["LANG_PORTAL_DATABASE_URL"] = database_url

    queued = CliRunner().invoke(main, ["xapi", "queue"], env=environment)
    assert queued.exit_code == 0, queued.output
    assert queued.output == f"Queued {len(review_ids)} statements.\n"
    assert len(outbox_rows(lrs_engine)) == len(review_ids)
    again = push(database_url, lrs)

    assert again.exit_code == 0, again.output
    assert "Sending statements" not in again.output  # one batch: no progress bar
    assert again.output.splitlines()[-1] == f"Sent {len(review_ids)}, set aside 0, still pending 0."
    assert lrs.statements() == before  # Ralph answered 204 and stored nothing new
    assert_ralph_holds_exactly(lrs, lrs_client)


def test_a_statement_ralph_rejects_is_set_aside_and_the_rest_are_sent(
    lrs, lrs_app, lrs_client, lrs_engine, database_url
):
    review_ids = record_reviews(lrs_client, range(1, 10))
    bad_review = review_ids[5]

    def build_one_without_an_actor(record: Any, public_url: str) -> dict[str, Any]:
        built = xapi.statement(record, public_url)
        if record["id"] == bad_review:
            del built["actor"]
        return built

    sender = Sender.for_app(lrs_app, build=build_one_without_an_actor)
    assert sender is not None
    delivery = sender.push()

    assert (delivery.sent, delivery.set_aside, delivery.unreachable) == (
        len(review_ids) - 1,
        1,
        None,
    )
    (row,) = outbox_rows(lrs_engine)
    assert (row["review_id"], row["attempts"]) == (bad_review, 1)
    assert row["set_aside_at"] is not None
    assert row["last_error"].startswith("HTTP 422: ")
    assert "actor" in row["last_error"] and len(row["last_error"]) <= 500
    stored_ids = {statement["id"] for statement in lrs.statements()}
    assert stored_ids == {xapi.statement_id(n) for n in review_ids if n != bad_review}
    # Not retried: a later push leaves it alone, and says so.
    assert sender.push().sent == 0
    assert outbox_rows(lrs_engine) == [row]
    environment = {f"LANG_PORTAL_{n}": v for n, v in lrs.settings.items()}
    environment["LANG_PORTAL_DATABASE_URL"] = database_url
    status = CliRunner().invoke(main, ["xapi", "status"], env=environment)
    assert status.output.splitlines()[0] == "Pending 0 (0 due now), set aside 1."
    assert status.output.splitlines()[1].startswith(f"review {bad_review}, set aside ")
    assert "HTTP 422: " in status.output
    # Once what was wrong is fixed, retry queues it, and it is sent.
    retried = CliRunner().invoke(main, ["xapi", "retry"], env=environment)
    assert retried.output == "Queued 1 set-aside statements again.\n"
    assert push(database_url, lrs).exit_code == 0
    assert outbox_rows(lrs_engine) == []
    assert_ralph_holds_exactly(lrs, lrs_client)


def test_a_different_statement_under_the_same_id_is_set_aside(lrs, lrs_app, lrs_client, lrs_engine):
    """Ralph answers 409 when it holds another statement with the id: resending cannot
    help, and dropping it could lose a review no LRS holds."""
    review_ids = record_reviews(lrs_client, range(1, 5))
    (clashing,) = [s for s in portal_statements(lrs_client) if _review_id(s) == review_ids[2]]
    other = {**clashing, "result": {**clashing["result"], "response": "something else"}}
    assert lrs.post([other]).status_code == 200

    sender = Sender.for_app(lrs_app)
    assert sender is not None
    delivery = sender.push()

    assert (delivery.sent, delivery.set_aside) == (len(review_ids) - 1, 1)
    (row,) = outbox_rows(lrs_engine)
    assert row["review_id"] == review_ids[2]
    assert row["last_error"].startswith("HTTP 409: ")
    assert len(lrs.statements()) == len(review_ids)


def test_the_background_sender_delivers_a_review_within_seconds(lrs, lrs_app, lrs_client):
    background = BackgroundSender(Sender.for_app(lrs_app)).start()  # type: ignore[arg-type]
    try:
        started = time.monotonic()
        review_ids = record_reviews(lrs_client, range(1, 3))
        while len(lrs.statements()) < len(review_ids):
            assert time.monotonic() - started < DELIVERY_SECONDS, "not delivered in time"
            time.sleep(0.2)
    finally:
        background.stop()
    assert background._thread is not None and not background._thread.is_alive()
    assert_ralph_holds_exactly(lrs, lrs_client)


@pytest.mark.slow
def test_serve_sends_reviews_in_the_background_and_through_an_outage(
    lrs, database_url, tmp_path: Path
):
    """``lang-portal serve`` with an endpoint: a review reaches Ralph within seconds, and
    one made while Ralph is down, answered at once all the same, arrives once it is back."""
    settings = {"PUBLIC_URL": PUBLIC_URL, **lrs.settings}
    checks = make_app(database_url).extensions["lang_portal.engine"]

    def review(server: Gunicorn, word_id: int) -> int:
        new_session = {"group_id": 1, "study_activity_id": 1}
        started = requests.post(server.url + STUDY_SESSIONS, json=new_session, timeout=10)
        assert started.status_code == 201, started.text
        path = f"{STUDY_SESSIONS}/{started.json()['id']}/words/{word_id}/review"
        answer = requests.post(server.url + path, json={"correct": True}, timeout=10)
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def wait_until(done: Any, what: str) -> None:
        deadline = time.monotonic() + DELIVERY_SECONDS
        while not done():
            assert time.monotonic() < deadline, what
            time.sleep(0.2)

    try:
        with Gunicorn(database_url, tmp_path / "serve.log", settings=settings) as server:
            first = review(server, 1)
            wait_until(lambda: len(lrs.statements()) == 1, "the first review did not arrive")
            lrs.stop()
            second = review(server, 2)
            wait_until(
                lambda: [row["attempts"] > 0 for row in outbox_rows(checks)] == [True],
                "the sender did not try while Ralph was down",
            )
            lrs.start()
            wait_until(lambda: len(lrs.statements()) == 2, "the second review did not arrive")
            wait_until(lambda: outbox_rows(checks) == [], "the outbox was not emptied")
    finally:
        checks.dispose()
    stored = lrs.statements()
    assert [statement["id"] for statement in stored] == [
        xapi.statement_id(first),
        xapi.statement_id(second),
    ]
    log = (tmp_path / "serve.log").read_text()
    assert log.count("cannot take statements") == 1, log
    assert log.count("takes statements again") <= 1, log
