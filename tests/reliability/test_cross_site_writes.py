"""No write from another site: every API write route needs Content-Type: application/json.

A page on any origin can make a browser send a plain HTML form (text/plain,
urlencoded or multipart), a ``fetch`` with ``mode: "no-cors"`` or a
``navigator.sendBeacon`` without asking the server first. None of them can carry
``application/json``, which needs a CORS preflight that lang-portal only grants to
allowed origins. So each such request is a 415 that changes nothing, on every write
route, reset included, whatever CORS_ORIGINS says and whether or not a token is set.

The portal's own forms (sign-in, passwords, the class view) take form posts: they exist
in the accounts mode only, where each needs its CSRF token (tests/test_csrf.py); in the
open mode, checked here, they are 404 pages that change nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import make_app
from tests.reliability.support import (
    one_per_endpoint,
    open_mode,
    page_form_rules,
    request_body,
    sqlite_only,
    table_totals,
    write_rules,
)
from tests.support import assert_problem

WRITE_ENDPOINTS = one_per_endpoint(write_rules())
# The control below needs writes that work in the open mode (a launch token is made in
# the accounts mode only).
STORING_WRITES = open_mode(WRITE_ENDPOINTS)
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


def cross_site_post(client: Any, path: str, shape: str) -> Any:
    """POST to ``path`` as another site's form, no-cors fetch or beacon of this shape."""
    content_type, data = SIMPLE_REQUESTS[shape]
    headers = {"Origin": "https://evil.example"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return client.post(path, data=data, headers=headers)


@sqlite_only
@pytest.mark.parametrize("rule", WRITE_ENDPOINTS, ids=str)
@pytest.mark.parametrize("shape", SIMPLE_REQUESTS)
def test_a_write_a_browser_sends_without_preflight_is_415(
    restricted_client, engine, study_session_id, rule, shape
):
    before = table_totals(engine)
    path = rule.path(study_session_id=study_session_id)
    response = cross_site_post(restricted_client, path, shape)
    assert_problem(response, 415)
    assert "Access-Control-Allow-Origin" not in response.headers
    assert table_totals(engine) == before


@sqlite_only
@pytest.mark.parametrize("rule", page_form_rules(), ids=str)
@pytest.mark.parametrize("shape", SIMPLE_REQUESTS)
def test_the_portal_forms_are_not_there_in_the_open_mode(
    restricted_client, engine, study_session_id, rule, shape
):
    before = table_totals(engine)
    response = cross_site_post(restricted_client, rule.path(learner_id=1), shape)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert table_totals(engine) == before


def test_every_write_outside_the_api_is_a_portal_form():
    forms = {rule.endpoint for rule in page_form_rules()}
    assert forms and all(endpoint.startswith("pages.") for endpoint in forms), forms


@pytest.mark.parametrize("rule", STORING_WRITES, ids=str)
def test_the_same_writes_as_json_are_accepted(client, engine, study_session_id, rule):
    """The control: with the JSON type (which needs a preflight) each route works."""
    before = table_totals(engine)
    response = client.post(rule.path(study_session_id=study_session_id), json=request_body(rule))
    assert 200 <= response.status_code < 300, response.get_data(as_text=True)
    assert table_totals(engine) != before
