"""POST /api/study-sessions: validation, status codes, idempotency, auth, limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from lang_portal import schema
from tests.conftest import count_rows, make_app
from tests.support import NEW_STUDY_SESSION, STUDY_SESSIONS, assert_problem

ALIASES = [
    "/api/study-sessions",
    "/api/study_sessions",
    "/api/v1/study-sessions",
    "/study_sessions",
]


@pytest.mark.parametrize("path", ALIASES)
def test_creates_a_session_on_every_alias(client, engine, path):
    before = datetime.now(UTC)
    response = client.post(path, json=NEW_STUDY_SESSION)
    assert response.status_code == 201
    body = response.get_json()
    assert body["id"] == body["session_id"] >= 1
    assert body["group_id"] == 1 and body["study_activity_id"] == 1
    created_at = datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
    assert created_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= created_at <= datetime.now(UTC)
    assert response.headers["Location"] == f"/api/study-sessions/{body['id']}"
    with engine.connect() as connection:
        row = connection.execute(
            select(schema.study_sessions).where(schema.study_sessions.c.id == body["id"])
        ).one()
    assert (row.group_id, row.study_activity_id) == (1, 1)
    assert row.created_at == created_at
    # The Location resolves to the session just created.
    assert client.get(response.headers["Location"]).get_json()["session"]["id"] == body["id"]


def test_accepts_charset_parameter_and_ignores_unknown_fields(client, engine):
    response = client.post(
        STUDY_SESSIONS,
        data=json.dumps({**NEW_STUDY_SESSION, "learner": "ignored", "extra": [1, 2]}),
        content_type="application/json; charset=utf-8",
    )
    assert response.status_code == 201
    assert count_rows(engine, "study_sessions") == 1


BAD_VALUES = [
    "1",
    "１",
    1.0,
    1.5,
    True,
    False,
    None,
    [1],
    {"id": 1},
    0,
    -1,
    2**70,
    2**63,
    "",
    "1; DROP TABLE study_sessions",
]


@pytest.mark.parametrize("field", ["group_id", "study_activity_id"])
@pytest.mark.parametrize("value", BAD_VALUES, ids=repr)
def test_rejects_invalid_values(client, engine, field, value):
    response = client.post(
        STUDY_SESSIONS,
        data=json.dumps({**NEW_STUDY_SESSION, field: value}),
        content_type="application/json",
    )
    assert_problem(response, 400, f"#/{field}")
    assert count_rows(engine, "study_sessions") == 0


def test_accepts_the_largest_id_but_reports_it_missing(client, engine):
    response = client.post(STUDY_SESSIONS, json={**NEW_STUDY_SESSION, "group_id": 2**63 - 1})
    assert_problem(response, 400, "#/group_id")
    assert "does not exist" in response.get_json()["error"]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"study_activity_id": 1}, "#/group_id"),
        ({"group_id": 1}, "#/study_activity_id"),
        ({}, "#/group_id"),
        # Presence is checked before type: the missing field is reported first.
        ({"group_id": "x"}, "#/study_activity_id"),
        ({"group_id": 999999, "study_activity_id": 1}, "#/group_id"),
        ({"group_id": 1, "study_activity_id": 999999}, "#/study_activity_id"),
        # The group is checked before the activity.
        ({"group_id": 999999, "study_activity_id": 999999}, "#/group_id"),
    ],
)
def test_missing_fields_and_rows(client, engine, body, pointer):
    assert_problem(client.post(STUDY_SESSIONS, json=body), 400, pointer)
    assert count_rows(engine, "study_sessions") == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"{",
        b'{"group_id": 1,}',
        b'{"group_id": NaN, "study_activity_id": 1}',
        b'{"group_id": Infinity, "study_activity_id": 1}',
        b'{"group_id": -Infinity, "study_activity_id": 1}',
        b"\xff\xfe{}",
        b'{"group_id": "\xe9"}',
        b"[1, 2]",
        b'"text"',
        b"null",
        b"1",
        b"[" * 10000 + b"]" * 10000,
    ],
    ids=lambda raw: repr(raw[:24]),
)
def test_rejects_bodies_that_are_not_a_json_object(client, engine, raw):
    assert_problem(client.post(STUDY_SESSIONS, data=raw, content_type="application/json"), 400)
    assert count_rows(engine, "study_sessions") == 0


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "application/jsonx",
    ],
)
def test_wrong_content_type_is_415(client, engine, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(STUDY_SESSIONS, data=json.dumps(NEW_STUDY_SESSION), headers=headers)
    assert_problem(response, 415)
    assert count_rows(engine, "study_sessions") == 0


def test_body_over_the_limit_is_413_and_at_the_limit_is_fine(client, engine, app):
    limit = app.config["MAX_BODY_BYTES"]
    head = json.dumps(NEW_STUDY_SESSION)[:-1] + ', "pad": "'
    at_limit = head + "x" * (limit - len(head) - 2) + '"}'
    assert len(at_limit) == limit
    assert (
        client.post(STUDY_SESSIONS, data=at_limit, content_type="application/json").status_code
        == 201
    )
    over = head + "x" * (limit - len(head) - 1) + '"}'
    assert_problem(client.post(STUDY_SESSIONS, data=over, content_type="application/json"), 413)
    assert count_rows(engine, "study_sessions") == 1


def test_special_characters_in_parameters_are_rejected_safely(client, engine):
    for value in ["<script>alert(1)</script>", "' OR 1=1 --", "\u0000", "😀", "%00", "../../etc"]:
        response = client.post(STUDY_SESSIONS, json={"group_id": value, "study_activity_id": value})
        body = assert_problem(response, 400, "#/group_id")
        assert value not in json.dumps(body)
    assert count_rows(engine, "study_sessions") == 0


def test_wrong_method_is_405_with_allow(client):
    response = client.delete(STUDY_SESSIONS)
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


class TestToken:
    @pytest.fixture
    def client(self, database_url):
        app = make_app(database_url, API_TOKEN="s3cret-token")
        yield app.test_client()
        app.extensions["lang_portal.engine"].dispose()

    @pytest.mark.parametrize(
        "authorization", [None, "", "Bearer", "Bearer wrong", "Basic s3cret-token", "s3cret-token"]
    )
    def test_write_without_the_token_is_401(self, client, authorization):
        headers = {"Authorization": authorization} if authorization is not None else {}
        response = client.post(STUDY_SESSIONS, json=NEW_STUDY_SESSION, headers=headers)
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert client.get("/api/study-sessions").get_json()["total"] == 0

    def test_write_with_the_token_succeeds_and_reads_stay_open(self, client):
        response = client.post(
            STUDY_SESSIONS, json=NEW_STUDY_SESSION, headers={"Authorization": "Bearer s3cret-token"}
        )
        assert response.status_code == 201
        assert client.get("/api/study-sessions").status_code == 200

    def test_no_token_configured_means_open_writes(self, database_url):
        app = make_app(database_url)
        assert app.test_client().post(STUDY_SESSIONS, json=NEW_STUDY_SESSION).status_code == 201


def test_rate_limit_gives_429_with_retry_after(database_url):
    app = make_app(database_url, RATE_LIMIT="3/minute")
    client = app.test_client()
    statuses = [client.post(STUDY_SESSIONS, json=NEW_STUDY_SESSION).status_code for _ in range(4)]
    assert statuses == [201, 201, 201, 429]
    response = client.post(STUDY_SESSIONS, json=NEW_STUDY_SESSION)
    assert_problem(response, 429)
    assert int(response.headers["Retry-After"]) >= 1
    assert client.get("/api/study-sessions").get_json()["total"] == 3
    # Reads are not limited.
    assert client.get("/api/groups").status_code == 200


def test_cors_preflight_and_actual_request(client):
    origin = {"Origin": "http://localhost:5173"}
    preflight = client.options(
        STUDY_SESSIONS,
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, idempotency-key",
        },
    )
    assert preflight.status_code == 200
    # A loopback origin is allowed by default, and named back (the default is not *).
    assert preflight.headers["Access-Control-Allow-Origin"] == origin["Origin"]
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "content-type" in preflight.headers["Access-Control-Allow-Headers"].lower()
    actual = client.post(STUDY_SESSIONS, json=NEW_STUDY_SESSION, headers=origin)
    assert actual.status_code == 201
    assert actual.headers["Access-Control-Allow-Origin"] == origin["Origin"]
    assert "Location" in actual.headers["Access-Control-Expose-Headers"]


def test_retry_after_only_on_refusals(database_url):
    client = make_app(database_url, RATE_LIMIT="1/minute").test_client()
    created = client.post(STUDY_SESSIONS, json=NEW_STUDY_SESSION)
    assert created.status_code == 201 and "Retry-After" not in created.headers
    assert "Retry-After" in client.post(STUDY_SESSIONS, json=NEW_STUDY_SESSION).headers


@pytest.mark.parametrize(("trusted_proxies", "separate_limits"), [(0, False), (1, True)])
def test_forwarded_client_addresses_count_only_behind_trusted_proxies(
    database_url, trusted_proxies, separate_limits
):
    app = make_app(database_url, RATE_LIMIT="1/minute", TRUSTED_PROXIES=trusted_proxies)
    client = app.test_client()

    def post_from(address: str) -> int:
        return client.post(
            STUDY_SESSIONS, json=NEW_STUDY_SESSION, headers={"X-Forwarded-For": address}
        ).status_code

    assert post_from("203.0.113.1") == 201
    assert post_from("203.0.113.2") == (201 if separate_limits else 429)
    assert post_from("203.0.113.1") == 429


def test_preflight_offers_only_the_methods_the_service_answers(client):
    preflight = client.options(
        STUDY_SESSIONS,
        headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"},
    )
    offered = {m.strip() for m in preflight.headers["Access-Control-Allow-Methods"].split(",")}
    assert offered == {"GET", "HEAD", "POST", "OPTIONS"}
