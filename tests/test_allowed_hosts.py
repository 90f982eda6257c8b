"""Only the hosts in LANG_PORTAL_ALLOWED_HOSTS are answered (DNS rebinding stops here).

A page on evil.example whose name is made to resolve to 127.0.0.1 calls lang-portal
as its own origin, past CORS; its browser still sends ``Host: evil.example``.
"""

from __future__ import annotations

import pytest

from tests.conftest import count_rows, make_app
from tests.reliability.support import sqlite_only

LOOPBACK = ["localhost", "localhost:5000", "LocalHost:8080", "127.0.0.1", "127.0.0.1:8081"]
LOOPBACK += ["[::1]", "[::1]:3000"]
NEVER = [
    "evil.example",
    "localhost.evil.example",
    "127.0.0.1.nip.io",
    "0.0.0.0:5000",
    "[::2]:5000",
    "10.0.0.7",
    "local host",
    "localhost/evil",
    "",
]

# (settings, hosts answered, hosts refused)
CASES = [
    ({}, LOOPBACK, NEVER),
    (
        {"PUBLIC_URL": "https://portal.example.org/"},
        [*LOOPBACK, "portal.example.org", "PORTAL.example.org:443", "portal.example.org:8443"],
        [*NEVER, "www.portal.example.org", "example.org", "portal.example.org.evil.example"],
    ),
    (
        {"ALLOWED_HOSTS": ".example.org"},
        ["example.org", "a.example.org", "a.b.example.org:8000"],
        [*NEVER, "localhost", "127.0.0.1", "badexample.org", "example.org.evil.example"],
    ),
    (
        {"ALLOWED_HOSTS": "portal.example.org, [fd00::7]", "PUBLIC_URL": "http://10.0.0.7:8000"},
        ["portal.example.org", "[fd00::7]:5000", "10.0.0.7:8000"],
        ["localhost", "a.portal.example.org", "evil.example"],
    ),
    ({"ALLOWED_HOSTS": "*"}, [*LOOPBACK, "evil.example", "10.0.0.7"], []),
]


@sqlite_only
@pytest.mark.parametrize(("settings", "answered", "refused"), CASES)
def test_hosts_answered_and_refused(database_url, settings, answered, refused):
    client = make_app(database_url, **settings).test_client()
    for host in answered:
        response = client.get("/api/groups", headers={"Host": host})
        assert response.status_code == 200, host
    for host in refused:
        response = client.get("/api/groups", headers={"Host": host})
        assert response.status_code == 400, host
        assert response.mimetype == "application/problem+json"
        body = response.get_json()
        assert body["status"] == 400
        assert "LANG_PORTAL_ALLOWED_HOSTS" in body["detail"]


@sqlite_only
def test_a_refused_page_is_an_html_400(client):
    response = client.get("/portal/words", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "does not answer to that host name" in response.get_data(as_text=True)


@sqlite_only
@pytest.mark.parametrize(
    ("trusted_proxies", "host", "forwarded_host", "status"),
    [
        (1, "localhost", "evil.example", 400),
        (1, "evil.example", "localhost:5000", 200),
        (1, "10.0.0.2", "127.0.0.1", 200),
        # Two proxies: the outer one wrote the client's Host first.
        (2, "localhost", "evil.example, localhost", 400),
        (2, "localhost", "localhost, evil.example", 200),
        (0, "localhost", "evil.example", 200),
        (0, "evil.example", "localhost", 400),
    ],
)
def test_behind_trusted_proxies_the_forwarded_host_counts(
    database_url, trusted_proxies, host, forwarded_host, status
):
    client = make_app(database_url, TRUSTED_PROXIES=trusted_proxies).test_client()
    response = client.get("/api/groups", headers={"Host": host, "X-Forwarded-Host": forwarded_host})
    assert response.status_code == status


def test_a_write_for_a_refused_host_changes_nothing(client, engine):
    created = client.post("/api/study-sessions", json={"group_id": 1, "study_activity_id": 1})
    assert created.status_code == 201
    evil = {"Host": "evil.example", "Origin": "http://evil.example"}
    response = client.post(
        "/api/study-sessions", json={"group_id": 1, "study_activity_id": 1}, headers=evil
    )
    assert response.status_code == 400
    assert count_rows(engine, "study_sessions") == 1
    response = client.post("/api/study-sessions/reset", json={}, headers=evil)
    assert response.status_code == 400
    assert count_rows(engine, "study_sessions") == 1
    assert "Access-Control-Allow-Origin" not in response.headers
