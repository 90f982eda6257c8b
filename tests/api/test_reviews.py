"""Recording reviews (batch and single) and resetting the study history.

Every write is checked against every table: a rejected request must leave the whole
database exactly as it was, and an accepted one must move each counter exactly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from lang_portal import schema
from lang_portal.queries.learners import DEFAULT_LEARNER_ID
from tests.conftest import count_rows
from tests.support import assert_problem, assert_unchanged_but_last_active, snapshot

GOOD = {"word_id": 1, "is_correct": True}


def assert_field_problem(response, pointer: str) -> None:
    """A 400 whose first error points at this field, named in dotted form in ``error``."""
    body = assert_problem(response, 400)
    assert body["errors"][0]["pointer"] == pointer
    assert pointer.removeprefix("#/").replace("/", ".") in body["error"]


def start(client, group_id: int = 1, study_activity_id: int = 1) -> int:
    response = client.post(
        "/api/study-sessions", json={"group_id": group_id, "study_activity_id": study_activity_id}
    )
    assert response.status_code == 201
    return response.get_json()["id"]


def counters(engine, study_session_id: int) -> dict:
    """The session's counters, and the default learner's for each word and each day."""
    with engine.connect() as connection:
        session_row = connection.execute(
            select(schema.study_sessions).where(schema.study_sessions.c.id == study_session_id)
        ).one()
        assert session_row.learner_id == DEFAULT_LEARNER_ID
        word_counts = {
            row.word_id: (row.correct_count, row.wrong_count)
            for row in connection.execute(
                select(schema.word_progress).where(
                    schema.word_progress.c.learner_id == DEFAULT_LEARNER_ID
                )
            )
        }
        days = {
            row.day: (row.sessions_count, row.reviews_count, row.correct_count)
            for row in connection.execute(
                select(schema.daily_activity).where(
                    schema.daily_activity.c.learner_id == DEFAULT_LEARNER_ID
                )
            )
        }
        # Nobody else's counters moved: the default learner is the only one writing.
        for table in (schema.word_progress, schema.daily_activity):
            others = select(func.count()).where(table.c.learner_id != DEFAULT_LEARNER_ID)
            assert connection.execute(others).scalar_one() == 0, table.name
    return {"session": session_row, "words": word_counts, "days": days}


class TestBatch:
    @pytest.mark.parametrize(
        "prefix", ["/api/study-sessions", "/api/study_sessions", "/api/v1/study-sessions"]
    )
    def test_records_every_item_and_moves_every_counter(self, client, engine, prefix):
        study_session_id = start(client)
        before = datetime.now(UTC)
        reviews = [
            {"word_id": 4, "is_correct": True},
            {"word_id": 7, "correct": False},
            {"word_id": 4, "correct": True},
            {"word_id": 4, "is_correct": False},
            {"word_id": 12, "is_correct": True},
        ]
        response = client.post(f"{prefix}/{study_session_id}/review", json={"reviews": reviews})
        assert response.status_code == 201
        body = response.get_json()
        assert (body["session_id"], body["reviews_created"]) == (study_session_id, 5)
        # One card per word reviewed, in word order (tests/api/test_cards.py checks them).
        assert [card["word_id"] for card in body["cards"]] == [4, 7, 12]
        with engine.connect() as connection:
            rows = connection.execute(
                select(schema.word_review_items).order_by(schema.word_review_items.c.id)
            ).all()
        # Without a rating, right is good (3) and wrong is again (1).
        assert [(r.word_id, r.correct, r.rating, r.study_session_id) for r in rows] == [
            (4, True, 3, study_session_id),
            (7, False, 1, study_session_id),
            (4, True, 3, study_session_id),
            (4, False, 1, study_session_id),
            (12, True, 3, study_session_id),
        ]
        assert all(r.created_at >= before for r in rows)
        assert all(r.reviewed_at == r.created_at for r in rows)  # no reviewed_at: now
        assert {(r.learner_id, r.duration_ms) for r in rows} == {(DEFAULT_LEARNER_ID, None)}
        state = counters(engine, study_session_id)
        session_row = state["session"]
        assert (
            session_row.review_items_count,
            session_row.correct_count,
            session_row.wrong_count,
        ) == (5, 3, 2)
        assert session_row.last_review_at == rows[0].created_at
        assert state["words"] == {4: (2, 1), 7: (0, 1), 12: (1, 0)}
        today = rows[0].created_at.date()
        assert state["days"] == {today: (1, 5, 3)}

    def test_legacy_path_and_a_second_batch_add_up(self, client, engine):
        study_session_id = start(client)
        for correct in (True, False):
            response = client.post(
                f"/study_sessions/{study_session_id}/review",
                json={"reviews": [{"word_id": 2, "correct": correct}] * 2},
            )
            assert response.status_code == 201
        state = counters(engine, study_session_id)
        assert state["session"].review_items_count == 4
        assert state["words"] == {2: (2, 2)}
        assert list(state["days"].values()) == [(1, 4, 2)]
        assert count_rows(engine, "word_review_items") == 4

    def test_five_hundred_items_is_the_limit(self, client, engine):
        study_session_id = start(client)
        body = {"reviews": [GOOD] * 500}
        response = client.post(f"/api/study-sessions/{study_session_id}/review", json=body)
        assert response.status_code == 201
        assert count_rows(engine, "word_review_items") == 500
        assert counters(engine, study_session_id)["words"] == {1: (500, 0)}

    @pytest.mark.parametrize(
        ("body", "pointer"),
        [
            ({"reviews": []}, "#/reviews"),
            ({"reviews": [GOOD] * 501}, "#/reviews"),
            ({}, "#/reviews"),
            ({"reviews": GOOD}, "#/reviews"),
            ({"reviews": None}, "#/reviews"),
            (
                {"reviews": [GOOD] * 3 + [{"word_id": 1, "is_correct": "true"}]},
                "#/reviews/3/is_correct",
            ),
            ({"reviews": [GOOD] * 3 + [{"word_id": 1, "is_correct": 1}]}, "#/reviews/3/is_correct"),
            ({"reviews": [GOOD] * 3 + [{"word_id": 1, "correct": None}]}, "#/reviews/3/correct"),
            ({"reviews": [GOOD] * 3 + [{"word_id": 1, "correct": "yes"}]}, "#/reviews/3/correct"),
            ({"reviews": [GOOD] * 3 + [{"word_id": 1}]}, "#/reviews/3"),
            ({"reviews": [GOOD] * 3 + [{"is_correct": True}]}, "#/reviews/3/word_id"),
            ({"reviews": [GOOD] * 3 + [{"word_id": "1", "correct": True}]}, "#/reviews/3/word_id"),
            ({"reviews": [GOOD] * 3 + [{"word_id": 1.0, "correct": True}]}, "#/reviews/3/word_id"),
            ({"reviews": [GOOD] * 3 + [{"word_id": 0, "correct": True}]}, "#/reviews/3/word_id"),
            (
                {"reviews": [GOOD] * 3 + [{"word_id": 2**63, "correct": True}]},
                "#/reviews/3/word_id",
            ),
            ({"reviews": [GOOD] * 3 + ["not an object"]}, "#/reviews/3"),
            # Unknown words are found after validation, still by index, still all or nothing.
            (
                {"reviews": [GOOD] * 3 + [{"word_id": 99999, "correct": True}]},
                "#/reviews/3/word_id",
            ),
            ({"reviews": [{"word_id": 264, "correct": True}, GOOD]}, "#/reviews/0/word_id"),
            (
                {"reviews": [GOOD] * 499 + [{"word_id": 2**63 - 1, "correct": False}]},
                "#/reviews/499/word_id",
            ),
        ],
        ids=lambda value: value if isinstance(value, str) else None,
    )
    def test_a_bad_batch_writes_nothing(self, client, engine, body, pointer):
        study_session_id = start(client)
        client.post(f"/api/study-sessions/{study_session_id}/review", json={"reviews": [GOOD]})
        before = snapshot(engine)
        response = client.post(
            f"/api/study-sessions/{study_session_id}/review",
            data=json.dumps(body),
            content_type="application/json",
        )
        assert_field_problem(response, pointer)
        assert snapshot(engine) == before

    def test_unknown_session_is_404_and_writes_nothing(self, client, engine):
        start(client)
        before = snapshot(engine)
        for path in ("/api/study-sessions/999/review", "/study_sessions/999/review"):
            assert_problem(client.post(path, json={"reviews": [GOOD]}), 404)
        assert snapshot(engine) == before

    def test_idempotency_key_replays_without_duplicates(self, client, engine):
        study_session_id = start(client)
        path = f"/api/study-sessions/{study_session_id}/review"
        body = {"reviews": [GOOD, {"word_id": 2, "correct": False}]}
        headers = {"Idempotency-Key": '"review-batch-1"'}
        first = client.post(path, json=body, headers=headers)
        after_first = snapshot(engine)
        again = client.post(
            f"/study_sessions/{study_session_id}/review", json=body, headers=headers
        )
        assert first.status_code == again.status_code == 201
        assert again.get_json() == first.get_json()
        assert again.headers["Idempotent-Replayed"] == "true"
        after_replay = snapshot(engine)
        assert_unchanged_but_last_active(after_first, after_replay)
        assert count_rows(engine, "word_review_items") == 2
        other = {"reviews": [GOOD]}
        assert_problem(client.post(path, json=other, headers=headers), 422)
        assert snapshot(engine) == after_replay

    def test_wrong_content_type_is_415(self, client, engine):
        study_session_id = start(client)
        before = snapshot(engine)
        response = client.post(
            f"/api/study-sessions/{study_session_id}/review",
            data=json.dumps({"reviews": [GOOD]}),
            content_type="text/plain",
        )
        assert_problem(response, 415)
        assert snapshot(engine) == before


class TestSingle:
    @pytest.mark.parametrize("prefix", ["/api/study-sessions", "/api/study_sessions"])
    def test_records_one_review(self, client, engine, prefix):
        study_session_id = start(client)
        response = client.post(
            f"{prefix}/{study_session_id}/words/9/review", json={"correct": False}
        )
        assert response.status_code == 201
        body = response.get_json()
        with engine.connect() as connection:
            row = connection.execute(select(schema.word_review_items)).one()
        assert body == {
            "id": row.id,
            "word_id": 9,
            "study_session_id": study_session_id,
            "correct": False,
            "rating": "again",
            "reviewed_at": body["created_at"],
            "duration_ms": None,
            "created_at": body["created_at"],
            "card": body["card"],  # tests/api/test_cards.py checks cards
        }
        assert body["card"]["reps"] == 1
        assert datetime.fromisoformat(body["created_at"]) == row.created_at == row.reviewed_at
        state = counters(engine, study_session_id)
        assert (state["session"].review_items_count, state["session"].wrong_count) == (1, 1)
        assert state["words"] == {9: (0, 1)}
        assert list(state["days"].values()) == [(1, 1, 0)]

    @pytest.mark.parametrize(
        ("body", "pointer"),
        [
            ({}, "#/"),
            ({"correct": "true"}, "#/correct"),
            ({"correct": 1}, "#/correct"),
            ({"correct": None}, "#/correct"),
            ({"is_correct": "yes"}, "#/is_correct"),
        ],
    )
    def test_bad_body_is_400(self, client, engine, body, pointer):
        study_session_id = start(client)
        before = snapshot(engine)
        response = client.post(f"/api/study-sessions/{study_session_id}/words/1/review", json=body)
        assert_field_problem(response, pointer)
        assert snapshot(engine) == before

    @pytest.mark.parametrize(
        ("path", "missing"),
        [
            ("/api/study-sessions/999/words/1/review", "study session not found"),
            ("{s}/words/999/review", "word not found"),
        ],
    )
    def test_unknown_session_or_word_is_404(self, client, engine, path, missing):
        study_session_id = start(client)
        before = snapshot(engine)
        url = path.format(s=f"/api/study-sessions/{study_session_id}")
        response = client.post(url, json={"correct": True})
        assert_problem(response, 404)
        assert response.get_json()["error"] == missing
        assert snapshot(engine) == before


class TestReset:
    def fill(self, client) -> None:
        for group_id in (1, 2):
            study_session_id = start(client, group_id, group_id)
            client.post(
                f"/api/study-sessions/{study_session_id}/review",
                json={"reviews": [GOOD, {"word_id": 3, "correct": False}]},
                headers={"Idempotency-Key": f"k{group_id}"},
            )

    @pytest.mark.parametrize(
        ("data", "headers"),
        [
            (b"", {"Content-Type": "application/json"}),  # exactly what the frontend sends
            (None, {"Content-Type": "application/json"}),
            (b"{}", {"Content-Type": "application/json"}),
            (b"[]", {"Content-Type": "application/json; charset=utf-8"}),
        ],
    )
    def test_deletes_the_history_and_keeps_the_vocabulary(self, client, engine, data, headers):
        self.fill(client)
        before = snapshot(engine)
        assert before["study_sessions"] and before["word_review_items"]
        assert before["word_progress"] and before["group_progress"] and before["activity_progress"]
        response = client.post("/api/study-sessions/reset", data=data, headers=headers)
        assert response.status_code == 200
        assert response.mimetype == "application/json"
        after = snapshot(engine)
        history = (
            "study_sessions",
            "word_review_items",
            "word_progress",
            "group_progress",
            "activity_progress",
            "daily_activity",
            "idempotency_keys",
        )
        for table in history:
            assert after[table] == [], table
        for table in ("words", "groups", "word_groups", "study_activities", "learner_tokens"):
            assert after[table] == before[table], table
        # The reset is a write of the default learner: it only notes when they last wrote.
        (learner,) = after["learners"]
        assert learner == {**before["learners"][0], "last_active_at": learner["last_active_at"]}
        assert learner["last_active_at"] >= before["learners"][0]["last_active_at"]
        assert len(after["words"]) == 263 and len(after["groups"]) == 7
        assert client.get("/api/study-activities/1/sessions").get_json()["total"] == 0
        # The history starts again from nothing.
        assert start(client) >= 1
        assert client.get("/api/study-sessions").get_json()["total"] == 1

    def test_underscore_and_versioned_paths(self, client, engine):
        for path in ("/api/study_sessions/reset", "/api/v1/study-sessions/reset"):
            self.fill(client)
            assert client.post(path, data=b"", content_type="application/json").status_code == 200
            assert count_rows(engine, "study_sessions") == 0

    def test_get_is_405(self, client):
        assert_problem(client.get("/api/study-sessions/reset"), 405)
