"""A PostgreSQL outage, staged with a TCP proxy so the shared server keeps running.

The app talks to the database through :class:`TcpProxy`. Cutting the proxy breaks
every connection and refuses new ones. Requests during the outage must get a JSON
503 with a request id and nothing internal; once the proxy is back, the same app
(not restarted) must serve again, and nothing acknowledged may be lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, make_url, select

from lang_portal import schema
from tests.conftest import count_rows, make_app
from tests.postgres.proxy import TcpProxy
from tests.servers import Gunicorn

URL = "/api/study-sessions"
VALID = {"group_id": 1, "study_activity_id": 1}
PROBLEM_KEYS = {"error", "type", "title", "status", "detail", "errors", "request_id"}

# What a client of an outage must never see: driver and SQL text, where the database is.
LEAKS = (
    "Traceback",
    'File "',
    ".py",
    "psycopg",
    "sqlalchemy",
    "OperationalError",
    "SELECT",
    "INSERT",
    "UPDATE",
    "127.0.0.1",
    "localhost",
    "5432",
    "postgres",
    "lp_pg_",
    "connection refused",
    "server closed",
)


@pytest.fixture
def proxy(pg_url: str) -> Iterator[TcpProxy]:
    """A running proxy in front of the test server."""
    url = make_url(pg_url)
    with TcpProxy((url.host or "127.0.0.1", url.port or 5432)) as running:
        yield running


def outage_requests() -> list[tuple[str, str, dict[str, Any] | None, dict[str, str]]]:
    """Reads and writes of every kind: (method, path, json body, headers)."""
    return [
        ("GET", "/api/groups", None, {}),
        ("GET", URL, None, {}),
        ("GET", "/api/study-sessions/1", None, {}),
        ("POST", URL, VALID, {}),
        ("POST", URL, VALID, {"Idempotency-Key": "during-the-outage"}),
        ("POST", f"{URL}/1/review", {"reviews": [{"word_id": 1, "is_correct": True}]}, {}),
    ]


def assert_clean_outage_error(
    status: int, headers: Any, raw: str, body: dict[str, Any], proxy_port: int
) -> None:
    """A JSON 503 with Retry-After and a request id, and nothing internal in it."""
    assert status == 503, raw
    assert headers["Content-Type"] == "application/problem+json"
    assert int(headers["Retry-After"]) >= 1
    assert set(body) <= PROBLEM_KEYS and body["status"] == 503
    assert body["request_id"] and body["request_id"] == headers["X-Request-ID"]
    for leak in (*LEAKS, str(proxy_port)):
        assert leak.lower() not in raw.lower(), leak
    for name, value in headers.items():
        if name.lower() not in ("x-request-id", "date"):
            assert str(proxy_port) not in value and "psycopg" not in value.lower()


def test_outage_gives_clean_503s_and_the_same_app_recovers(proxy, pg_url, pg_engine):
    app = make_app(proxy.proxied(pg_url))
    client = app.test_client()
    assert client.post(URL, json=VALID).status_code == 201

    proxy.cut()
    for method, path, body, headers in outage_requests():
        response = client.open(path, method=method, json=body, headers=headers)
        assert_clean_outage_error(
            response.status_code,
            response.headers,
            response.get_data(as_text=True),
            response.get_json(),
            proxy.port,
        )

    proxy.start()
    # The key used during the outage stored nothing, so the retry runs, exactly once.
    retried = client.post(URL, json=VALID, headers={"Idempotency-Key": "during-the-outage"})
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert client.post(URL, json=VALID).status_code == 201
    review = client.post(f"{URL}/1/review", json={"reviews": [{"word_id": 1, "correct": True}]})
    assert review.status_code == 201
    assert client.get(URL).get_json()["total"] == 3

    assert count_rows(pg_engine, "study_sessions") == 3
    assert count_rows(pg_engine, "word_review_items") == 1
    with pg_engine.connect() as connection:
        stored = connection.execute(
            select(schema.idempotency_keys.c.key, schema.idempotency_keys.c.status_code)
        )
        assert stored.all() == [("during-the-outage", 201)]
    app.extensions["lang_portal.engine"].dispose()


def test_a_restarted_database_costs_no_failed_request(proxy, pg_url, pg_engine):
    """Connections broken while idle in the pool are replaced before use (pool_pre_ping)."""
    app = make_app(proxy.proxied(pg_url))
    client = app.test_client()
    assert client.post(URL, json=VALID).status_code == 201
    assert proxy.open_connections() >= 1

    accepted = proxy.accepted
    proxy.drop_connections()  # the server restarted: every connection is gone, new ones work
    statuses = [client.post(URL, json=VALID).status_code for _ in range(3)]
    statuses += [client.get(URL).status_code, client.get("/api/groups").status_code]
    assert statuses == [201, 201, 201, 200, 200]
    assert proxy.accepted > accepted  # the broken connections were replaced, not reused
    assert count_rows(pg_engine, "study_sessions") == 4
    app.extensions["lang_portal.engine"].dispose()


@pytest.mark.slow
def test_gunicorn_workers_survive_an_outage_without_a_restart(
    proxy, pg_url, pg_engine, tmp_path: Path
):
    server = Gunicorn(proxy.proxied(pg_url), tmp_path / "gunicorn.log", workers=2)
    with server:
        workers = sorted(server.worker_pids())
        assert requests.post(server.url + URL, json=VALID, timeout=10).status_code == 201

        proxy.cut()
        for method, path, body, headers in outage_requests():
            response = requests.request(
                method, server.url + path, json=body, headers=headers, timeout=15
            )
            assert_clean_outage_error(
                response.status_code, response.headers, response.text, response.json(), proxy.port
            )

        proxy.start()
        # Enough requests that both workers serve some; every one succeeds first time.
        statuses = [
            requests.post(server.url + URL, json=VALID, timeout=10).status_code for _ in range(8)
        ]
        assert statuses == [201] * 8
        assert sorted(server.worker_pids()) == workers  # nothing was restarted
    assert count_rows(pg_engine, "study_sessions") == 9
    log = (tmp_path / "gunicorn.log").read_text()
    assert "Traceback" in log  # the details went to the log, not to the client


def test_statement_timeout_and_session_settings(pg_url):
    from lang_portal import db

    app = make_app(pg_url, DB_STATEMENT_TIMEOUT_MS=300)
    engine: Engine = app.extensions["lang_portal.engine"]
    with app.app_context():
        with db.reading() as connection:
            show = {
                name: connection.exec_driver_sql(f"SHOW {name}").scalar_one()
                for name in (
                    "statement_timeout",
                    "idle_in_transaction_session_timeout",
                    "application_name",
                    "transaction_isolation",
                )
            }
        with db.writing() as connection:
            writes = connection.exec_driver_sql("SHOW transaction_isolation").scalar_one()
        assert show == {
            "statement_timeout": "300ms",
            "idle_in_transaction_session_timeout": "1min",
            "application_name": "lang-portal",
            "transaction_isolation": "repeatable read",
        }
        assert writes == "read committed"

        from sqlalchemy.exc import OperationalError

        with pytest.raises(OperationalError) as cancelled, db.reading() as connection:
            connection.exec_driver_sql("SELECT pg_sleep(3)")
        assert type(cancelled.value.orig).__name__ == "QueryCanceled"
        assert db.is_unavailable(cancelled.value)
        # The pool hands out a working connection afterwards.
        with db.reading() as connection:
            assert connection.exec_driver_sql("SELECT 1").scalar_one() == 1
    engine.dispose()


def test_a_worker_out_of_connections_answers_503_then_recovers(pg_url, pg_engine):
    """All of a worker's pool busy: a request waits the statement timeout, then gets a 503."""
    app = make_app(pg_url, DB_POOL_SIZE=1, DB_STATEMENT_TIMEOUT_MS=300)
    engine: Engine = app.extensions["lang_portal.engine"]
    client = app.test_client()
    held = [engine.connect(), engine.connect()]  # the pool's one, and one in overflow
    try:
        response = client.post(URL, json=VALID)
        assert response.status_code == 503
        assert response.mimetype == "application/problem+json"
        assert response.headers["Retry-After"] == "1"
    finally:
        for connection in held:
            connection.close()
    assert client.post(URL, json=VALID).status_code == 201
    assert count_rows(pg_engine, "study_sessions") == 1
    engine.dispose()


def test_url_parameters_win_over_the_defaults(pg_url):
    from lang_portal import db

    custom = f"{pg_url}?application_name=scale-test&options=-c%20statement_timeout%3D1234"
    app = make_app(custom)
    with app.app_context(), db.reading() as connection:
        assert connection.exec_driver_sql("SHOW application_name").scalar_one() == "scale-test"
        assert connection.exec_driver_sql("SHOW statement_timeout").scalar_one() == "1234ms"
    app.extensions["lang_portal.engine"].dispose()
