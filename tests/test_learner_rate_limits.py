"""The write rate limit per learner in the ``accounts`` mode, per address in the ``open`` mode.

A school behind one NAT address must not share one budget: in the ``accounts`` mode
every learner has their own, spent by all their write routes together, wherever they
write from. A request refused for its identity (401) spends nobody's budget, since the
identity is checked before the limit. Every client here writes from one address.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.accounts import (
    JSON,
    OPERATOR,
    Learner,
    accounts_app,
    add_learner,
    bearer,
    learner_rows,
)
from tests.conftest import make_app
from tests.support import assert_problem, snapshot

LIMIT = 3
SCHOOL_ADDRESS = "203.0.113.7"
OTHER_ADDRESS = "203.0.113.8"


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """An accounts-mode app allowing each learner LIMIT writes a minute."""
    with accounts_app(
        database_url, RATE_LIMIT=f"{LIMIT}/minute", RATE_LIMIT_STORAGE="memory://"
    ) as application:
        yield application


def client_at(app: Flask, address: str = SCHOOL_ADDRESS) -> FlaskClient:
    """A test client whose requests come from ``address``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


@pytest.fixture
def learners(app: Flask) -> dict[str, Learner]:
    """Aiko and Ben, added by the operator from another address (on the operator's budget)."""
    setup = client_at(app, "198.51.100.1")
    return {"A": add_learner(setup, "Aiko"), "B": add_learner(setup, "Ben")}


def _create(client: FlaskClient, learner: Learner, study_session_id: int | None) -> Any:
    return client.post(
        "/api/study-sessions", json={"group_id": 1, "study_activity_id": 1}, headers=learner.headers
    )


def _batch(client: FlaskClient, learner: Learner, study_session_id: int | None) -> Any:
    return client.post(
        f"/api/study-sessions/{study_session_id}/review",
        json={"reviews": [{"word_id": 1, "is_correct": True}]},
        headers=learner.headers,
    )


def _single(client: FlaskClient, learner: Learner, study_session_id: int | None) -> Any:
    return client.post(
        f"/api/study-sessions/{study_session_id}/words/9/review",
        json={"correct": False},
        headers=learner.headers,
    )


def _reset(client: FlaskClient, learner: Learner, study_session_id: int | None) -> Any:
    return client.post("/api/study-sessions/reset", headers={**JSON, **learner.headers})


def _new_token(client: FlaskClient, learner: Learner, study_session_id: int | None) -> Any:
    return client.post(f"/api/learners/{learner.id}/token", headers={**JSON, **learner.headers})


WRITES: dict[str, Callable[[FlaskClient, Learner, int | None], Any]] = {
    "create": _create,
    "batch review": _batch,
    "single review": _single,
    "reset": _reset,
    "new token": _new_token,
}
SUCCESS = {"create": 201, "batch review": 201, "single review": 201, "reset": 200, "new token": 201}


def spend(client: FlaskClient, learner: Learner) -> tuple[int, list[int]]:
    """Spend LIMIT writes of ``learner``: a session, then reviews in it.

    Returns the session's id and the statuses.
    """
    created = _create(client, learner, None)
    study_session_id = created.get_json()["id"] if created.status_code == 201 else 0
    statuses = [created.status_code]
    for kind in ("batch review", "single review")[: LIMIT - 1]:
        statuses.append(WRITES[kind](client, learner, study_session_id).status_code)
    return study_session_id, statuses


def history(engine: Engine, learner: Learner) -> tuple[int, int]:
    """(study sessions, review items) of a learner right now."""
    rows = learner_rows(engine, learner.id)
    return len(rows["study_sessions"]), len(rows["word_review_items"])


def assert_refused(response: Any) -> None:
    assert_problem(response, 429)
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_two_learners_at_one_address_each_get_their_own_budget(app, engine, learners):
    client = client_at(app)
    aiko, ben = learners["A"], learners["B"]

    _, statuses = spend(client, aiko)
    assert statuses == [201] * LIMIT
    before = snapshot(engine)
    assert_refused(_create(client, aiko, None))
    assert snapshot(engine) == before

    # Ben, at the same address, still has his whole budget; then it runs out too.
    ben_statuses = [_create(client, ben, None).status_code for _ in range(LIMIT + 1)]
    assert ben_statuses == [201] * LIMIT + [429]
    assert history(engine, aiko) == (1, 2)
    assert history(engine, ben) == (LIMIT, 0)
    # Reads are not limited.
    assert client.get("/api/study-sessions", headers=aiko.headers).status_code == 200


