"""Every error has one JSON shape, carries a request id, and leaks no internals."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import OperationalError, ProgrammingError

from lang_portal import queries
from tests.conftest import make_app

SECRETS = ("Traceback", "SELECT", "/home/", "secret-table", "psycopg", "sqlite3", 'File "')


def assert_shape(response, status):
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert set(body) >= {"error", "type", "title", "status", "detail", "request_id"}
    assert body["status"] == status
    assert body["request_id"] == response.headers["X-Request-ID"]
    text = response.get_data(as_text=True)
    for secret in SECRETS:
        assert secret not in text
    return body


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/nothing-here", 404),
        ("GET", "/api/groups/999999", 404),
        ("GET", "/api/groups/0", 404),
        ("GET", "/api/groups/99999999999999999999", 404),
        ("GET", "/api/study-sessions/12345", 404),
        ("DELETE", "/api/groups", 405),
        ("PUT", "/api/study-sessions", 405),
        ("GET", "/api/study-sessions/reset", 405),
    ],
)
def test_http_errors(client, method, path, status):
    response = client.open(path, method=method)
    assert_shape(response, status)
    if status == 405:
        assert response.headers["Allow"]


def test_413_and_415(client, app):
    too_big = b"{" + b" " * app.config["MAX_BODY_BYTES"] + b"}"
    assert_shape(
        client.post("/api/study-sessions", data=too_big, content_type="application/json"), 413
    )
    assert_shape(client.post("/api/study-sessions", data="{}", content_type="text/plain"), 415)


def test_unhandled_exception_is_a_bare_500(client, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret-table at /home/app/x.py")

    monkeypatch.setattr(queries.groups, "get", explode)
    body = assert_shape(client.get("/api/groups/1"), 500)
    assert body["error"] == "internal server error"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (OperationalError("SELECT * FROM secret-table", {}, Exception("sqlite3 /home/x.db")), 503),
        (ProgrammingError("SELECT * FROM secret-table", {}, Exception("psycopg says no")), 500),
    ],
)
def test_database_errors_are_logged_not_shown(client, monkeypatch, caplog, error, status):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(queries.groups, "get", fail)
    logger = logging.getLogger("lang_portal.errors")
    logger.addHandler(caplog.handler)
    try:
        response = client.get("/api/groups/1", headers={"X-Request-ID": "trace-me-123"})
    finally:
        logger.removeHandler(caplog.handler)
    body = assert_shape(response, status)
    assert body["request_id"] == "trace-me-123"
    assert any("trace-me-123" in r.getMessage() and r.exc_info for r in caplog.records)


def test_request_id_is_honoured_or_generated(client):
    assert (
        client.get("/api/groups", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    generated = client.get("/api/groups", headers={"X-Request-ID": "bad id <with> spaces"})
    assert generated.headers["X-Request-ID"] != "bad id <with> spaces"
    assert len(generated.headers["X-Request-ID"]) == 32


def test_one_log_line_per_request(database_url, caplog):
    client = make_app(database_url, LOG_LEVEL="INFO").test_client()
    logger = logging.getLogger("lang_portal.requests")
    logger.addHandler(caplog.handler)
    try:
        client.get("/api/groups", headers={"X-Request-ID": "line-1"})
    finally:
        logger.removeHandler(caplog.handler)
    (record,) = [r for r in caplog.records if r.name == "lang_portal.requests"]
    message = record.getMessage()
    assert message.startswith("GET /api/groups 200 ")
    assert "ms request_id=line-1" in message


def test_every_response_has_safety_headers(client):
    for response in (client.get("/api/groups"), client.get("/api/missing")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
