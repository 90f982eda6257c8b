"""The write rate limit: one budget per client across every write route, spent only
by requests that pass the identity check.

Each write kind below is one of the four write routes. A client's writes of all
kinds count together against LANG_PORTAL_RATE_LIMIT, and a request refused with 401
for its token spends nothing, so a stranger on the same address cannot lock the
token holder out. Every request sends ``Content-Type: application/json``, which
every write route requires.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.conftest import count_rows, make_app

TOKEN = "s3cret-token"
CLIENT_ADDRESS = "203.0.113.7"
SETUP_ADDRESS = "198.51.100.1"
JSON = {"Content-Type": "application/json"}


def create(client: FlaskClient, headers: dict[str, str], study_session_id: int) -> Any:
    return client.post(
        "/api/study-sessions", json={"group_id": 1, "study_activity_id": 1}, headers=headers
    )


def batch_review(client: FlaskClient, headers: dict[str, str], study_session_id: int) -> Any:
    return client.post(
        f"/api/study-sessions/{study_session_id}/review",
        json={"reviews": [{"word_id": 1, "is_correct": True}]},
        headers=headers,
    )


def single_review(client: FlaskClient, headers: dict[str, str], study_session_id: int) -> Any:
    return client.post(
        f"/api/study-sessions/{study_session_id}/words/9/review",
        json={"correct": False},
        headers=headers,
    )


def reset(client: FlaskClient, headers: dict[str, str], study_session_id: int) -> Any:
    # The frontend sends the JSON content type with an empty body.
    return client.post("/api/study-sessions/reset", headers={**JSON, **headers})


WRITES: dict[str, Callable[[FlaskClient, dict[str, str], int], Any]] = {
    "create": create,
    "batch review": batch_review,
    "single review": single_review,
    "reset": reset,
}
SUCCESS = {"create": 201, "batch review": 201, "single review": 201, "reset": 200}


def history(engine: Engine) -> tuple[int, int]:
    """(study sessions, review items) stored right now."""
    return count_rows(engine, "study_sessions"), count_rows(engine, "word_review_items")


def limited_app(database_url: str, limit: str, **settings: Any) -> Any:
    return make_app(database_url, RATE_LIMIT=limit, **settings)


def client_at(app: Any, address: str) -> FlaskClient:
    """A test client whose requests come from ``address``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def setup_session(app: Any) -> int:
    """A study session created from another address, so it spends none of the client's budget."""
    response = create(client_at(app, SETUP_ADDRESS), {}, 0)
    assert response.status_code == 201
    return response.get_json()["id"]


@pytest.mark.parametrize("refused_kind", list(WRITES))
def test_one_budget_covers_every_write_route(database_url, refused_kind):
    app = limited_app(database_url, "5/minute")
    engine = app.extensions["lang_portal.engine"]
    study_session_id = setup_session(app)
    client = client_at(app, CLIENT_ADDRESS)
    spent = ["create", "create", "batch review", "batch review", "single review"]
    for kind in spent:
        assert WRITES[kind](client, {}, study_session_id).status_code == SUCCESS[kind], kind
    assert history(engine) == (3, 3)

    refused = WRITES[refused_kind](client, {}, study_session_id)

    assert refused.status_code == 429
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.get_json()["status"] == 429
    # Nothing was written, and a reset deleted nothing.
    assert history(engine) == (3, 3)
    # Another client keeps its own budget.
    other = WRITES[refused_kind](client_at(app, "203.0.113.8"), {}, study_session_id)
    assert other.status_code == SUCCESS[refused_kind]


# Each kind spends the budget that the next kind then finds empty.
@pytest.mark.parametrize(
    ("spender", "refused_kind"),
    [("reset", "create"), ("create", "batch review"), ("batch review", "single review"),
     ("single review", "reset")],
)  # fmt: skip
def test_every_write_kind_spends_from_the_shared_budget(database_url, spender, refused_kind):
    app = limited_app(database_url, "1/minute")
    engine = app.extensions["lang_portal.engine"]
    study_session_id = setup_session(app)
    client = client_at(app, CLIENT_ADDRESS)
    assert WRITES[spender](client, {}, study_session_id).status_code == SUCCESS[spender]
    before = history(engine)

    assert WRITES[refused_kind](client, {}, study_session_id).status_code == 429
    assert history(engine) == before


BAD_CREDENTIALS = [
    pytest.param({}, id="no header"),
    pytest.param({"Authorization": "Bearer wrong-token"}, id="wrong token"),
    pytest.param({"Authorization": f"Basic {TOKEN}"}, id="wrong scheme"),
    pytest.param({"Authorization": "Bearer "}, id="empty token"),
]


@pytest.mark.parametrize("bad_headers", BAD_CREDENTIALS)
def test_refused_identities_spend_none_of_the_budget(database_url, bad_headers):
    app = limited_app(database_url, "5/minute", API_TOKEN=TOKEN)
    engine = app.extensions["lang_portal.engine"]
    client = client_at(app, CLIENT_ADDRESS)

    strangers = [create(client, bad_headers, 0).status_code for _ in range(10)]
    assert strangers == [401] * 10
    assert history(engine) == (0, 0)

    owner = {"Authorization": f"Bearer {TOKEN}"}
    statuses = [create(client, owner, 0).status_code for _ in range(6)]
    assert statuses == [201] * 5 + [429]
    assert history(engine) == (5, 0)
    # Once the budget is spent, a request without the token is still refused as a 401.
    assert create(client, bad_headers, 0).status_code == 401


def test_rate_limit_off_limits_nothing(database_url):
    app = limited_app(database_url, "off")
    engine = app.extensions["lang_portal.engine"]
    client = client_at(app, CLIENT_ADDRESS)
    statuses = [create(client, {}, 0).status_code for _ in range(12)]
    assert statuses == [201] * 12
    assert history(engine) == (12, 0)


def test_the_limiter_never_overrides_the_retry_after_of_another_answer(database_url, monkeypatch):
    """A 503 advises Retry-After: 1 and a 201 none, also on a limited route.

    Flask-Limiter stamps the seconds left in its window on every limited response:
    a write refused for a busy database said "Retry-After: 33".
    """
    from sqlalchemy.exc import OperationalError

    from lang_portal import queries

    app = limited_app(database_url, "5/minute")
    client = client_at(app, "10.0.0.1")
    created = create(client, {}, 0)
    assert created.status_code == 201 and "Retry-After" not in created.headers

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("INSERT ...", {}, Exception("disk I/O error"))

    monkeypatch.setattr(queries.study_sessions, "create", unavailable)
    refused = create(client, {}, 0)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert history(app.extensions["lang_portal.engine"]) == (1, 0)
    for _ in range(3):
        create(client, {}, 0)
    limited = create(client, {}, 0)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    app.extensions["lang_portal.engine"].dispose()
