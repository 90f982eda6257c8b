"""The xAPI outbox: written in the review's own transaction, taken by senders, retried
with backoff, set aside when the statement cannot be sent.

No LRS here (tests/test_xapi_lrs.py sends to Ralph): the endpoint is a loopback port
nothing listens on, so every attempt finds the LRS down.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import Engine, event, select, update

from lang_portal import db, scheduling, schema
from lang_portal.cli import main
from lang_portal.queries import reviews, xapi_outbox
from lang_portal.queries.learners import DEFAULT_LEARNER_ID
from lang_portal.xapi_sender import (
    FIRST_BACKOFF,
    LEASE,
    MAX_BACKOFF,
    BackgroundSender,
    Sender,
    backoff,
)
from tests.conftest import count_rows, make_app
from tests.servers import free_port
from tests.support import STUDY_SESSIONS, reset_history, start_session

# An LRS that is never there: nothing listens on this port.
DOWN = f"http://127.0.0.1:{free_port()}/xAPI/"


@pytest.fixture
def outbox_app(database_url: str) -> Iterator[Flask]:
    """The app with an endpoint set, so reviews queue their statements."""
    app = make_app(database_url, XAPI_ENDPOINT=DOWN)
    yield app
    app.extensions["lang_portal.engine"].dispose()


@pytest.fixture
def outbox_engine(outbox_app: Flask) -> Engine:
    return outbox_app.extensions["lang_portal.engine"]


def review_batch(client: Any, word_ids: range, session_id: int | None = None) -> list[int]:
    """Post a batch of reviews of these words; the ids of the reviews it recorded."""
    session_id = session_id or start_session(client)
    batch = [{"word_id": word_id, "rating": "good"} for word_id in word_ids]
    response = client.post(f"{STUDY_SESSIONS}/{session_id}/review", json={"reviews": batch})
    assert response.status_code == 201, response.get_json()
    return review_ids(client, session_id)[-len(word_ids) :]


def review_ids(client: Any, session_id: int) -> list[int]:
    """The ids of a session's reviews, from the database behind the client's app."""
    engine = client.application.extensions["lang_portal.engine"]
    with engine.connect() as connection:
        log = schema.word_review_items
        rows = connection.execute(
            select(log.c.id).where(log.c.study_session_id == session_id).order_by(log.c.id)
        )
        return list(rows.scalars())


def outbox_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(schema.xapi_outbox).order_by(schema.xapi_outbox.c.id))
        return [dict(row._mapping) for row in rows]


def test_reviews_queue_their_statements(outbox_app, outbox_engine):
    client = outbox_app.test_client()
    before = datetime.now(UTC)
    batch = review_batch(client, range(1, 6))
    single = client.post(
        f"{STUDY_SESSIONS}/{start_session(client)}/words/7/review", json={"correct": False}
    )
    assert single.status_code == 201

    rows = outbox_rows(outbox_engine)
    assert [row["review_id"] for row in rows] == [*batch, single.get_json()["id"]]
    for row in rows:
        assert (row["attempts"], row["last_error"], row["set_aside_at"]) == (0, None, None)
        assert before <= row["created_at"] == row["next_attempt_at"] <= datetime.now(UTC)


def test_without_an_endpoint_nothing_is_queued(client, engine):
    review_batch(client, range(1, 4))
    assert count_rows(engine, "word_review_items") == 3
    assert count_rows(engine, "xapi_outbox") == 0


def test_a_refused_review_queues_nothing(outbox_app, outbox_engine):
    client = outbox_app.test_client()
    session_path = f"{STUDY_SESSIONS}/{start_session(client)}"
    batch = {"reviews": [{"word_id": 1, "correct": True}, {"word_id": 99999, "correct": True}]}
    assert client.post(session_path + "/review", json=batch).status_code == 400
    assert (
        client.post(session_path + "/words/99999/review", json={"correct": True}).status_code == 404
    )
    assert count_rows(outbox_engine, "word_review_items") == 0
    assert count_rows(outbox_engine, "xapi_outbox") == 0


def test_the_outbox_row_rolls_back_with_its_review(outbox_app, outbox_engine):
    session_id = start_session(outbox_app.test_client())
    new_reviews = [reviews.NewReview(word_id, 3) for word_id in (1, 2)]
    with pytest.raises(RuntimeError, match="after the reviews"), db.writing(outbox_engine) as c:
        reviews.add_reviews(
            c,
            DEFAULT_LEARNER_ID,
            session_id,
            new_reviews,
            scheduling.scheduler(0.9),
            queue_statements=True,
        )
        in_transaction = c.execute(select(schema.xapi_outbox.c.review_id)).scalars().all()
        assert len(in_transaction) == 2
        raise RuntimeError("something failed after the reviews")
    assert count_rows(outbox_engine, "word_review_items") == 0
    assert count_rows(outbox_engine, "xapi_outbox") == 0


def test_a_reset_deletes_the_statements_not_sent(outbox_app, outbox_engine):
    client = outbox_app.test_client()
    review_batch(client, range(1, 4))
    reset_history(client, outbox_engine)
    assert count_rows(outbox_engine, "xapi_outbox") == 0


def test_queueing_costs_one_statement_per_review_write(database_url, outbox_app):
    """Batch or single, the outbox adds one INSERT, whatever the batch's size."""
    plain = make_app(database_url)
    try:
        counts = {}
        for name, app, words in (
            ("plain", plain, range(1, 31)),
            ("queued", outbox_app, range(31, 61)),
        ):
            client = app.test_client()
            session_id = start_session(client)
            statements: list[str] = []
            engine = app.extensions["lang_portal.engine"]

            def listener(*args: Any, into: list[str] = statements) -> None:
                into.append(args[2])

            event.listen(engine, "before_cursor_execute", listener)
            try:
                review_batch(client, words, session_id)
            finally:
                event.remove(engine, "before_cursor_execute", listener)
            counts[name] = statements
        assert len(counts["queued"]) == len(counts["plain"]) + 1
        assert next(s for s in counts["queued"] if "xapi_outbox" in s).startswith(
            "INSERT INTO xapi_outbox"
        )
    finally:
        plain.extensions["lang_portal.engine"].dispose()


