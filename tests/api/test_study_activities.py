"""The study activity routes: the list, one activity, its sessions and its launch data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from lang_portal.schema import groups, study_activities, study_sessions
from tests.api.test_study_sessions_create import assert_problem
from tests.conftest import count_rows

ACTIVITY_FIELDS = {"id", "title", "description", "launch_url", "preview_url"}
SESSION_FIELDS = {
    "id",
    "group_id",
    "group_name",
    "activity_id",
    "activity_name",
    "start_time",
    "end_time",
    "review_items_count",
}


def start_session(client, group_id: int, study_activity_id: int) -> int:
    response = client.post(
        "/api/study-sessions", json={"group_id": group_id, "study_activity_id": study_activity_id}
    )
    assert response.status_code == 201
    return response.get_json()["id"]


def activity_rows(engine) -> list:
    with engine.connect() as connection:
        return connection.execute(select(study_activities).order_by(study_activities.c.id)).all()


@pytest.mark.parametrize("path", ["/api/study-activities", "/api/study_activities"])
def test_list_has_absolute_urls(client, engine, app, path):
    body = client.get(path).get_json()
    rows = activity_rows(engine)
    assert [a["id"] for a in body] == [r.id for r in rows] == [1, 2, 3]
    for activity, row in zip(body, rows, strict=True):
        assert set(activity) == ACTIVITY_FIELDS
        assert activity["title"] == row.name and activity["description"] == row.description
        assert activity["launch_url"].startswith(("http://", "https://"))
        assert activity["preview_url"].startswith(("http://", "https://"))
    assert body[0]["launch_url"] == app.config["PUBLIC_URL"] + "/activities/flashcards/"


def test_detail_and_404(client):
    body = client.get("/api/study-activities/2").get_json()
    assert set(body) == ACTIVITY_FIELDS and body["title"] == "Typing Tutor"
    assert body["description"]
    assert_problem(client.get("/api/study-activities/4"), 404)


class TestSessions:
    @pytest.mark.parametrize(
        "path",
        [
            "/api/study-activities/1/sessions",
            "/api/study_activities/1/sessions",
            "/api/v1/study-activities/1/sessions",
        ],
    )
    def test_lists_this_activitys_sessions_newest_first(self, client, engine, path):
        first = start_session(client, 1, 1)
        start_session(client, 1, 2)  # another activity's session is not listed
        second = start_session(client, 3, 1)
        with engine.begin() as connection:  # make the first one the newest
            connection.execute(
                update(study_sessions)
                .where(study_sessions.c.id == first)
                .values(created_at=datetime.now(UTC) + timedelta(minutes=1))
            )
        body = client.get(path).get_json()
        assert set(body) == {"items", "total", "page", "per_page", "total_pages"}
        assert (body["total"], body["page"], body["per_page"], body["total_pages"]) == (2, 1, 10, 1)
        assert [item["id"] for item in body["items"]] == [first, second]
        assert all(set(item) == SESSION_FIELDS for item in body["items"])
        assert {item["activity_name"] for item in body["items"]} == {"Flashcards"}
        assert [item["group_id"] for item in body["items"]] == [1, 3]
        assert body["items"][0]["end_time"] == body["items"][0]["start_time"]

    def test_pages_use_the_activity_counter(self, client, engine):
        ids = [start_session(client, 1, 3) for _ in range(5)]
        body = client.get("/api/study-activities/3/sessions?page=2&per_page=2").get_json()
        assert (body["total"], body["total_pages"]) == (5, 3)
        assert [item["id"] for item in body["items"]] == ids[::-1][2:4]
        with engine.connect() as connection:
            counter = connection.execute(
                select(study_activities.c.sessions_count).where(study_activities.c.id == 3)
            ).scalar_one()
        assert counter == count_rows(engine, "study_sessions") == 5

    def test_unknown_activity_is_404(self, client):
        assert_problem(client.get("/api/study-activities/9/sessions"), 404)


class TestLaunch:
    @pytest.mark.parametrize(
        "path", ["/api/study-activities/3/launch", "/api/study_activities/3/launch"]
    )
    def test_activity_and_every_group(self, client, engine, path):
        body = client.get(path).get_json()
        assert set(body) == {"activity", "groups"}
        assert body["activity"] == client.get("/api/study-activities/3").get_json()
        with engine.connect() as connection:
            expected = [
                {"id": r.id, "name": r.name}
                for r in connection.execute(select(groups).order_by(groups.c.name))
            ]
        assert body["groups"] == expected and len(expected) == 7

    def test_unknown_activity_is_404_and_writes_nothing(self, client, engine):
        assert_problem(client.get("/api/study-activities/9/launch"), 404)
        assert count_rows(engine, "study_sessions") == 0
