"""POST /api/study-sessions over a real HTTP server, and through a database outage."""

from __future__ import annotations

import shutil

import pytest
import requests

from tests.conftest import count_rows, make_app

VALID = {"group_id": 1, "study_activity_id": 1}


@pytest.mark.parametrize(
    ("body", "status", "pointer"),
    [
        (VALID, 201, None),
        ({"study_activity_id": 1}, 400, "#/group_id"),
        ({"group_id": 1}, 400, "#/study_activity_id"),
        ({"group_id": 424242, "study_activity_id": 1}, 400, "#/group_id"),
        ({"group_id": 1, "study_activity_id": 424242}, 400, "#/study_activity_id"),
        ({"group_id": "1", "study_activity_id": 1}, 400, "#/group_id"),
    ],
)
def test_over_http(live_server, engine, body, status, pointer):
    response = requests.post(f"{live_server}/api/study-sessions", json=body, timeout=10)
    assert response.status_code == status
    if status == 201:
        created = response.json()
        assert response.headers["Location"] == f"/api/study-sessions/{created['id']}"
        follow = requests.get(live_server + response.headers["Location"], timeout=10)
        assert follow.json()["session"]["id"] == created["id"]
        assert count_rows(engine, "study_sessions") == 1
    else:
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json()["errors"][0]["pointer"] == pointer
        assert count_rows(engine, "study_sessions") == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_database_outage_is_a_clean_503_and_recovers_without_restart(database_url, tmp_path):
    """Move the database's directory away mid-run, then back.

    Requests during the outage get a JSON 503 with a request id and nothing internal;
    the same app, not restarted, serves again once the file is back, and nothing
    acknowledged is lost. (The PostgreSQL outage is tested with a TCP proxy in
    tests/postgres.)
    """
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(database_url.removeprefix("sqlite:///"), data / "lang-portal.db")
    app = make_app(f"sqlite:///{data / 'lang-portal.db'}")
    client = app.test_client()
    engine = app.extensions["lang_portal.engine"]
    assert client.post("/api/study-sessions", json=VALID).status_code == 201

    data.rename(tmp_path / "away")
    try:
        for response in (
            client.post("/api/study-sessions", json=VALID),
            client.get("/api/study-sessions"),
            client.post("/api/study-sessions", json=VALID, headers={"Idempotency-Key": "k"}),
        ):
            assert response.status_code == 503
            assert response.mimetype == "application/problem+json"
            body = response.get_json()
            assert body["request_id"] == response.headers["X-Request-ID"]
            text = response.get_data(as_text=True)
            for leak in ("sqlite", "Traceback", str(tmp_path), "unable to open", "SELECT"):
                assert leak not in text
            assert int(response.headers["Retry-After"]) >= 1
        assert not data.exists()  # the app did not create an empty database in its place
    finally:
        (tmp_path / "away").rename(data)

    again = client.post("/api/study-sessions", json=VALID, headers={"Idempotency-Key": "k"})
    assert again.status_code == 201
    assert client.get("/api/study-sessions").get_json()["total"] == 2
    assert count_rows(engine, "study_sessions") == 2
    engine.dispose()