@pytest.mark.parametrize(
    ("attempts", "shortest", "longest"),
    [
        (1, FIRST_BACKOFF / 2, FIRST_BACKOFF),
        (2, FIRST_BACKOFF, FIRST_BACKOFF * 2),
        (4, FIRST_BACKOFF * 4, FIRST_BACKOFF * 8),
        (9, MAX_BACKOFF / 2, MAX_BACKOFF),
        (1000, MAX_BACKOFF / 2, MAX_BACKOFF),
    ],
)
def test_backoff_doubles_up_to_its_cap_with_jitter(attempts, shortest, longest):
    assert backoff(attempts, 0.0) == shortest
    assert backoff(attempts, 0.5) == (shortest + longest) / 2
    assert shortest < backoff(attempts, 0.999) < longest


def test_an_lrs_that_is_down_postpones_with_backoff_and_one_warning(
    outbox_app, outbox_engine, caplog
):
    review_ids = review_batch(outbox_app.test_client(), range(1, 5))
    sender = Sender.for_app(outbox_app)
    assert sender is not None
    caplog.set_level(logging.INFO, logger="lang_portal.xapi_sender")

    started = datetime.now(UTC)
    delivery = sender.send_batch()

    assert delivery is not None
    assert (delivery.sent, delivery.postponed, delivery.set_aside) == (0, 4, 0)
    assert delivery.unreachable.startswith("could not connect (ConnectionRefusedError")
    rows = outbox_rows(outbox_engine)
    assert [row["review_id"] for row in rows] == review_ids
    for row in rows:
        assert (row["attempts"], row["set_aside_at"]) == (1, None)
        assert row["last_error"] == delivery.unreachable
        wait = row["next_attempt_at"] - started
        assert backoff(1, 0.0) <= wait <= backoff(1, 1.0) + timedelta(seconds=2)
    assert sender.send_batch() is None  # not due until the backoff ends
    assert sender.push().postponed == 4  # push does not wait for it
    assert {row["attempts"] for row in outbox_rows(outbox_engine)} == {2}
    warnings = [r for r in caplog.records if "cannot take statements" in r.getMessage()]
    assert len(warnings) == 1, "one warning per outage, not per attempt"


