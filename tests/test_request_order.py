"""The order of checks on a write, as api/routing.py's docstring and the README state it.

Each request below fails two checks at once; the status it gets names the check that
comes first. Order on a write: the identity (401; 403 on a teacher-only route), the rate
limit (429), the Content-Type (415), the body's size (413) and JSON (400), the
Idempotency-Key header (400), the body's fields (400), whose history it writes (403),
then the transaction. None of them writes anything.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from tests.conftest import make_app
from tests.support import assert_problem, snapshot

TOKEN = "order-test-token"
LIMIT = 2
ROUTE = "/api/study-sessions"
VALID = json.dumps({"group_id": 1, "study_activity_id": 1})
JSON = "application/json"
AUTHORIZED = {"Authorization": f"Bearer {TOKEN}"}
BAD_KEY = {"Idempotency-Key": "\u00e9"}


@pytest.fixture
def app(database_url: str) -> Any:
    """The app with an API token and a small write budget per client."""
    application = make_app(database_url, API_TOKEN=TOKEN, RATE_LIMIT=f"{LIMIT}/minute")
    yield application
    application.extensions["lang_portal.engine"].dispose()


def spend_the_budget(app: Flask) -> None:
    client = app.test_client()
    for _ in range(LIMIT):
        created = client.post(ROUTE, data=VALID, content_type=JSON, headers=AUTHORIZED)
        assert created.status_code == 201, created.get_data(as_text=True)


# (what fails, budget spent first, headers, content type, body, status, the first check's words)
TWO_FAILURES = [
    ("no token and wrong content type", False, {}, "text/plain", VALID, 401, "Authorization"),
    ("no token and over the limit", True, {}, JSON, VALID, 401, "Authorization"),
    ("wrong token and bad JSON", False, {"Authorization": "Bearer nope"}, JSON, "{", 401, "Bearer"),
    ("over the limit and bad JSON", True, AUTHORIZED, JSON, "{", 429, None),
    ("over the limit and wrong content type", True, AUTHORIZED, "text/plain", VALID, 429, None),
    (
        "wrong content type and bad Idempotency-Key",
        False,
        {**AUTHORIZED, **BAD_KEY},
        "text/plain",
        VALID,
        415,
        "Content-Type",
    ),
    (
        "body too large and bad Idempotency-Key",
        False,
        {**AUTHORIZED, **BAD_KEY},
        JSON,
        json.dumps({"group_id": 1, "study_activity_id": 1, "pad": "x" * 70_000}),
        413,
        None,
    ),
    (
        "bad JSON and bad Idempotency-Key",
        False,
        {**AUTHORIZED, **BAD_KEY},
        JSON,
        "{",
        400,
        "not valid JSON",
    ),
    (
        "bad Idempotency-Key and invalid body",
        False,
        {**AUTHORIZED, **BAD_KEY},
        JSON,
        json.dumps({"group_id": "one"}),
        400,
        "Idempotency-Key",
    ),
    (
        "invalid body and an unknown group",
        False,
        AUTHORIZED,
        JSON,
        json.dumps({"group_id": "one", "study_activity_id": 999_999}),
        400,
        "group_id must be an integer",
    ),
]


@pytest.mark.parametrize(
    ("budget_spent", "headers", "content_type", "body", "status", "words"),
    [case[1:] for case in TWO_FAILURES],
    ids=[case[0] for case in TWO_FAILURES],
)
def test_the_first_check_in_the_order_answers(
    app: Flask,
    budget_spent: bool,
    headers: dict[str, str],
    content_type: str,
    body: str,
    status: int,
    words: str | None,
) -> None:
    engine = app.extensions["lang_portal.engine"]
    if budget_spent:
        spend_the_budget(app)
    before = snapshot(engine)
    response = app.test_client().post(ROUTE, data=body, content_type=content_type, headers=headers)
    problem = assert_problem(response, status)
    if words is not None:
        assert words in problem["detail"]
    if status == 400 and words == "Idempotency-Key":
        assert problem["errors"] == [
            {"pointer": "#/headers/Idempotency-Key", "detail": problem["errors"][0]["detail"]}
        ]
    assert snapshot(engine) == before


def test_a_request_refused_for_its_token_spends_no_budget(app: Flask) -> None:
    engine = app.extensions["lang_portal.engine"]
    client = app.test_client()
    before = snapshot(engine)
    for _ in range(LIMIT + 3):
        refused = client.post(ROUTE, data=VALID, content_type=JSON)
        assert_problem(refused, 401)
    assert snapshot(engine) == before
    spend_the_budget(app)  # the whole budget is still there
    over = client.post(ROUTE, data=VALID, content_type=JSON, headers=AUTHORIZED)
    assert_problem(over, 429)
    after = snapshot(engine)
    assert len(after["study_sessions"]) == len(before["study_sessions"]) + LIMIT


# --- the accounts mode: the identity and the role come before the budget ---------------------

LEARNERS = "/api/learners"


@pytest.fixture
def accounts_app(database_url: str) -> Any:
    """The app in the accounts mode, with an operator token and a small write budget."""
    application = make_app(
        database_url, AUTH="accounts", API_TOKEN=TOKEN, RATE_LIMIT=f"{LIMIT}/minute"
    )
    yield application
    application.extensions["lang_portal.engine"].dispose()


def _learner_token(app: Flask) -> str:
    created = app.test_client().post(
        LEARNERS, json={"name": "Order Test"}, headers=AUTHORIZED
    )  # spends one of the operator's writes, none of the learner's
    assert created.status_code == 201, created.get_json()
    return created.get_json()["token"]


def test_a_learner_on_a_teacher_route_is_403_and_spends_nothing(accounts_app: Flask) -> None:
    engine = accounts_app.extensions["lang_portal.engine"]
    learner = {"Authorization": f"Bearer {_learner_token(accounts_app)}"}
    client = accounts_app.test_client()
    before = snapshot(engine)
    for _ in range(LIMIT + 2):
        refused = client.post(LEARNERS, json={"name": "Nope"}, headers=learner)
        assert_problem(refused, 403)
    assert snapshot(engine) == before
    for _ in range(LIMIT):  # the learner's whole budget is still there
        created = client.post(ROUTE, data=VALID, content_type=JSON, headers=learner)
        assert created.status_code == 201, created.get_json()
    assert_problem(client.post(ROUTE, data=VALID, content_type=JSON, headers=learner), 429)


def test_without_an_identity_even_a_read_is_401_before_its_query_is_checked(
    accounts_app: Flask,
) -> None:
    response = accounts_app.test_client().get("/api/study-sessions?page=0")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="lang-portal"'


def test_an_invalid_body_is_400_before_whose_history_it_would_write(accounts_app: Flask) -> None:
    """Another learner's id on a write is a 403, but a bad body is found first."""
    engine = accounts_app.extensions["lang_portal.engine"]
    before = snapshot(engine)
    client = accounts_app.test_client()
    bad = client.post(
        f"{ROUTE}?learner_id=2",
        json={"group_id": "one", "study_activity_id": 1},
        headers=AUTHORIZED,
    )
    assert "group_id must be an integer" in assert_problem(bad, 400)["detail"]
    other = client.post(f"{ROUTE}?learner_id=2", data=VALID, content_type=JSON, headers=AUTHORIZED)
    assert "another learner" in assert_problem(other, 403)["detail"]
    assert snapshot(engine) == before
