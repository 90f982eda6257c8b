"""GET /api/me/export: a learner's whole history as one JSON document, streamed.

Every test runs in the ``accounts`` mode, where learners are told apart, on both
engines. The document is checked against the database (its sessions, reviews and
cards are the learner's rows and only theirs), against its own model and the schema
the OpenAPI document gives it, and for what streaming promises: one snapshot for the
whole document, the connection given back however the response ends, and memory that
does not grow with the history.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from sqlalchemy import Engine, event, select

from lang_portal import db, queries, scheduling, schema
from lang_portal.api.learner_export import LearnerExport
from lang_portal.openapi import build_document
from tests.accounts import (
    DEFAULT_LEARNER_ID,
    OPERATOR,
    Learner,
    accounts_app,
    add_learner,
    review,
    start_session,
)
from tests.conftest import make_app
from tests.support import assert_problem, snapshot

EXPORT = "/api/me/export"
# Written here, not imported: the names the API gives fsrs's numbers.
RATING_NAMES = {1: "again", 2: "hard", 3: "good", 4: "easy"}
STATE_NAMES = {1: "learning", 2: "review", 3: "relearning"}


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The app in the ``accounts`` mode on a fresh seeded database."""
    with accounts_app(database_url) as application:
        yield application


@pytest.fixture
def learners(client) -> dict[str, Learner]:
    """Aiko and Ben, each with a history, a teacher with none, and Chika with none.

    Aiko: two sessions, five reviews of three words, one of them again; Ben: one session
    reviewing the same words, so that every table holds both learners' rows side by side.
    """
    aiko = add_learner(client, "Aiko")
    ben = add_learner(client, "Ben")
    teacher = add_learner(client, "Sensei", role="teacher")
    chika = add_learner(client, "Chika")
    a1 = start_session(client, aiko, group_id=1, study_activity_id=1)
    review(client, aiko, a1, [(1, True), (2, False), (1, True)])
    b1 = start_session(client, ben, group_id=1, study_activity_id=1)
    review(client, ben, b1, [(1, False), (2, True), (3, True)])
    a2 = start_session(client, aiko, group_id=2, study_activity_id=2)
    review(client, aiko, a2, [(3, True), (2, True)])
    return {"A": aiko, "B": ben, "teacher": teacher, "C": chika}


