"""Who may write, which origins may read, and what an error may say.

Every check walks Flask's URL map, so a route added later is held to the same
rules without being listed here.
"""

from __future__ import annotations

import hmac
import logging
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from lang_portal import db, identity
from lang_portal.api.routing import routes
from tests.conftest import make_app
from tests.reliability import error_bodies
from tests.reliability.support import (
    UrlRule,
    read_rules,
    request_body,
    sqlite_only,
    table_totals,
    url_rules,
    write_rules,
)

TOKEN = "correct-horse-battery-staple"
ALLOWED_ORIGIN = "https://portal.example"
OTHER_ALLOWED_ORIGIN = "http://localhost:5173"
# Internals that a forced failure carries in its exception; none may reach the client.
SECRETS = [
    "Traceback (most recent call last)",
    'File "/srv/lang_portal/queries/secret.py", line 42',
    "SELECT password FROM secret_table",
    "sqlite3.OperationalError",
    "/var/lib/lang-portal/lang-portal.db",
    "psycopg.errors.UndefinedTable",
]
SECRET_MESSAGE = "\n".join(SECRETS)


@pytest.fixture
def token_app(database_url: str) -> Any:
    app = make_app(database_url, API_TOKEN=TOKEN)
    yield app
    app.extensions["lang_portal.engine"].dispose()


def post(client: Any, rule: UrlRule, **kwargs: Any) -> Any:
    return client.open(rule.path(), method=rule.write_method, json=request_body(rule), **kwargs)


# -- the API token ------------------------------------------------------------------------

BAD_AUTHORIZATIONS = [
    None,
    "",
    "Bearer",
    "Bearer ",
    "Bearer wrong",
    f"Bearer {TOKEN[:-1]}",
    f"Bearer {TOKEN}x",
    f"Bearer {TOKEN.upper()}",
    f"Basic {TOKEN}",
    TOKEN,
    f"Token {TOKEN}",
]


@sqlite_only
@pytest.mark.parametrize("authorization", BAD_AUTHORIZATIONS)
def test_every_write_route_refuses_a_missing_or_wrong_token(token_app, authorization):
    client = token_app.test_client()
    engine = token_app.extensions["lang_portal.engine"]
    headers = {} if authorization is None else {"Authorization": authorization}
    before = table_totals(engine)
    rules = write_rules()
    assert any(not rule.rule.startswith("/api") for rule in rules)  # legacy paths included
    for rule in rules:
        response = post(client, rule, headers=headers)
        assert response.status_code == 401, (str(rule), response.get_data(as_text=True))
        assert response.mimetype == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in response.get_data(as_text=True)
    assert table_totals(engine) == before


