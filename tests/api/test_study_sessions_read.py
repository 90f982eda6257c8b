"""GET /api/study-sessions and /api/study-sessions/<id>: real end times, counts and words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from lang_portal import schema
from lang_portal.queries.learners import DEFAULT_LEARNER_ID
from tests.support import assert_problem

ITEM_FIELDS = {
    "id",
    "group_id",
    "group_name",
    "activity_id",
    "activity_name",
    "start_time",
    "end_time",
    "review_items_count",
}


def start(client, engine, group_id: int = 1, study_activity_id: int = 1) -> int:
    """Create a session through the API and check the row it stored."""
    response = client.post(
        "/api/study-sessions", json={"group_id": group_id, "study_activity_id": study_activity_id}
    )
    assert response.status_code == 201
    study_session_id = response.get_json()["id"]
    row = session_row(engine, study_session_id)
    assert (row.learner_id, row.group_id, row.study_activity_id) == (
        DEFAULT_LEARNER_ID,
        group_id,
        study_activity_id,
    )
    assert (row.review_items_count, row.correct_count, row.last_review_at) == (0, 0, None)
    return study_session_id


def review(client, engine, study_session_id: int, reviews: list[tuple[int, bool]]) -> None:
    """Record reviews through the API and check they are the session's last stored rows."""
    body = {"reviews": [{"word_id": w, "is_correct": c} for w, c in reviews]}
    response = client.post(f"/api/study-sessions/{study_session_id}/review", json=body)
    assert response.status_code == 201
    items = schema.word_review_items
    with engine.connect() as connection:
        stored = connection.execute(
            select(items.c.word_id, items.c.correct)
            .where(items.c.study_session_id == study_session_id)
            .order_by(items.c.id)
        ).all()
    assert [tuple(row) for row in stored[-len(reviews) :]] == reviews


def session_row(engine, study_session_id: int):
    with engine.connect() as connection:
        return connection.execute(
            select(
                schema.study_sessions,
                schema.groups.c.name.label("group_name"),
                schema.study_activities.c.name.label("activity_name"),
            )
            .join(schema.groups, schema.groups.c.id == schema.study_sessions.c.group_id)
            .join(
                schema.study_activities,
                schema.study_activities.c.id == schema.study_sessions.c.study_activity_id,
            )
            .where(schema.study_sessions.c.id == study_session_id)
        ).one()


def check_item(item: dict, row) -> None:
    """A list item shows the stored session, with end_time its last review or its start."""
    assert set(item) == ITEM_FIELDS
    assert (item["id"], item["group_id"], item["activity_id"]) == (
        row.id,
        row.group_id,
        row.study_activity_id,
    )
    assert (item["group_name"], item["activity_name"]) == (row.group_name, row.activity_name)
    start_time = datetime.fromisoformat(item["start_time"])
    end_time = datetime.fromisoformat(item["end_time"])
    assert start_time.utcoffset() == end_time.utcoffset() == timedelta(0)
    assert start_time == row.created_at
    assert end_time == (row.last_review_at or row.created_at)
    assert item["review_items_count"] == row.review_items_count


class TestList:
    def test_empty(self, client):
        assert client.get("/api/study-sessions").get_json() == {
            "items": [],
            "total": 0,
            "page": 1,
            "per_page": 10,
            "total_pages": 1,
            "next_after": None,
        }

    @pytest.mark.parametrize(
        "path", ["/api/study-sessions", "/api/study_sessions", "/api/v1/study-sessions"]
    )
    def test_newest_first_with_real_end_times_and_counts(self, client, engine, path):
        reviewed = start(client, engine, 1, 2)
        review(client, engine, reviewed, [(1, True), (2, False), (1, True)])
        untouched = start(client, engine, 3, 1)
        body = client.get(path).get_json()
        assert body["total"] == 2 and body["total_pages"] == 1
        assert [item["id"] for item in body["items"]] == [untouched, reviewed]
        for item in body["items"]:
            check_item(item, session_row(engine, item["id"]))
        first = body["items"][1]
        assert first["review_items_count"] == 3
        # end_time is the time of the last review (check_item compared it to the row).
        assert datetime.fromisoformat(first["end_time"]) > datetime.fromisoformat(
            first["start_time"]
        )
        assert body["items"][0]["end_time"] == body["items"][0]["start_time"]

    def test_order_follows_start_time_not_id(self, client, engine):
        older, newer = start(client, engine), start(client, engine)
        with engine.begin() as connection:
            connection.execute(
                update(schema.study_sessions)
                .where(schema.study_sessions.c.id == older)
                .values(created_at=datetime.now(UTC) + timedelta(hours=1))
            )
        items = client.get("/api/study-sessions").get_json()["items"]
        assert [item["id"] for item in items] == [older, newer]

    def test_pages(self, client, engine):
        ids = [start(client, engine) for _ in range(12)]
        body = client.get("/api/study-sessions?page=3&per_page=5").get_json()
        assert (body["total"], body["page"], body["per_page"], body["total_pages"]) == (12, 3, 5, 3)
        assert [item["id"] for item in body["items"]] == ids[::-1][10:]
        past = client.get("/api/study-sessions?page=4&per_page=5").get_json()
        assert past["items"] == [] and past["total"] == 12


class TestDetail:
    @pytest.mark.parametrize("prefix", ["/api/study-sessions", "/api/study_sessions"])
    def test_session_and_its_words_with_per_session_counts(self, client, engine, prefix):
        study_session_id = start(client, engine, 2, 3)
        review(client, engine, study_session_id, [(3, True), (3, True), (3, False), (8, False)])
        other = start(client, engine, 2, 3)
        review(client, engine, other, [(3, False), (9, True)])  # counts elsewhere are not mixed in
        body = client.get(f"{prefix}/{study_session_id}").get_json()
        assert set(body) == {"session", "words", "total", "page", "per_page", "total_pages"}
        check_item(body["session"], session_row(engine, study_session_id))
        with engine.connect() as connection:
            names = {
                row.id: row
                for row in connection.execute(
                    select(schema.words).where(schema.words.c.id.in_([3, 8]))
                )
            }
        assert body["words"] == [
            {
                "id": word_id,
                "kanji": names[word_id].kanji,
                "romaji": names[word_id].romaji,
                "english": names[word_id].english,
                "correct_count": right,
                "wrong_count": wrong,
            }
            for word_id, right, wrong in [(3, 2, 1), (8, 0, 1)]
        ]
        assert (body["total"], body["page"], body["per_page"], body["total_pages"]) == (2, 1, 10, 1)

    def test_words_are_paginated(self, client, engine):
        study_session_id = start(client, engine)
        review(client, engine, study_session_id, [(word_id, True) for word_id in range(1, 26)])
        body = client.get(f"/api/study-sessions/{study_session_id}?page=3&per_page=10").get_json()
        assert [w["id"] for w in body["words"]] == list(range(21, 26))
        assert (body["total"], body["total_pages"]) == (25, 3)

    def test_session_without_reviews(self, client, engine):
        study_session_id = start(client, engine)
        body = client.get(f"/api/study-sessions/{study_session_id}").get_json()
        assert body["words"] == [] and body["total"] == 0
        assert body["session"]["end_time"] == body["session"]["start_time"]

    @pytest.mark.parametrize("study_session_id", ["1", "999", "0", "abc", str(2**63)])
    def test_unknown_session_is_404(self, client, study_session_id):
        assert_problem(client.get(f"/api/study-sessions/{study_session_id}"), 404)