@pytest.mark.parametrize(
    "refused",
    [
        pytest.param({}, id="no token"),
        pytest.param(bearer("not-a-token"), id="invalid token"),
        pytest.param({"Authorization": "Basic abc"}, id="other scheme"),
    ],
)
def test_a_refused_identity_spends_nobodys_budget(app, engine, learners, refused):
    client = client_at(app)
    before = snapshot(engine)
    strangers = [
        client.post(
            "/api/study-sessions", json={"group_id": 1, "study_activity_id": 1}, headers=refused
        )
        for _ in range(3 * LIMIT)
    ]
    assert [response.status_code for response in strangers] == [401] * 3 * LIMIT
    assert snapshot(engine) == before

    for learner in learners.values():
        _, statuses = spend(client, learner)
        assert statuses == [201] * LIMIT
        assert_refused(_create(client, learner, None))
        assert history(engine, learner) == (1, LIMIT - 1)


@pytest.mark.parametrize("refused_kind", list(WRITES))
def test_one_budget_covers_every_write_route_of_a_learner(app, engine, learners, refused_kind):
    client = client_at(app)
    aiko = learners["A"]
    study_session_id, statuses = spend(client, aiko)
    assert statuses == [201] * LIMIT
    before = snapshot(engine)

    assert_refused(WRITES[refused_kind](client, aiko, study_session_id))

    assert snapshot(engine) == before  # nothing written, nothing reset, no new token
    assert client.get("/api/me", headers=aiko.headers).status_code == 200
    # Ben's budget is his own, on every route.
    ben = learners["B"]
    ben_session = _create(client, ben, None).get_json()["id"]
    assert WRITES[refused_kind](client, ben, ben_session).status_code == SUCCESS[refused_kind]


@pytest.mark.parametrize(
    ("spender", "refused_kind"),
    [("reset", "create"), ("create", "batch review"), ("batch review", "single review"),
     ("single review", "new token"), ("new token", "reset")],
)  # fmt: skip
def test_every_write_kind_spends_from_the_learners_budget(database_url, spender, refused_kind):
    with accounts_app(database_url, RATE_LIMIT="2/minute", RATE_LIMIT_STORAGE="memory://") as app:
        engine = app.extensions["lang_portal.engine"]
        setup = client_at(app, "198.51.100.1")
        aiko = add_learner(setup, "Aiko")
        client = client_at(app)
        study_session_id = _create(client, aiko, None).get_json()["id"]  # spends one
        response = WRITES[spender](client, aiko, study_session_id)
        assert response.status_code == SUCCESS[spender]
        if spender == "new token":
            aiko = Learner(aiko.id, aiko.name, aiko.role, response.get_json()["token"])
        before = snapshot(engine)

        assert_refused(WRITES[refused_kind](client, aiko, study_session_id))
        assert snapshot(engine) == before


def test_one_learner_writing_from_two_addresses_has_one_budget(app, engine, learners):
    aiko = learners["A"]
    statuses = [
        _create(client_at(app, address), aiko, None).status_code
        for address in (SCHOOL_ADDRESS, OTHER_ADDRESS, SCHOOL_ADDRESS, OTHER_ADDRESS)
    ]
    assert statuses == [201] * LIMIT + [429]
    assert history(engine, aiko) == (LIMIT, 0)


def test_the_operator_token_has_a_budget_of_its_own(app, engine, learners):
    client = client_at(app)
    spend(client, learners["A"])
    assert_refused(_create(client, learners["A"], None))
    operator = Learner(1, "default", "teacher", OPERATOR["Authorization"].removeprefix("Bearer "))
    assert _create(client, operator, None).status_code == 201
    assert history(engine, operator) == (1, 0)


def test_in_the_open_mode_the_budget_stays_per_address(database_url):
    app = make_app(database_url, RATE_LIMIT=f"{LIMIT}/minute", RATE_LIMIT_STORAGE="memory://")
    engine = app.extensions["lang_portal.engine"]
    body = {"group_id": 1, "study_activity_id": 1}
    try:
        school, home = client_at(app, SCHOOL_ADDRESS), client_at(app, OTHER_ADDRESS)
        # Two people at one address share its budget: both are the default learner.
        statuses = [school.post("/api/study-sessions", json=body).status_code
                    for _ in range(LIMIT + 1)]  # fmt: skip
        assert statuses == [201] * LIMIT + [429]
        # Another address has its own.
        assert home.post("/api/study-sessions", json=body).status_code == 201
        before = snapshot(engine)
        assert_refused(school.post("/api/study-sessions/reset", headers=JSON))
        assert snapshot(engine) == before
        assert len(before["study_sessions"]) == LIMIT + 1
    finally:
        engine.dispose()
