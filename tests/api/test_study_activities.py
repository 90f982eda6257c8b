"""The study activity routes: the list, one activity, its sessions and its launch data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update

from lang_portal import schema
from lang_portal.queries.learners import DEFAULT_LEARNER_ID
from tests.conftest import count_rows, make_app
from tests.support import assert_problem

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


def start_session(client, engine, group_id: int, study_activity_id: int) -> int:
    """Create a session through the API and check the row it stored."""
    response = client.post(
        "/api/study-sessions", json={"group_id": group_id, "study_activity_id": study_activity_id}
    )
    assert response.status_code == 201
    study_session_id = response.get_json()["id"]
    with engine.connect() as connection:
        row = connection.execute(
            select(schema.study_sessions).where(schema.study_sessions.c.id == study_session_id)
        ).one()
    assert (row.learner_id, row.group_id, row.study_activity_id, row.review_items_count) == (
        DEFAULT_LEARNER_ID,
        group_id,
        study_activity_id,
        0,
    )
    return study_session_id


def activity_rows(engine) -> list:
    with engine.connect() as connection:
        return connection.execute(
            select(schema.study_activities).order_by(schema.study_activities.c.id)
        ).all()


def activity_sessions_counts(engine, learner_id: int = DEFAULT_LEARNER_ID) -> list[int]:
    """The learner's sessions_count of every activity, by activity id (no row: zero)."""
    progress = schema.activity_progress
    with engine.connect() as connection:
        stored = dict(
            connection.execute(
                select(progress.c.study_activity_id, progress.c.sessions_count).where(
                    progress.c.learner_id == learner_id
                )
            ).all()
        )
    return [stored.get(row.id, 0) for row in activity_rows(engine)]


@pytest.mark.parametrize("path", ["/api/study-activities", "/api/study_activities"])
def test_list_has_absolute_urls(client, engine, app, path):
    body = client.get(path).get_json()
    rows = activity_rows(engine)
    # The four seeded activities: Flashcards, Typing Tutor, Kanji Match and Review.
    assert [a["id"] for a in body] == [r.id for r in rows] == [1, 2, 3, 4]
    for activity, row in zip(body, rows, strict=True):
        assert set(activity) == ACTIVITY_FIELDS
        assert activity["title"] == row.name and activity["description"] == row.description
        assert activity["launch_url"].startswith(("http://", "https://"))
        assert activity["preview_url"].startswith(("http://", "https://"))
    # Without LANG_PORTAL_PUBLIC_URL, links follow the request (the test client's Host).
    assert body[0]["launch_url"] == "http://localhost/activities/flashcards/"
    assert body[0]["preview_url"] == "http://localhost/static/previews/flashcards.svg"
    # The activities lang-portal serves itself are stored as paths, never as addresses.
    assert [row.url for row in rows] == [
        "/activities/flashcards/",
        "/activities/typing-tutor/",
        "/activities/kanji-match/",
        "/activities/review/",
    ]


@pytest.mark.parametrize(
    ("base_url", "headers", "expected"),
    [
        ("http://127.0.0.1:5099", {}, "http://127.0.0.1:5099"),
        ("http://localhost:5099", {}, "http://localhost:5099"),
        ("http://localhost:5000", {}, "http://localhost:5000"),
        ("https://[::1]:8443", {}, "https://[::1]:8443"),
        # X-Forwarded-* are ignored unless TRUSTED_PROXIES says a proxy sets them.
        ("http://127.0.0.1:5099", {"X-Forwarded-Host": "evil.example"}, "http://127.0.0.1:5099"),
    ],
)
def test_links_follow_the_url_the_request_came_in_on(client, base_url, headers, expected):
    for path in ("/api/study-activities", "/api/study-activities/2"):
        body = client.get(path, base_url=base_url, headers=headers).get_json()
        activity = body[1] if isinstance(body, list) else body
        assert activity["launch_url"] == expected + "/activities/typing-tutor/"
        assert activity["preview_url"] == expected + "/static/previews/typing-tutor.svg"
    launch = client.get("/api/study-activities/3/launch", base_url=base_url, headers=headers)
    assert launch.get_json()["activity"]["launch_url"] == expected + "/activities/kanji-match/"


