"""GET /api/xapi/statements: a learner's reviews as an xAPI StatementResult.

Reviews are recorded through the API at chosen times (in a session moved back in time),
several of them at the same instant, and the statements are checked against the rows
the database holds: each review once, in (reviewed_at, id) order, however the pages
are cut, and only the reviews of the learner asked for.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from sqlalchemy import Engine, select

from lang_portal import queries, schema, xapi
from lang_portal.api.xapi import MAX_STATEMENTS
from lang_portal.queries.learners import DEFAULT_LEARNER_ID
from tests.accounts import Learner, accounts_app, add_learner, backdate_session, start_session
from tests.conftest import make_app
from tests.support import NEW_STUDY_SESSION, STUDY_SESSIONS, assert_problem, snapshot

STATEMENTS = "/api/xapi/statements"
VERSION_HEADER = "X-Experience-API-Version"
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
T0, T1, T2, T3 = (START + timedelta(minutes=minutes) for minutes in (1, 2, 3, 4))
# (word id, answered at): three reviews at T1, out of order in the batch.
ANSWERS = [(5, T2), (1, T0), (2, T1), (3, T1), (4, T1), (6, T3), (7, T1), (8, T0)]


def rfc_3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def answer(
    client: Any,
    engine: Engine,
    answers: list[tuple[int, datetime]],
    headers: dict[str, str] | None = None,
) -> int:
    """Start a session, move its start back to START, and record ``answers`` in it as
    one batch; returns the session's id."""
    created = client.post(STUDY_SESSIONS, json=NEW_STUDY_SESSION, headers=headers)
    assert created.status_code == 201
    study_session_id = created.get_json()["id"]
    backdate_session(engine, study_session_id, START)
    reviews = [
        {
            "word_id": word_id,
            "rating": "good" if word_id % 3 else "again",
            "reviewed_at": rfc_3339(at),
        }
        | ({"duration_ms": 250 * word_id} if word_id % 2 else {})
        for word_id, at in answers
    ]
    response = client.post(
        f"{STUDY_SESSIONS}/{study_session_id}/review", json={"reviews": reviews}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    return study_session_id


def review_ids_in_time_order(engine: Engine, learner_id: int) -> list[int]:
    """The learner's review ids as the database orders them by (reviewed_at, id)."""
    reviews = schema.word_review_items
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(reviews.c.id)
                .where(reviews.c.learner_id == learner_id)
                .order_by(reviews.c.reviewed_at, reviews.c.id)
            ).scalars()
        )


def expected_statements(engine: Engine, learner_id: int, public_url: str) -> list[dict[str, Any]]:
    """The statements of the learner's reviews, as the sender builds them, in time order."""
    ids = review_ids_in_time_order(engine, learner_id)
    with engine.connect() as connection:
        records = {row["id"]: row for row in queries.statements.review_records(connection, ids)}
    return [xapi.statement(records[review_id], public_url) for review_id in ids]