def test_a_statement_that_cannot_be_built_is_set_aside(outbox_app, outbox_engine):
    review_ids = review_batch(outbox_app.test_client(), range(1, 3))

    def broken(record: Any, public_url: str) -> dict[str, Any]:
        raise ValueError(f"no statement for review {record['id']}")

    sender = Sender.for_app(outbox_app, build=broken)
    assert sender is not None
    delivery = sender.push()

    assert (delivery.set_aside, delivery.sent, delivery.unreachable) == (2, 0, None)
    rows = outbox_rows(outbox_engine)
    assert [row["last_error"] for row in rows] == [
        f"not built: ValueError: no statement for review {review_id}" for review_id in review_ids
    ]
    assert all(row["set_aside_at"] is not None for row in rows)
    assert sender.push().done == 0  # set aside: not taken again


def test_claiming_leases_the_oldest_due_rows(outbox_app, outbox_engine):
    review_ids = review_batch(outbox_app.test_client(), range(1, 8))
    now = datetime.now(UTC)
    with db.writing(outbox_engine) as connection:
        first = xapi_outbox.claim(connection, now, 3, LEASE)
    with db.writing(outbox_engine) as connection:
        second = xapi_outbox.claim(connection, now, 3, LEASE)
        up_to = xapi_outbox.claim(connection, now, 3, LEASE, up_to_id=second[-1].id)
    assert [row.review_id for row in first] == review_ids[:3]
    assert [row.review_id for row in second] == review_ids[3:6]
    assert up_to == []  # the one due row left is past up_to_id
    leased = {row["review_id"]: row["next_attempt_at"] for row in outbox_rows(outbox_engine)}
    assert all(leased[n] == now + LEASE for n in review_ids[:6])
    with db.writing(outbox_engine) as connection:
        after_the_lease = xapi_outbox.claim(connection, now + LEASE, 10, LEASE)
    # Due longest first: the row never taken, then those whose lease ended.
    assert [row.review_id for row in after_the_lease] == review_ids[6:] + review_ids[:6]


def test_two_senders_never_take_the_same_rows(outbox_app, outbox_engine):
    """PostgreSQL: rows a sender is taking are locked, and another skips them."""
    if outbox_engine.dialect.name != "postgresql":
        pytest.skip("SQLite: writers take turns, so a second claim sees the first's lease")
    review_ids = review_batch(outbox_app.test_client(), range(1, 7))
    now = datetime.now(UTC)
    with db.writing(outbox_engine) as first_sender:
        taken = xapi_outbox.claim(first_sender, now, 4, LEASE)  # locked, not committed
        with db.writing(outbox_engine) as second_sender:
            second_sender.exec_driver_sql("SET LOCAL lock_timeout = '2s'")  # never waits
            also_taken = xapi_outbox.claim(second_sender, now, 10, LEASE)
    assert [row.review_id for row in taken] == review_ids[:4]
    assert [row.review_id for row in also_taken] == review_ids[4:]


def _cli(database_url: str, *arguments: str, endpoint: str = DOWN) -> Any:
    environment = {"LANG_PORTAL_DATABASE_URL": database_url, "LANG_PORTAL_XAPI_ENDPOINT": endpoint}
    return CliRunner().invoke(main, ["xapi", *arguments], env=environment)


