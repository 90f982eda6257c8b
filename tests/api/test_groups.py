"""The group routes: the list, one group, its words, its raw words and its sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest
from sqlalchemy import select, update

from lang_portal import schema
from lang_portal.api.groups import GroupSessionSortKey, GroupSortKey
from lang_portal.queries import groups as group_queries
from lang_portal.queries import study_sessions as session_queries
from lang_portal.queries.learners import DEFAULT_LEARNER_ID
from tests.conftest import count_rows
from tests.support import assert_problem

SESSION_FIELDS = {
    "id",
    "group_id",
    "group_name",
    "activity_id",
    "study_activity_id",
    "activity_name",
    "start_time",
    "end_time",
    "review_items_count",
}


def group_word_ids(engine, group_id: int) -> set[int]:
    with engine.connect() as connection:
        return set(
            connection.execute(
                select(schema.word_groups.c.word_id).where(
                    schema.word_groups.c.group_id == group_id
                )
            ).scalars()
        )


def start_session(client, group_id: int, study_activity_id: int, reviews: int = 0) -> int:
    """Start a session through the API and record ``reviews`` correct reviews in it."""
    response = client.post(
        "/api/study-sessions", json={"group_id": group_id, "study_activity_id": study_activity_id}
    )
    assert response.status_code == 201
    study_session_id = response.get_json()["id"]
    if reviews:
        body = {"reviews": [{"word_id": 1, "correct": True}] * reviews}
        response = client.post(f"/api/study-sessions/{study_session_id}/review", json=body)
        assert response.status_code == 201
    return study_session_id


def set_times(engine, study_session_id: int, start: datetime, end: datetime | None) -> None:
    """Move a session in time (the API stamps the current time)."""
    with engine.begin() as connection:
        connection.execute(
            update(schema.study_sessions)
            .where(schema.study_sessions.c.id == study_session_id)
            .values(created_at=start, last_review_at=end)
        )


class TestGroupList:
    def test_sort_keys_are_the_whitelist_in_its_order(self, client):
        """The Literal and the OpenAPI enum are the whitelist's keys, in its order."""
        keys = list(group_queries.SORT_COLUMNS)
        assert list(get_args(GroupSortKey)) == keys
        parameters = client.get("/api/openapi.json").get_json()["paths"]["/api/groups"]["get"]
        sort_by = next(p for p in parameters["parameters"] if p["name"] == "sort_by")
        assert sort_by["schema"]["enum"] == keys

    @pytest.mark.parametrize("path", ["/api/groups", "/groups", "/api/v1/groups"])
    def test_sorted_by_name_by_default(self, client, engine, path):
        body = client.get(path).get_json()
        with engine.connect() as connection:
            rows = connection.execute(
                select(schema.groups).order_by(schema.groups.c.name, schema.groups.c.id)
            ).all()
        assert body["total_pages"] == 1 and body["current_page"] == 1
        assert body["groups"] == [
            {"id": r.id, "group_name": r.name, "word_count": r.words_count} for r in rows
        ]
        assert [g["word_count"] for g in body["groups"]] == [
            len(group_word_ids(engine, g["id"])) for g in body["groups"]
        ]

    @pytest.mark.parametrize("sort_by", ["words_count", "word_count"])
    def test_sorted_by_word_count_in_both_spellings(self, client, sort_by):
        body = client.get(f"/groups?sort_by={sort_by}&order=desc").get_json()
        counts = [(g["word_count"], g["id"]) for g in body["groups"]]
        assert counts == sorted(counts, reverse=True)

    def test_pages(self, client):
        first = client.get("/groups?per_page=3").get_json()
        third = client.get("/groups?per_page=3&page=3").get_json()
        assert first["total_pages"] == 3 and len(first["groups"]) == 3
        assert len(third["groups"]) == 1 and third["current_page"] == 3

    def test_detail_and_404(self, client, engine):
        assert client.get("/groups/2").get_json() == {
            "id": 2,
            "group_name": "Core Adjectives",
            "word_count": len(group_word_ids(engine, 2)),
        }
        assert_problem(client.get("/api/groups/8"), 404)