def walk(client: Any, first: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every page from ``first`` on, following ``more`` to the empty string."""
    pages, url = [], first
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_json()
        assert response.headers[VERSION_HEADER] == "1.0.3"
        pages.append(response.get_json())
        url = pages[-1]["more"]
        assert len(pages) < 100, "the more links never end"
    return pages


@pytest.fixture
def reviewed(client: Any, engine: Engine) -> list[int]:
    """The default learner's reviews: ANSWERS in one session, two more in another."""
    answer(client, engine, ANSWERS)
    answer(client, engine, [(9, T1), (10, T3)])
    ids = review_ids_in_time_order(engine, DEFAULT_LEARNER_ID)
    assert len(ids) == len(ANSWERS) + 2
    return ids


def test_the_statements_are_the_learners_reviews_in_time_order(client, engine, reviewed):
    response = client.get(f"{STATEMENTS}?limit={MAX_STATEMENTS}")
    assert response.status_code == 200
    assert response.headers[VERSION_HEADER] == "1.0.3"
    body = response.get_json()
    assert body["more"] == ""
    assert [statement["id"] for statement in body["statements"]] == [
        xapi.statement_id(review_id) for review_id in reviewed
    ]
    # What the API lists is what the sender would send, to the byte.
    assert body["statements"] == expected_statements(engine, DEFAULT_LEARNER_ID, "http://localhost")
    reviews = schema.word_review_items
    with engine.connect() as connection:
        rows = {row.id: row for row in connection.execute(select(reviews))}
    for review_id, statement in zip(reviewed, body["statements"], strict=True):
        row = rows[review_id]
        assert statement["object"]["id"] == f"http://localhost/words/{row.word_id}"
        assert statement["result"]["success"] is row.correct
        assert statement["timestamp"] == xapi.timestamp(row.reviewed_at)
        assert statement["context"]["registration"] == xapi.registration(row.study_session_id)
        assert ("duration" in statement["result"]) is (row.duration_ms is not None)


def test_the_document_describes_the_statements_sent(client, reviewed):
    document = client.get("/api/openapi.json").get_json()
    operation = document["paths"][STATEMENTS]["get"]
    assert {parameter["name"] for parameter in operation["parameters"]} >= {
        "since",
        "limit",
        "after",
        "learner_id",
    }
    body_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({"allOf": [body_schema], "components": document["components"]})
    body = client.get(STATEMENTS).get_json()
    assert body["statements"]
    assert list(validator.iter_errors(body)) == []
    assert list(validator.iter_errors({"statements": [{"id": "x"}], "more": ""})) != []


@pytest.mark.parametrize("limit", [1, 2, 3, 9, 10, 11])
def test_the_more_links_lead_through_every_statement_once(client, engine, reviewed, limit):
    pages = walk(client, f"{STATEMENTS}?limit={limit}")
    assert len(pages) == max(1, math.ceil(len(reviewed) / limit))
    assert all(len(page["statements"]) == limit for page in pages[:-1])
    walked = [statement["id"] for page in pages for statement in page["statements"]]
    assert walked == [xapi.statement_id(review_id) for review_id in reviewed]
    for page in pages[:-1]:
        link = urlsplit(page["more"])
        assert (link.scheme, link.netloc, link.path) == ("", "", STATEMENTS)
        assert parse_qs(link.query)["limit"] == [str(limit)]


def test_a_review_recorded_while_walking_comes_on_a_later_page(client, engine, reviewed):
    first = client.get(f"{STATEMENTS}?limit=3").get_json()
    late = client.post(STUDY_SESSIONS, json=NEW_STUDY_SESSION).get_json()["id"]
    one_more = client.post(f"{STUDY_SESSIONS}/{late}/words/11/review", json={"correct": True})
    assert one_more.status_code == 201
    rest = walk(client, first["more"])
    walked = [s["id"] for page in [first, *rest] for s in page["statements"]]
    everything = review_ids_in_time_order(engine, DEFAULT_LEARNER_ID)
    assert len(everything) == len(reviewed) + 1
    assert walked == [xapi.statement_id(review_id) for review_id in everything]


@pytest.mark.parametrize(
    "since",
    [
        T1,  # exclusive: none of the reviews at T1
        T1 - timedelta(microseconds=1),  # all of them
        START,  # every review
        T3,  # none is later
    ],
)
def test_since_keeps_only_later_statements(client, engine, reviewed, since):
    reviews = schema.word_review_items
    with engine.connect() as connection:
        later = connection.execute(
            select(reviews.c.id)
            .where(reviews.c.reviewed_at > since)
            .order_by(reviews.c.reviewed_at, reviews.c.id)
        ).scalars()
        expected = [xapi.statement_id(review_id) for review_id in later]
    for limit in (2, MAX_STATEMENTS):
        pages = walk(client, f"{STATEMENTS}?since={rfc_3339(since)}&limit={limit}")
        assert [s["id"] for page in pages for s in page["statements"]] == expected
    assert len(expected) == {T1: 3, T1 - timedelta(microseconds=1): 8, START: 10, T3: 0}[since]


def test_since_with_an_offset_is_the_same_instant(client, reviewed):
    in_tokyo = T1.astimezone(UTC) + timedelta(hours=9)
    spelled = in_tokyo.replace(tzinfo=None).isoformat() + "%2B09:00"
    assert (
        client.get(f"{STATEMENTS}?since={spelled}").get_json()
        == client.get(f"{STATEMENTS}?since={rfc_3339(T1)}").get_json()
    )


@pytest.mark.parametrize(
    ("since", "count"), [("0001-01-01T00:00:00Z", 10), ("9999-12-31T23:59:59.999999Z", 0)]
)
def test_since_takes_the_first_and_the_last_time_there_is(client, reviewed, since, count):
    assert len(reviewed) == 10
    response = client.get(f"{STATEMENTS}?since={since}")
    assert response.status_code == 200
    assert len(response.get_json()["statements"]) == count


def test_limit_zero_asks_for_the_most_the_server_allows(client, reviewed):
    body = client.get(f"{STATEMENTS}?limit=0").get_json()
    assert len(body["statements"]) == len(reviewed) and body["more"] == ""


def test_no_reviews_no_statements(client, engine):
    client.post(STUDY_SESSIONS, json=NEW_STUDY_SESSION)
    response = client.get(STATEMENTS)
    assert response.status_code == 200
    assert response.get_json() == {"statements": [], "more": ""}
    assert response.headers[VERSION_HEADER] == "1.0.3"


def test_a_reset_history_has_no_statements(client, engine, reviewed):
    assert client.post(f"{STUDY_SESSIONS}/reset", json={}).status_code == 200
    assert review_ids_in_time_order(engine, DEFAULT_LEARNER_ID) == []
    assert client.get(STATEMENTS).get_json() == {"statements": [], "more": ""}


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


BAD_QUERIES = {
    "since not a time": ("since=yesterday", "#/since"),
    "since without a zone": ("since=2026-01-31T09:00:00", "#/since"),
    "since a date only": ("since=2026-01-31", "#/since"),
    "since empty": ("since=", "#/since"),
    "since before the year 1 in UTC": ("since=0001-01-01T00:00:00%2B01:00", "#/since"),
    "since after 9999 in UTC": ("since=9999-12-31T23:59:59-01:00", "#/since"),
    "since twice": ("since=2026-01-31T09:00:00Z&since=2026-02-01T09:00:00Z", "#/since"),
    "limit negative": ("limit=-1", "#/limit"),
    "limit over the most": (f"limit={MAX_STATEMENTS + 1}", "#/limit"),
    "limit not a number": ("limit=ten", "#/limit"),
    "limit a fraction": ("limit=1.5", "#/limit"),
    "limit twice": ("limit=1&limit=2", "#/limit"),
    "after not base64": ("after=%%%", "#/after"),
    "after random text": ("after=not-a-cursor", "#/after"),
    "after without an id": (f"after={cursor('2026-01-31T09:00:00+00:00')}", "#/after"),
    "after without a zone": (f"after={cursor('2026-01-31T09:00:00|5')}", "#/after"),
    "after id zero": (f"after={cursor('2026-01-31T09:00:00+00:00|0')}", "#/after"),
    "after id too big": (f"after={cursor(f'2026-01-31T09:00:00+00:00|{2**63}')}", "#/after"),
    "after before the year 1 in UTC": (
        f"after={cursor('0001-01-01T00:00:00+01:00|5')}",
        "#/after",
    ),
    "after not a time": (f"after={cursor('yesterday|5')}", "#/after"),
    "after too long": ("after=" + "A" * 201, "#/after"),
    "learner_id zero": ("learner_id=0", "#/learner_id"),
}


@pytest.mark.parametrize(("query", "pointer"), BAD_QUERIES.values(), ids=BAD_QUERIES.keys())
def test_bad_input_is_a_400_problem(client, engine, reviewed, query, pointer):
    before = snapshot(engine)
    response = client.get(f"{STATEMENTS}?{query}")
    assert_problem(response, 400, pointer)
    assert snapshot(engine) == before


def test_a_cursor_from_a_page_still_works_after_its_review_is_gone(client, engine, reviewed):
    """A cursor names a place in the order, not a row: it outlives a reset."""
    more = client.get(f"{STATEMENTS}?limit=2").get_json()["more"]
    assert client.post(f"{STUDY_SESSIONS}/reset", json={}).status_code == 200
    assert client.get(more).get_json() == {"statements": [], "more": ""}


def test_the_public_url_with_a_path_is_in_every_iri_and_link(database_url):
    public_url = "https://school.example/jp"
    app = make_app(database_url, PUBLIC_URL=public_url)
    try:
        client, engine = app.test_client(), app.extensions["lang_portal.engine"]
        answer(client, engine, ANSWERS)
        first = client.get(f"{STATEMENTS}?limit=5").get_json()
        statement = first["statements"][0]
        assert statement["actor"]["account"]["homePage"] == public_url
        assert statement["object"]["id"].startswith(public_url + "/words/")
        # The proxy in front strips the path it serves lang-portal under.
        assert first["more"].startswith("/jp" + STATEMENTS + "?")
        rest = walk(client, first["more"].removeprefix("/jp"))
        walked = [s for page in [first, *rest] for s in page["statements"]]
        assert walked == expected_statements(engine, DEFAULT_LEARNER_ID, public_url)
    finally:
        app.extensions["lang_portal.engine"].dispose()


# --- whose statements: the accounts mode -------------------------------------------------


@pytest.fixture
def school(database_url: str) -> Iterator[Flask]:
    with accounts_app(database_url) as application:
        yield application


@pytest.fixture
def learners(school: Flask) -> dict[str, Learner]:
    """Ann and Ben, who reviewed, and Tess, a teacher who did not."""
    client, engine = school.test_client(), school.extensions["lang_portal.engine"]
    people = {
        "ann": add_learner(client, "Ann"),
        "ben": add_learner(client, "Ben"),
        "tess": add_learner(client, "Tess", role="teacher"),
    }
    answer(client, engine, ANSWERS[:5], people["ann"].headers)
    answer(client, engine, ANSWERS[3:], people["ben"].headers)
    start_session(client, people["tess"])
    return people


def test_a_learner_reads_their_own_statements_only(school, learners):
    client, engine = school.test_client(), school.extensions["lang_portal.engine"]
    for name in ("ann", "ben"):
        learner = learners[name]
        pages = walk(client, f"{STATEMENTS}?limit=2", learner.headers)
        statements = [s for page in pages for s in page["statements"]]
        assert statements == expected_statements(engine, learner.id, "http://localhost")
        assert {s["actor"]["account"]["name"] for s in statements} == {f"learner-{learner.id}"}
        assert statements
    assert client.get(STATEMENTS, headers=learners["tess"].headers).get_json() == {
        "statements": [],
        "more": "",
    }


def test_a_learner_may_not_read_another_learners(school, learners):
    client = school.test_client()
    response = client.get(
        f"{STATEMENTS}?learner_id={learners['ann'].id}", headers=learners["ben"].headers
    )
    assert_problem(response, 403)
    assert_problem(client.get(STATEMENTS), 401)


def test_a_teacher_reads_a_learners_statements_through_every_page(school, learners):
    client, engine = school.test_client(), school.extensions["lang_portal.engine"]
    ann = learners["ann"]
    pages = walk(client, f"{STATEMENTS}?learner_id={ann.id}&limit=2", learners["tess"].headers)
    assert len(pages) == 3
    for page in pages[:-1]:
        assert parse_qs(urlsplit(page["more"]).query)["learner_id"] == [str(ann.id)]
    statements = [s for page in pages for s in page["statements"]]
    assert statements == expected_statements(engine, ann.id, "http://localhost")
    unknown = client.get(f"{STATEMENTS}?learner_id=999999", headers=learners["tess"].headers)
    assert_problem(unknown, 404)
