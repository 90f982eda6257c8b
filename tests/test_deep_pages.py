"""A page nearer the end of a session list is found walking from the end (issue 18),
and is exactly the page that walking from the start finds: every page, every size,
every sort key and direction, ties on the sort key included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from lang_portal import db, queries, schema
from lang_portal.queries.learners import DEFAULT_LEARNER_ID

SESSIONS = 23  # a prime: no page size divides it, so every list ends on a short page
SIZES = (1, 4, 10, 23, 30)
START = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def history(app, client, engine):
    """23 sessions over 3 groups and 2 activities; start and end times repeat (ties)."""
    ids = []
    for number in range(SESSIONS):
        created = client.post(
            "/api/study-sessions",
            json={"group_id": 1 + number % 3, "study_activity_id": 1 + number % 2},
        )
        ids.append(created.get_json()["id"])
        if number % 4:
            reviews = [{"word_id": 1 + number, "correct": number % 3 > 0}]
            client.post(f"/api/study-sessions/{ids[-1]}/review", json={"reviews": reviews})
    with engine.begin() as connection:
        for number, study_session_id in enumerate(ids):
            connection.execute(
                update(schema.study_sessions)
                .where(schema.study_sessions.c.id == study_session_id)
                .values(
                    created_at=START + timedelta(hours=number // 3),  # three at each hour
                    last_review_at=(START + timedelta(hours=5 - number // 5))
                    if number % 4
                    else None,
                )
            )
    return ids


def pages(listing, total: int, size: int) -> list[tuple[list[int], list[int]]]:
    """(from the start, from the nearer end) ids of every page, one past the end too."""
    found = []
    for offset in range(0, total + size, size):
        forward = [row["id"] for row in listing(offset, size, None)]
        nearer = [row["id"] for row in listing(offset, size, total)]
        found.append((forward, nearer))
    return found


def assert_same_pages(app, listing, total: int) -> None:
    with app.app_context(), db.reading() as connection:
        for size in SIZES:
            walked = pages(lambda *window: listing(connection, *window), total, size)
            assert [nearer for _, nearer in walked] == [forward for forward, _ in walked], size
            every = [study_session_id for forward, _ in walked for study_session_id in forward]
            assert len(every) == len(set(every)) == total, size  # no row twice, none left out


def test_the_session_list_pages_alike_from_either_end(app, history):
    def listing(connection, offset, limit, total):
        return queries.study_sessions.page(connection, DEFAULT_LEARNER_ID, offset, limit, total)

    assert_same_pages(app, listing, SESSIONS)


@pytest.mark.parametrize("sort_by", ["created_at", "end_time", "activity_name", "group_name",
                                     "review_items_count"])  # fmt: skip
@pytest.mark.parametrize("descending", [False, True])
def test_a_groups_sessions_page_alike_from_either_end(app, history, sort_by, descending):
    def listing(connection, offset, limit, total):
        return queries.study_sessions.group_page(
            connection, DEFAULT_LEARNER_ID, 1, sort_by, descending, offset, limit, total
        )

    assert_same_pages(app, listing, len(history[0::3]))


def test_an_activitys_sessions_page_alike_from_either_end(app, history):
    def listing(connection, offset, limit, total):
        return queries.study_sessions.activity_page(
            connection, DEFAULT_LEARNER_ID, 2, offset, limit, total
        )

    assert_same_pages(app, listing, len(history[1::2]))


def test_the_last_page_over_http_is_the_last_rows(client, history):
    """Through the API: the last page of 10 holds the 3 oldest sessions, oldest last."""
    last = client.get("/api/study-sessions?page=3&per_page=10").get_json()
    assert last["total"] == SESSIONS
    oldest_first = sorted(
        history,
        key=lambda study_session_id: (history.index(study_session_id) // 3, study_session_id),
    )
    assert [item["id"] for item in last["items"]] == oldest_first[:3][::-1]