def test_behind_a_trusted_proxy_links_follow_the_forwarded_host(database_url):
    app = make_app(database_url, TRUSTED_PROXIES=1, ALLOWED_HOSTS="portal.example")
    forwarded = {"X-Forwarded-Host": "portal.example", "X-Forwarded-Proto": "https"}
    body = app.test_client().get("/api/study-activities/1", headers=forwarded).get_json()
    assert body["launch_url"] == "https://portal.example/activities/flashcards/"
    app.extensions["lang_portal.engine"].dispose()


def test_public_url_overrides_the_request(database_url):
    app = make_app(database_url, PUBLIC_URL="https://lang.example.org")
    body = app.test_client().get("/api/study-activities/1", base_url="http://127.0.0.1:5099")
    assert body.get_json()["launch_url"] == "https://lang.example.org/activities/flashcards/"
    app.extensions["lang_portal.engine"].dispose()


def test_init_db_moves_the_seeded_activities_of_an_existing_database(engine):
    """A database seeded by an earlier release had Typing Tutor and Kanji Match elsewhere."""
    from lang_portal.cli import prepare_database

    with engine.begin() as connection:
        connection.execute(
            update(schema.study_activities)
            .where(schema.study_activities.c.id > 1)
            .values(url="http://localhost:8081/typing-tutor/")
        )
        connection.execute(
            insert(schema.activity_progress),
            [
                {"learner_id": DEFAULT_LEARNER_ID, "study_activity_id": 2, "sessions_count": 4},
                {"learner_id": DEFAULT_LEARNER_ID, "study_activity_id": 3, "sessions_count": 4},
            ],
        )
    prepare_database(engine)
    rows = activity_rows(engine)
    assert [row.url for row in rows] == [
        "/activities/flashcards/",
        "/activities/typing-tutor/",
        "/activities/kanji-match/",
        "/activities/review/",
    ]
    assert activity_sessions_counts(engine) == [0, 4, 4, 0]  # counters are left alone


def test_detail_and_404(client):
    body = client.get("/api/study-activities/2").get_json()
    assert set(body) == ACTIVITY_FIELDS and body["title"] == "Typing Tutor"
    assert body["description"]
    assert_problem(client.get("/api/study-activities/9"), 404)


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
        first = start_session(client, engine, 1, 1)
        start_session(client, engine, 1, 2)  # another activity's session is not listed
        second = start_session(client, engine, 3, 1)
        with engine.begin() as connection:  # make the first one the newest
            connection.execute(
                update(schema.study_sessions)
                .where(schema.study_sessions.c.id == first)
                .values(created_at=datetime.now(UTC) + timedelta(minutes=1))
            )
        body = client.get(path).get_json()
        assert set(body) == {"items", "total", "page", "per_page", "total_pages", "next_after"}
        assert (body["total"], body["page"], body["per_page"], body["total_pages"]) == (2, 1, 10, 1)
        assert body["next_after"] is None  # the one page is the last
        assert [item["id"] for item in body["items"]] == [first, second]
        assert all(set(item) == SESSION_FIELDS for item in body["items"])
        assert {item["activity_name"] for item in body["items"]} == {"Flashcards"}
        assert [item["group_id"] for item in body["items"]] == [1, 3]
        assert body["items"][0]["end_time"] == body["items"][0]["start_time"]
        # The list is exactly this activity's stored sessions, and its counter agrees.
        assert activity_sessions_counts(engine) == [2, 1, 0, 0]
        assert count_rows(engine, "study_sessions") == 3

    def test_pages_use_the_activity_counter(self, client, engine):
        ids = [start_session(client, engine, 1, 3) for _ in range(5)]
        body = client.get("/api/study-activities/3/sessions?page=2&per_page=2").get_json()
        assert (body["total"], body["total_pages"]) == (5, 3)
        assert [item["id"] for item in body["items"]] == ids[::-1][2:4]
        assert activity_sessions_counts(engine)[2] == count_rows(engine, "study_sessions") == 5

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
                for r in connection.execute(select(schema.groups).order_by(schema.groups.c.name))
            ]
        assert body["groups"] == expected and len(expected) == 7

    def test_unknown_activity_is_404_and_writes_nothing(self, client, engine):
        assert_problem(client.get("/api/study-activities/9/launch"), 404)
        assert count_rows(engine, "study_sessions") == 0