def exported(client: Any, headers: dict[str, str], query: str = "") -> tuple[Any, dict]:
    """The export's response and its body, parsed as one JSON document."""
    response = client.get(EXPORT + query, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response, json.loads(response.get_data())


def history_of(engine: Engine, learner_id: int) -> dict[str, list[dict[str, Any]]]:
    """What the document must hold for a learner, read from the tables and shaped as
    the API shows it (every field but a card's retrievability, which depends on the
    moment), in the document's orders."""
    sessions, reviews, cards = schema.study_sessions, schema.word_review_items, schema.word_progress
    groups, activities = schema.groups, schema.study_activities
    with engine.connect() as connection:
        session_rows = connection.execute(
            select(sessions, groups.c.name.label("group_name"), activities.c.name.label("activity"))
            .join(groups, groups.c.id == sessions.c.group_id)
            .join(activities, activities.c.id == sessions.c.study_activity_id)
            .where(sessions.c.learner_id == learner_id)
            .order_by(sessions.c.created_at, sessions.c.id)
        ).all()
        review_rows = connection.execute(
            select(reviews)
            .where(reviews.c.learner_id == learner_id)
            .order_by(reviews.c.word_id, reviews.c.reviewed_at, reviews.c.id)
        ).all()
        card_rows = connection.execute(
            select(cards).where(cards.c.learner_id == learner_id).order_by(cards.c.word_id)
        ).all()
    return {
        "study_sessions": [
            {
                "id": row.id,
                "group_id": row.group_id,
                "group_name": row.group_name,
                "activity_id": row.study_activity_id,
                "activity_name": row.activity,
                "start_time": row.created_at,
                "end_time": row.last_review_at or row.created_at,
                "review_items_count": row.review_items_count,
                "correct_count": row.correct_count,
                "wrong_count": row.wrong_count,
            }
            for row in session_rows
        ],
        "reviews": [
            {
                "id": row.id,
                "word_id": row.word_id,
                "study_session_id": row.study_session_id,
                "correct": row.correct,
                "rating": RATING_NAMES[row.rating],
                "reviewed_at": row.reviewed_at,
                "duration_ms": row.duration_ms,
                "created_at": row.created_at,
            }
            for row in review_rows
        ],
        "cards": [
            {
                "state": STATE_NAMES[row.state],
                "due": row.due,
                "stability": row.stability,
                "difficulty": row.difficulty,
                "reps": row.reps,
                "lapses": row.lapses,
                "last_review_at": row.last_review_at,
                "word_id": row.word_id,
            }
            for row in card_rows
        ],
    }


TIMES = {"start_time", "end_time", "reviewed_at", "created_at", "due", "last_review_at"}


def as_read(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The document's three lists as history_of reads them: times parsed, without a
    card's retrievability."""
    return {
        name: [
            {
                key: datetime.fromisoformat(value) if key in TIMES else value
                for key, value in item.items()
                if key != "retrievability"
            }
            for item in document[name]
        ]
        for name in ("study_sessions", "reviews", "cards")
    }


def assert_shape(document: dict[str, Any]) -> LearnerExport:
    """The document is a LearnerExport with exactly the model's fields, everywhere."""
    model = LearnerExport.model_validate(document)
    assert list(document) == list(LearnerExport.model_fields)
    assert set(document["learner"]) == set(type(model.learner).model_fields)
    for name in ("study_sessions", "reviews", "cards"):
        item_model = LearnerExport.model_fields[name].annotation.__args__[0]
        for item in document[name]:
            assert set(item) == set(item_model.model_fields), name
    return model


# --- Content and shape -----------------------------------------------------------------------


def test_the_export_is_the_learners_whole_history_and_nothing_else(client, engine, learners):
    aiko, ben = learners["A"], learners["B"]
    before = snapshot(engine)

    response, document = exported(client, aiko.headers)

    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="lang-portal-export-learner-{aiko.id}.json"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    model = assert_shape(document)
    assert (model.learner.id, model.learner.name, model.learner.role) == (
        aiko.id,
        "Aiko",
        "learner",
    )
    expected = history_of(engine, aiko.id)
    assert as_read(document) == expected
    assert [len(expected[name]) for name in expected] == [2, 5, 3]
    assert all(0 < card.retrievability <= 1 for card in model.cards)
    # Ben's rows, in the same tables and of the same words, are not in it.
    bens = history_of(engine, ben.id)
    for name in ("study_sessions", "reviews"):
        assert {item["id"] for item in document[name]}.isdisjoint(item["id"] for item in bens[name])
    assert snapshot(engine) == before  # a read: nothing written, not even last_active_at


def test_the_streamed_document_matches_the_schema_of_the_openapi_document(client, learners):
    document = build_document(auth_mode="accounts")
    success = document["paths"]["/api/me/export"]["get"]["responses"]["200"]
    media = success["content"]["application/json"]["schema"]
    assert media == {"$ref": "#/components/schemas/LearnerExport"}
    schema_of_export = {"allOf": [media], "components": document["components"]}

    _, body = exported(client, learners["A"].headers)

    Draft202012Validator(schema_of_export).validate(body)
    assert body["reviews"]  # a schema check of empty lists would prove little


def test_a_learner_with_no_history_gets_empty_lists(client, learners):
    chika = learners["C"]

    _, document = exported(client, chika.headers)

    assert_shape(document)
    assert document["learner"]["id"] == chika.id
    assert (document["study_sessions"], document["reviews"], document["cards"]) == ([], [], [])


def test_the_document_is_streamed_one_snapshot_while_the_history_changes(client, engine, learners):
    """A review recorded while the document is being sent is not in it: the whole
    document is read in the snapshot taken before its first byte."""
    aiko = learners["A"]
    expected = history_of(engine, aiko.id)
    response = client.get(EXPORT, headers=aiko.headers)
    assert response.status_code == 200
    chunks = iter(response.response)
    first = next(chunks)  # the document has started; nothing of the history sent yet
    assert first.startswith(b'{"learner":') and b"study_sessions" not in first

    a3 = start_session(client, aiko, group_id=3, study_activity_id=1)
    review(client, aiko, a3, [(4, True)])
    rest = b"".join(chunks)
    response.close()

    document = json.loads(first + rest)
    assert as_read(document) == expected
    assert len(history_of(engine, aiko.id)["reviews"]) == len(expected["reviews"]) + 1


# --- Who may read it -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "learner_id", "subject"),
    [
        ("A", None, "A"),
        ("A", "A", "A"),
        ("B", None, "B"),
        ("teacher", "A", "A"),
        ("teacher", "B", "B"),
        ("operator", "A", "A"),
        ("teacher", None, "teacher"),
    ],
)
def test_a_learner_exports_their_own_and_a_teacher_anyones(
    client, engine, learners, caller, learner_id, subject
):
    headers = OPERATOR if caller == "operator" else learners[caller].headers
    query = f"?learner_id={learners[learner_id].id}" if learner_id else ""
    subject_id = learners[subject].id

    response, document = exported(client, headers, query)

    assert document["learner"]["id"] == subject_id
    assert as_read(document) == history_of(engine, subject_id)
    assert f"learner-{subject_id}.json" in response.headers["Content-Disposition"]


@pytest.mark.parametrize(
    ("caller", "learner_id", "status"),
    [
        ("A", "B", 403),  # a learner reads no one else's
        ("B", "teacher", 403),
        ("A", "999999", 403),  # and learns nothing of which ids exist
        ("teacher", "999999", 404),
        ("teacher", "abc", 400),
        ("teacher", "0", 400),
        ("nobody", None, 401),
        ("invalid", None, 401),
    ],
)
def test_a_refused_export_is_a_problem_before_any_byte(
    client, engine, learners, caller, learner_id, status
):
    if caller == "nobody":
        headers = {}
    elif caller == "invalid":
        headers = {"Authorization": "Bearer not-a-token-of-anyone-0123456789abcdef"}
    else:
        headers = learners[caller].headers
    value = str(learners[learner_id].id) if learner_id in learners else learner_id
    before = snapshot(engine)

    response = client.get(EXPORT + (f"?learner_id={value}" if value else ""), headers=headers)

    assert_problem(response, status)
    assert "Content-Disposition" not in response.headers
    assert engine.pool.checkedout() == 0
    assert snapshot(engine) == before


# --- The stream's connection -----------------------------------------------------------------


@pytest.mark.parametrize("read", ["not at all", "its first chunk", "all of it"])
def test_the_connection_is_given_back_however_the_response_ends(client, engine, learners, read):
    response = client.get(EXPORT, headers=learners["A"].headers)
    assert response.status_code == 200
    chunks = iter(response.response)
    if read == "its first chunk":
        assert next(chunks).startswith(b'{"learner":')
    elif read == "all of it":
        assert json.loads(b"".join(chunks))["learner"]["id"] == learners["A"].id
    # The document's snapshot is open until its last byte.
    assert engine.pool.checkedout() == (0 if read == "all of it" else 1)
    response.close()
    assert engine.pool.checkedout() == 0


def test_a_head_request_sends_no_body_and_holds_no_connection(client, engine, learners):
    response = client.head(EXPORT, headers=learners["A"].headers)
    assert response.status_code == 200
    assert response.get_data() == b""
    response.close()
    assert engine.pool.checkedout() == 0


def test_rows_are_fetched_as_they_are_sent_through_one_statement_each(client, engine, learners):
    """Each list is one statement, its rows fetched as the document is written: on
    PostgreSQL through a server-side cursor (SQLite's cursor steps through its rows
    itself), so the database never hands over the whole history at once either."""
    seen: list[tuple[str, Any]] = []

    def record(connection, cursor, statement, parameters, context, executemany) -> None:
        seen.append((statement, cursor))

    event.listen(engine, "before_cursor_execute", record)
    try:
        exported(client, learners["A"].headers)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    lists = [(sql, cursor) for sql, cursor in seen if "ORDER BY" in sql]
    tables = ["study_sessions", "word_review_items", "word_progress"]
    assert [next(t for t in tables if f"FROM {t}" in sql) for sql, _ in lists] == tables
    if engine.dialect.name == "postgresql":
        import psycopg

        assert all(isinstance(cursor, psycopg.ServerCursor) for _, cursor in lists)


# --- Memory ----------------------------------------------------------------------------------


def add_history(engine: Engine, learner_id: int, reviews: int) -> None:
    """``reviews`` reviews of 200 words for a learner, through the query layer (what the
    review route records), 1,000 to a session: fast, and every counter and card right."""
    schedule = scheduling.scheduler(0.9)
    recorded = 0
    while recorded < reviews:
        with db.writing(engine) as connection:
            study_session_id = queries.study_sessions.create(connection, learner_id, 1, 1)["id"]
            batch = [
                queries.reviews.NewReview(1 + n % 200, 1 + n % 4)
                for n in range(recorded, min(recorded + 1000, reviews))
            ]
            queries.reviews.add_reviews(connection, learner_id, study_session_id, batch, schedule)
        recorded += len(batch)


def streamed_peak(client: Any, learner: Learner, path: Path) -> int:
    """The Python heap's peak, in bytes, over one whole export request whose body is
    written to ``path`` as it arrives (so the body itself is not held in memory)."""
    tracemalloc.start()
    try:
        response = client.get(EXPORT, headers=learner.headers)
        assert response.status_code == 200
        with path.open("wb") as out:
            for chunk in response.response:
                out.write(chunk)
        response.close()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_stays_flat_however_long_the_history(client, engine, tmp_path):
    """The heap's peak while 10k reviews are exported stays under 1.5 times the peak for
    1k reviews.

    Rows are read and written 1,000 at a time (queries.learner_export.BATCH_ROWS), so
    1k reviews are one batch and 10k are ten; a stream holds one batch, and little of
    the one before, whatever the history. Measured (with coverage on, as the suite
    runs): 2.04 MB for 1k and 2.36 MB for 10k on SQLite, 2.16 MB and 2.19 MB on
    PostgreSQL; 20k peaks like 2k. An export that held the 10k reviews at once would be
    far past the bound: their JSON text alone is 1.9 MB, and as rows, dicts and models
    they take ten times that (reading them in one batch peaks at 21 MB). The 10k body
    is then checked to be one JSON document with every review.
    """
    small = add_learner(client, "Small History")
    large = add_learner(client, "Large History")
    add_history(engine, small.id, 1_000)
    add_history(engine, large.id, 10_000)
    streamed_peak(client, small, tmp_path / "warm-up.json")  # imports, caches, statements

    small_peak = streamed_peak(client, small, tmp_path / "small.json")
    large_peak = streamed_peak(client, large, tmp_path / "large.json")

    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)
    document = json.loads((tmp_path / "large.json").read_bytes())
    assert_shape(document)
    assert len(document["reviews"]) == 10_000
    assert len(document["study_sessions"]) == 10
    assert len(document["cards"]) == 200
    assert {review["study_session_id"] for review in document["reviews"]} == {
        session["id"] for session in document["study_sessions"]
    }
    stored = history_of(engine, large.id)
    assert [r["id"] for r in document["reviews"]] == [r["id"] for r in stored["reviews"]]


def test_the_open_mode_exports_the_default_learners_history(database_url):
    open_app = make_app(database_url)
    try:
        client = open_app.test_client()
        created = client.post("/api/study-sessions", json={"group_id": 1, "study_activity_id": 1})
        assert created.status_code == 201
        _, document = exported(client, {})
    finally:
        open_app.extensions["lang_portal.engine"].dispose()
    assert document["learner"]["id"] == DEFAULT_LEARNER_ID
    assert [s["id"] for s in document["study_sessions"]] == [created.get_json()["id"]]
