"""No write from another site: every write route needs Content-Type: application/json.

A page on any origin can make a browser send a plain HTML form (text/plain,
urlencoded or multipart), a ``fetch`` with ``mode: "no-cors"`` or a
``navigator.sendBeacon`` without asking the server first. None of them can carry
``application/json``, which needs a CORS preflight that lang-portal only grants to
allowed origins. So each such request is a 415 that changes nothing, on every write
route, reset included, whatever CORS_ORIGINS says and whether or not a token is set.
"""

from __future__ import annotations

import pytest

from tests.conftest import make_app
from tests.reliability.support import (
    one_per_endpoint,
    request_body,
    sqlite_only,
    table_totals,
    write_rules,
)
from tests.support import assert_problem

WRITE_ENDPOINTS = one_per_endpoint(write_rules())
# What a cross-site form, no-cors fetch or beacon can send: (Content-Type, body).
SIMPLE_REQUESTS = {
    "form, text/plain": ("text/plain", b'{"group_id": 1, "study_activity_id": 1}'),
    "form, urlencoded": ("application/x-www-form-urlencoded", b"group_id=1&study_activity_id=1"),
    "form, multipart": (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="group_id"\r\n\r\n1\r\n--x--\r\n',
    ),
    "beacon without a body": (None, b""),
    "no-cors fetch with an empty body": ("text/plain;charset=UTF-8", b""),
}


@pytest.fixture
def restricted_client(database_url):
    """CORS restricted to one origin, no token: the set-up the finding was seen on."""
    app = make_app(database_url, CORS_ORIGINS="http://portal.example")
    yield app.test_client()
    app.extensions["lang_portal.engine"].dispose()


@sqlite_only
@pytest.mark.parametrize("rule", WRITE_ENDPOINTS, ids=str)
@pytest.mark.parametrize("shape", SIMPLE_REQUESTS)
def test_a_write_a_browser_sends_without_preflight_is_415(
    restricted_client, engine, study_session_id, rule, shape
):
    content_type, data = SIMPLE_REQUESTS[shape]
    headers = {"Origin": "https://evil.example"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    before = table_totals(engine)
    response = restricted_client.post(
        rule.path(study_session_id=study_session_id), data=data, headers=headers
    )
    assert_problem(response, 415)
    assert "Access-Control-Allow-Origin" not in response.headers
    assert table_totals(engine) == before


@pytest.mark.parametrize("rule", WRITE_ENDPOINTS, ids=str)
def test_the_same_writes_as_json_are_accepted(client, engine, study_session_id, rule):
    """The control: with the JSON type (which needs a preflight) each route works."""
    before = table_totals(engine)
    response = client.post(rule.path(study_session_id=study_session_id), json=request_body(rule))
    assert 200 <= response.status_code < 300, response.get_data(as_text=True)
    assert table_totals(engine) != before