class TestGroupWords:
    @pytest.mark.parametrize("path", ["/api/groups/1/words", "/groups/1/words"])
    def test_pages_cover_the_group_exactly(self, client, engine, path):
        expected = group_word_ids(engine, 1)
        first = client.get(path).get_json()
        assert set(first) == {"words", "total_pages", "current_page"}
        assert first["total_pages"] == -(-len(expected) // 10) == 4
        seen = []
        for page in range(1, first["total_pages"] + 1):
            seen += [w["id"] for w in client.get(f"{path}?page={page}").get_json()["words"]]
        assert len(seen) == len(expected) and set(seen) == expected

    @pytest.mark.parametrize(
        ("sort_by", "order"), [("kanji", "asc"), ("romaji", "desc"), ("english", "asc")]
    )
    def test_sorted_by_the_key_with_an_id_tie_break(self, client, engine, sort_by, order):
        column = schema.words.c[sort_by]
        ordering = (
            (column.desc(), schema.words.c.id.desc())
            if order == "desc"
            else (column, schema.words.c.id)
        )
        with engine.connect() as connection:
            expected = connection.execute(
                select(schema.words.c.id)
                .join(schema.word_groups, schema.word_groups.c.word_id == schema.words.c.id)
                .where(schema.word_groups.c.group_id == 3)
                .order_by(*ordering)
                .limit(50)
            ).scalars()
            expected = list(expected)
        body = client.get(f"/groups/3/words?sort_by={sort_by}&order={order}&per_page=50")
        assert [w["id"] for w in body.get_json()["words"]] == expected

    def test_review_counts_are_shown(self, client):
        start_session(client, 1, 1, reviews=3)
        body = client.get("/groups/1/words?sort_by=correct_count&order=desc").get_json()
        assert body["words"][0]["id"] == 1 and body["words"][0]["correct_count"] == 3

    def test_unknown_group_is_404(self, client):
        assert_problem(client.get("/groups/99/words"), 404)
        assert_problem(client.get("/api/groups/99/words?page=1"), 404)


class TestGroupWordsRaw:
    @pytest.mark.parametrize("path", ["/api/groups/2/words/raw", "/api/v1/groups/2/words/raw"])
    def test_every_word_with_its_parts(self, client, engine, path):
        body = client.get(path).get_json()
        with engine.connect() as connection:
            rows = connection.execute(
                select(schema.words)
                .join(schema.word_groups, schema.word_groups.c.word_id == schema.words.c.id)
                .where(schema.word_groups.c.group_id == 2)
                .order_by(schema.words.c.id)
            ).all()
        assert body["group_id"] == 2 and body["group_name"] == "Core Adjectives"
        assert body["words"] == [
            {
                "id": r.id,
                "kanji": r.kanji,
                "romaji": r.romaji,
                "english": r.english,
                "parts": r.parts,
            }
            for r in rows
        ]
        assert all(w["parts"] and "kanji" in w["parts"][0] for w in body["words"])

    def test_unknown_group_is_404(self, client):
        assert_problem(client.get("/api/groups/99/words/raw"), 404)


class TestGroupStudySessions:
    def test_sort_keys_are_the_whitelist_in_its_order(self, client):
        """The Literal and the OpenAPI enum are the whitelist's keys, in its order."""
        keys = list(session_queries.GROUP_SORT_COLUMNS)
        assert list(get_args(GroupSessionSortKey)) == keys
        paths = client.get("/api/openapi.json").get_json()["paths"]
        parameters = paths["/api/groups/{group_id}/study-sessions"]["get"]["parameters"]
        assert next(p for p in parameters if p["name"] == "sort_by")["schema"]["enum"] == keys

    def test_empty_group(self, client):
        body = client.get("/groups/1/study_sessions").get_json()
        assert body == {
            "study_sessions": [],
            "total_pages": 1,
            "current_page": 1,
            "next_after": None,
        }

    @pytest.mark.parametrize(
        "path",
        [
            "/groups/1/study_sessions",
            "/api/groups/1/study_sessions",
            "/api/groups/1/study-sessions",
            "/api/v1/groups/1/study_sessions",
        ],
    )
    def test_items_carry_the_session_list_fields(self, client, engine, path):
        first = start_session(client, 1, 2, reviews=2)
        start_session(client, 2, 1)  # another group's session is not listed
        body = client.get(path).get_json()
        assert body["total_pages"] == 1 and body["current_page"] == 1
        (item,) = body["study_sessions"]
        assert set(item) == SESSION_FIELDS
        with engine.connect() as connection:
            row = connection.execute(
                select(schema.study_sessions).where(schema.study_sessions.c.id == first)
            ).one()
            activity = connection.execute(
                select(schema.study_activities.c.name).where(schema.study_activities.c.id == 2)
            ).scalar_one()
        assert item["id"] == first and item["group_id"] == 1 and item["group_name"] == "Core Verbs"
        assert item["activity_id"] == item["study_activity_id"] == 2
        assert item["activity_name"] == activity
        assert datetime.fromisoformat(item["start_time"]) == row.created_at
        assert datetime.fromisoformat(item["end_time"]) == row.last_review_at
        assert item["review_items_count"] == row.review_items_count == 2

    @pytest.fixture
    def three_sessions(self, client, engine) -> list[int]:
        """Three sessions of group 1 whose every sort key orders them differently."""
        base = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
        # activity 1 "Flashcards", 2 "Typing Tutor", 3 "Kanji Match"
        a = start_session(client, 1, 2, reviews=1)
        b = start_session(client, 1, 1, reviews=3)
        c = start_session(client, 1, 3)
        set_times(engine, a, base, base + timedelta(hours=5))
        set_times(engine, b, base + timedelta(hours=1), base + timedelta(hours=1, minutes=30))
        set_times(engine, c, base + timedelta(hours=2), None)  # no reviews: ends when it starts
        return [a, b, c]

    @pytest.mark.parametrize(
        ("sort_keys", "ascending"),
        [
            (["start_time", "startTime", "created_at"], [0, 1, 2]),
            (["end_time", "endTime"], [1, 2, 0]),
            (["activity_name", "activityName"], [1, 2, 0]),
            (["review_items_count", "reviewItemsCount"], [2, 0, 1]),
            (["group_name", "groupName"], [0, 1, 2]),  # one group: the id tie-break decides
        ],
    )
    def test_every_sort_key_in_both_spellings(self, client, three_sessions, sort_keys, ascending):
        expected = [three_sessions[i] for i in ascending]
        for sort_by in sort_keys:
            for order, ids in (("asc", expected), ("desc", expected[::-1])):
                body = client.get(f"/groups/1/study_sessions?sort_by={sort_by}&order={order}")
                assert [s["id"] for s in body.get_json()["study_sessions"]] == ids, sort_by

    def test_newest_first_by_default(self, client, three_sessions):
        body = client.get("/groups/1/study_sessions").get_json()
        assert [s["id"] for s in body["study_sessions"]] == three_sessions[::-1]

    def test_pages_use_the_group_counter(self, client, engine, three_sessions):
        body = client.get("/groups/1/study_sessions?per_page=2&page=2").get_json()
        assert body["total_pages"] == 2 and body["current_page"] == 2
        assert [s["id"] for s in body["study_sessions"]] == [three_sessions[0]]
        progress = schema.group_progress
        with engine.connect() as connection:
            assert connection.execute(
                select(progress.c.sessions_count).where(
                    progress.c.learner_id == DEFAULT_LEARNER_ID, progress.c.group_id == 1
                )
            ).scalar_one() == count_rows(engine, "study_sessions")

    def test_unknown_group_is_404(self, client, engine):
        assert_problem(client.get("/groups/99/study_sessions"), 404)
        assert_problem(client.get("/api/groups/99/study-sessions?sort_by=endTime"), 404)
        assert count_rows(engine, "study_sessions") == 0