def test_the_right_token_opens_every_write_route_and_reads_need_none(token_app):
    client = token_app.test_client()
    for rule in write_rules():
        response = post(client, rule, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code != 401, str(rule)
        assert response.status_code < 500
    for rule in read_rules():
        assert client.get(rule.path()).status_code not in (401, 403), str(rule)
    # A browser's CORS preflight carries no token and must not be refused for it.
    preflight = client.options(
        "/api/study-sessions",
        headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200


@sqlite_only
def test_the_token_is_compared_in_constant_time_and_only_there(token_app, monkeypatch):
    """Every token check goes through hmac.compare_digest, and its answer alone decides.

    Forcing compare_digest to say "equal" lets a wrong token through: so no other
    comparison (an ``==`` that leaks timing) takes part in the decision.
    """
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest
    verdict: dict[str, bool | None] = {"forced": None}

    def spy(given: Any, expected: Any) -> bool:
        calls.append((given, expected))
        return real(given, expected) if verdict["forced"] is None else verdict["forced"]

    monkeypatch.setattr(identity.hmac, "compare_digest", spy)
    client = token_app.test_client()
    url = "/api/study-sessions"
    body = {"group_id": 1, "study_activity_id": 1}
    for given, status in [("wrong", 401), ("x" * 500, 401), (TOKEN, 201)]:
        response = client.post(url, json=body, headers={"Authorization": f"Bearer {given}"})
        assert response.status_code == status
    assert [bytes(g) if isinstance(g, bytes) else g.encode() for g, _ in calls] == [
        b"wrong",
        b"x" * 500,
        TOKEN.encode(),
    ]
    assert {bytes(e) if isinstance(e, bytes) else e.encode() for _, e in calls} == {TOKEN.encode()}
    verdict["forced"] = True
    response = client.post(url, json=body, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 201


# -- CORS ---------------------------------------------------------------------------------


@pytest.fixture
def cors_client(database_url: str) -> Any:
    app = make_app(database_url, CORS_ORIGINS=f"{ALLOWED_ORIGIN}, {OTHER_ALLOWED_ORIGIN}")
    yield app.test_client()
    app.extensions["lang_portal.engine"].dispose()


def _cors_request(client: Any, rule: UrlRule, origin: str, preflight: bool) -> Any:
    method = rule.write_method or "GET"
    if preflight:
        return client.options(
            rule.path(),
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "content-type, idempotency-key",
            },
        )
    # An empty JSON object: writes are refused with a 400, so nothing is written.
    return client.open(rule.path(), method=method, json={}, headers={"Origin": origin})


@sqlite_only
@pytest.mark.parametrize("preflight", [False, True], ids=["request", "preflight"])
def test_cors_answers_listed_origins_only(cors_client, preflight):
    for rule in url_rules():
        for origin in ["https://evil.example", "null", f"{ALLOWED_ORIGIN}.evil.example"]:
            response = _cors_request(cors_client, rule, origin, preflight)
            assert "Access-Control-Allow-Origin" not in response.headers, (str(rule), origin)
        for origin in [ALLOWED_ORIGIN, OTHER_ALLOWED_ORIGIN]:
            response = _cors_request(cors_client, rule, origin, preflight)
            assert response.headers.get("Access-Control-Allow-Origin") == origin, str(rule)
            assert "Origin" in response.headers.get("Vary", ""), str(rule)
            assert "Access-Control-Allow-Credentials" not in response.headers


LOOPBACK_ORIGINS = [
    "http://localhost:5173",
    "http://127.0.0.1:8081",
    "http://[::1]:3000",
    "https://localhost",
    "https://127.0.0.1:8443",
]
NOT_LOOPBACK_ORIGINS = [
    "https://evil.example",
    "null",
    "http://localhost.evil.example",
    "http://127.0.0.1.evil.example:8081",
    "http://localhost:5173.evil.example",
    "ftp://localhost",
]


@sqlite_only
@pytest.mark.parametrize("preflight", [False, True], ids=["request", "preflight"])
def test_the_default_allows_loopback_origins_only(client, preflight):
    for rule in url_rules():
        for origin in NOT_LOOPBACK_ORIGINS:
            response = _cors_request(client, rule, origin, preflight)
            assert "Access-Control-Allow-Origin" not in response.headers, (str(rule), origin)
        for origin in LOOPBACK_ORIGINS:
            response = _cors_request(client, rule, origin, preflight)
            assert response.headers.get("Access-Control-Allow-Origin") == origin, str(rule)
            assert "Access-Control-Allow-Credentials" not in response.headers


@sqlite_only
def test_an_explicit_star_allows_any_origin_without_credentials(database_url):
    client = make_app(database_url, CORS_ORIGINS="*").test_client()
    for rule in url_rules():
        response = _cors_request(client, rule, "https://x.example", preflight=False)
        assert response.headers.get("Access-Control-Allow-Origin") == "*", str(rule)
        assert "Access-Control-Allow-Credentials" not in response.headers


# -- no internals in any error ------------------------------------------------------------


def assert_bare_failure(response: Any, status: int, error: str) -> None:
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["error"] == body["detail"] == error
    assert body["request_id"] == response.headers["X-Request-ID"]
    raw = response.get_data(as_text=True)
    assert error_bodies.find_leaks(raw) == []
    for secret in SECRETS:
        assert secret not in raw


@sqlite_only
def test_an_exception_in_any_view_is_a_bare_500(client, monkeypatch):
    """Every registered view is made to raise an exception full of internals, in turn."""

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(SECRET_MESSAGE)

    scanned_before = error_bodies.COLLECTOR.scanned.get(500, 0)
    for route in routes.declared:
        monkeypatch.setattr(route, "view", explode)
    rules = [rule for rule in url_rules() if rule.registered is not None]
    for rule in rules:
        response = client.open(
            rule.path(), method=rule.write_method or "GET", json=request_body(rule)
        )
        assert_bare_failure(response, 500, "internal server error")
    # The suite-wide collector saw each of them (so its scan covers forced failures too).
    assert error_bodies.COLLECTOR.scanned[500] - scanned_before == len(rules)


DATABASE_FAILURES = [
    (
        OperationalError(
            "SELECT password FROM secret_table", {}, sqlite3.OperationalError("database is locked")
        ),
        503,
    ),
    (
        IntegrityError(
            "INSERT INTO secret_table VALUES (?)",
            (1,),
            sqlite3.IntegrityError("UNIQUE constraint failed: secret_table.id"),
        ),
        500,
    ),
]


@sqlite_only
@pytest.mark.parametrize(("failure", "status"), DATABASE_FAILURES, ids=["operational", "integrity"])
def test_a_database_error_raised_in_a_view_shows_no_sql(client, monkeypatch, failure, status):
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise failure

    for route in routes.declared:
        monkeypatch.setattr(route, "view", fail)
    expected = (
        "the database is unavailable; try again shortly"
        if status == 503
        else "internal server error"
    )
    for rule in [rule for rule in url_rules() if rule.registered is not None]:
        response = client.open(
            rule.path(), method=rule.write_method or "GET", json=request_body(rule)
        )
        assert_bare_failure(response, status, expected)


@sqlite_only
def test_a_database_failure_on_every_route_shows_no_internals(client, monkeypatch):
    """Every transaction fails with a driver error full of internals: each route that
    needs the database answers 503 with Retry-After, as JSON or (pages) HTML, with
    nothing of it."""
    error = OperationalError(SECRET_MESSAGE, {}, sqlite3.OperationalError(SECRET_MESSAGE))

    @contextmanager
    def unavailable(*args: Any, **kwargs: Any) -> Iterator[Any]:
        raise error
        yield

    monkeypatch.setattr(db, "reading", unavailable)
    monkeypatch.setattr(db, "writing", unavailable)
    failed = []
    for rule in url_rules():
        response = client.open(
            rule.path(), method=rule.write_method or "GET", json=request_body(rule)
        )
        if response.status_code < 500:
            continue  # a route that needs no database (docs, static files)
        failed.append(str(rule))
        assert response.status_code == 503, str(rule)
        assert response.headers["Retry-After"] == "1", str(rule)
        raw = response.get_data(as_text=True)
        assert error_bodies.find_leaks(raw) == [], str(rule)
        assert not [secret for secret in SECRETS if secret in raw], str(rule)
        assert response.headers["X-Request-ID"] in raw
        assert response.mimetype in ("application/problem+json", "text/html"), str(rule)
    # Every API rule needs the database, so each of them, by name, is among the failures.
    api_rules = [str(rule) for rule in url_rules() if rule.registered is not None]
    assert api_rules and set(api_rules) <= set(failed)


def test_a_real_database_error_is_logged_with_the_request_id_and_not_shown(client, engine, caplog):
    """A table the code needs is gone: the driver's own error, on either engine."""
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE daily_activity"))
    logger = logging.getLogger("lang_portal.errors")
    logger.addHandler(caplog.handler)
    try:
        response = client.post(
            "/api/study-sessions",
            json={"group_id": 1, "study_activity_id": 1},
            headers={"X-Request-ID": "real-db-error-1"},
        )
        stats = client.get("/api/dashboard/stats")
    finally:
        logger.removeHandler(caplog.handler)
    # SQLite reports a missing table as an OperationalError, which errors.py counts as
    # "unavailable" (503); PostgreSQL's UndefinedTable is a ProgrammingError (500).
    if engine.dialect.name == "sqlite":
        status, error = 503, "the database is unavailable; try again shortly"
    else:
        status, error = 500, "internal server error"
    assert_bare_failure(response, status, error)
    assert response.get_json()["request_id"] == "real-db-error-1"
    assert_bare_failure(stats, status, error)
    # The details are in the log, under the request id the client got.
    logged = "\n".join(
        record.getMessage()
        + (caplog.handler.formatter or logging.Formatter()).formatException(record.exc_info)
        for record in caplog.records
        if record.exc_info
    )
    assert "real-db-error-1" in logged
    assert "daily_activity" in logged


LEAKY_BODIES = [
    'Traceback (most recent call last):\n  File "/app/x.py", line 3, in <module>',
    '{"error": "(sqlite3.OperationalError) no such table: words"}',
    '{"error": "[SQL: SELECT words.id FROM words WHERE words.id = ?]"}',
    '{"error": "could not open /tmp/pytest-of-root/lang-portal.db"}',
    '{"error": "psycopg.errors.UniqueViolation: duplicate key value violates unique constraint"}',
    '{"error": "UPDATE words SET correct_count=? WHERE words.id = ?"}',
    '{"error": "KeyError: \'group_id\'"}',
    '{"error": "(Background on this error at: https://sqlalche.me/e/20/e3q8)"}',
]
CLEAN_BODIES = [
    '{"error": "group_id must be an integer", "request_id": "6f1c"}',
    '{"error": "the database is unavailable; try again shortly"}',
    '{"error": "sort_by must be one of name, words_count"}',
    "<p>The page number must be a whole number of 1 or more, not &#39;x&#39;.</p>",
]


@pytest.mark.parametrize("body", LEAKY_BODIES)
def test_the_leak_scanner_catches_internals(body):
    assert error_bodies.find_leaks(body) != []


@pytest.mark.parametrize("body", CLEAN_BODIES)
def test_the_leak_scanner_passes_ordinary_errors(body):
    assert error_bodies.find_leaks(body) == []


def test_the_leak_scanner_forgives_what_the_client_sent():
    echoed = "<p>order must be one of asc, desc, not &#34;1); DELETE FROM words; --&#34;.</p>"
    assert error_bodies.find_leaks(echoed) == ["SQL text"]
    assert error_bodies.find_leaks(echoed, ["1); DELETE FROM words; --"]) == []


def test_no_error_body_so_far_in_the_suite_shows_internals():
    """Every 4xx and 5xx produced by the tests that ran before this one was scanned.

    The tests after it are covered by the plugin's check when the session ends,
    which fails the run on any leak (tests/reliability/error_bodies.py).
    """
    assert error_bodies.COLLECTOR.total > 0
    assert error_bodies.COLLECTOR.leaks == []


# -- security headers ---------------------------------------------------------------------


@sqlite_only
def test_every_response_says_nosniff(client):
    for rule in url_rules():
        for method in sorted(rule.methods):
            response = client.open(rule.path(), method=method, json=request_body(rule) or {})
            assert response.headers.get("X-Content-Type-Options") == "nosniff", (method, str(rule))
    for path, method, status in [
        ("/no/such/path", "GET", 404),
        ("/api/groups", "DELETE", 405),
        ("/api/nothing", "POST", 404),
    ]:
        response = client.open(path, method=method)
        assert response.status_code == status, (method, path)
        assert response.headers.get("X-Content-Type-Options") == "nosniff"


def csp_directives(header: str) -> dict[str, list[str]]:
    """A Content-Security-Policy header as {directive: [sources]}."""
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def assert_restrictive_csp(header: str | None) -> None:
    """Nothing loads from anywhere but this server, no inline or eval'd script, no framing."""
    assert header, "no Content-Security-Policy"
    policy = csp_directives(header)
    assert set(policy.get("default-src", ["*"])) <= {"'none'", "'self'"}, header
    for directive in (
        "script-src",
        "style-src",
        "img-src",
        "connect-src",
        "font-src",
        "object-src",
    ):
        sources = policy.get(directive, policy["default-src"])
        wide = {"*", "http:", "https:", "'unsafe-eval'", "'unsafe-inline'"} & set(sources)
        assert not wide, (directive, header)
        assert all(s.startswith("'") or s == "data:" for s in sources), (directive, header)
    assert "data:" not in policy.get("script-src", policy["default-src"])
    assert policy.get("object-src", policy["default-src"]) == ["'none'"] or policy[
        "default-src"
    ] == ["'none'"]
    assert policy.get("frame-ancestors") in (["'none'"], ["'self'"]), header
    assert policy.get("base-uri") in (["'none'"], ["'self'"]), header


DOCS_PAGES = [
    rule
    for rule in read_rules()
    if "docs" in rule.endpoint and not rule.arguments and not rule.rule.endswith(".json")
]
# Every rule that must answer HTML: each portal page (the ``pages`` blueprint, its 404
# pages included) and the API docs page. Derived from the URL map, so a page added later
# is held to the policy too.
HTML_RULES = sorted(
    rule.rule
    for rule in read_rules()
    if rule.endpoint.partition(".")[0] == "pages" or rule in DOCS_PAGES
)


@sqlite_only
def test_the_docs_page_has_a_restrictive_csp_and_no_inline_script(client):
    # Pinned on purpose: the one interactive reference the README links to.
    assert [rule.rule for rule in DOCS_PAGES] == ["/api/docs"]
    for rule in DOCS_PAGES:
        response = client.get(rule.path())
        assert response.status_code == 200
        assert response.mimetype == "text/html"
        assert_restrictive_csp(response.headers.get("Content-Security-Policy"))
        page = response.get_data(as_text=True)
        # The policy forbids inline script, so the page must not depend on any.
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []


@sqlite_only
def test_every_html_page_has_a_restrictive_csp(client):
    """Every read rule is fetched; exactly the expected pages answer HTML, each with the policy."""
    created = client.post("/api/study-sessions", json={"group_id": 1, "study_activity_id": 1})
    study_session_id = created.get_json()["id"]
    checked = []
    for rule in read_rules():
        response = client.get(rule.path(study_session_id=study_session_id))
        if response.mimetype == "text/html":
            checked.append(rule.rule)
            assert_restrictive_csp(response.headers.get("Content-Security-Policy"))
    assert "/portal/sessions/<id:study_session_id>" in HTML_RULES
    assert len(HTML_RULES) > len(DOCS_PAGES)
    assert sorted(checked) == HTML_RULES