@pytest.mark.parametrize("command", ["push", "queue", "retry"])
def test_sending_commands_need_an_endpoint(database_url, command):
    result = _cli(database_url, command, endpoint="")
    assert result.exit_code == 1
    assert result.output == "Error: LANG_PORTAL_XAPI_ENDPOINT is not set: there is no LRS\n"


def test_push_to_an_lrs_that_is_down_exits_1_and_keeps_everything(
    outbox_app, outbox_engine, database_url
):
    review_batch(outbox_app.test_client(), range(1, 4))
    result = _cli(database_url, "push")
    assert result.exit_code == 1
    assert "Sent 0, set aside 0, still pending 3.\n" in result.output
    assert "Error: the LRS could not be reached: could not connect" in result.output
    assert count_rows(outbox_engine, "xapi_outbox") == 3


def test_queue_queues_past_reviews_once(app, engine, database_url):
    """Reviews made with no endpoint set are queued by `xapi queue`, each once."""
    client = app.test_client()
    old = review_batch(client, range(1, 4))
    with db.writing(engine) as connection:
        yesterday = datetime.now(UTC) - timedelta(days=1)
        log = schema.word_review_items
        connection.execute(update(log).where(log.c.id == old[0]).values(reviewed_at=yesterday))
    today = datetime.now(UTC).strftime("%Y-%m-%d")

    assert _cli(database_url, "queue", "--since", today).output == "Queued 2 statements.\n"
    assert _cli(database_url, "queue").output == "Queued 1 statements.\n"
    assert _cli(database_url, "queue").output == "Queued 0 statements.\n"
    assert sorted(row["review_id"] for row in outbox_rows(engine)) == old


def test_status_counts_and_lists_what_was_set_aside(outbox_app, outbox_engine, database_url):
    review_ids = review_batch(outbox_app.test_client(), range(1, 5))
    now = datetime.now(UTC)
    with db.writing(outbox_engine) as connection:
        rows = xapi_outbox.claim(connection, now, 4, LEASE)
        xapi_outbox.set_aside(connection, rows[1].id, now, "HTTP 400: bad verb " + "x" * 600)
        xapi_outbox.postpone(connection, [rows[2].id], now + timedelta(hours=1), "down")

    status = _cli(database_url, "status").output.splitlines()

    assert status[0] == "Pending 3 (0 due now), set aside 1."
    assert status[1].startswith(f"review {review_ids[1]}, set aside {now:%Y-%m-%d %H:%M} UTC: ")
    assert status[1].endswith("HTTP 400: bad verb " + "x" * (500 - len("HTTP 400: bad verb ")))
    assert _cli(database_url, "retry").output == "Queued 1 set-aside statements again.\n"
    (retried,) = [row for row in outbox_rows(outbox_engine) if row["review_id"] == review_ids[1]]
    assert (retried["set_aside_at"], retried["attempts"]) == (None, 0)
    assert _cli(database_url, "status").output.startswith("Pending 4 (1 due now), set aside 0.")


def test_a_process_forked_while_the_sender_runs_inherits_no_connection(outbox_app):
    """gunicorn's master forks workers while its sender thread runs: a child must not
    inherit (and one day close) the sender's database connections."""
    background = BackgroundSender(Sender.for_app(outbox_app)).start()  # type: ignore[arg-type]
    engine = background.sender.engine
    try:
        deadline = time.monotonic() + 10
        while engine.pool.checkedin() == 0:  # the thread's first look opened one
            assert time.monotonic() < deadline
            time.sleep(0.05)
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover (the child reports through the pipe and exits)
            open_connections = engine.pool.checkedin() + engine.pool.checkedout()
            os.write(write_end, str(open_connections).encode())
            os._exit(0)
        os.waitpid(child, 0)
        assert os.read(read_end, 16) == b"0"
        assert not background.sender.database_lock.locked()
        review_batch(outbox_app.test_client(), range(1, 3))  # and the sender goes on
        while not outbox_rows(background.sender.engine)[0]["attempts"]:
            assert time.monotonic() < deadline + 10
            time.sleep(0.05)
    finally:
        background.stop()
