"""A page nearer the end of a session list is found walking from the end (issue 18),
and is exactly the page that walking from the start finds: every page, every size,
every sort key and direction, ties on the sort key included."""

from __future__ import annotations

import base64
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


# --- ?after=: the page after a cursor --------------------------------------------------

SESSION_LISTS = ["/api/study-sessions", "/api/study-activities/2/sessions"]


def walk_by_cursor(client, path: str, per_page: int) -> list[dict]:
    """Every page of a list, the first by number and then each after the last's cursor."""
    body = client.get(f"{path}?per_page={per_page}").get_json()
    bodies = [body]
    while body["next_after"] is not None:
        assert len(bodies) <= body["total"], "the cursor does not move on"
        body = client.get(path, query_string={"per_page": per_page, "after": body["next_after"]})
        assert body.status_code == 200, body.get_json()
        body = body.get_json()
        bodies.append(body)
    return bodies


@pytest.mark.parametrize("path", SESSION_LISTS)
@pytest.mark.parametrize("per_page", [1, 4, 10])
def test_walking_by_cursor_gives_the_pages_walking_by_number_does(client, history, path, per_page):
    by_cursor = walk_by_cursor(client, path, per_page)
    total = by_cursor[0]["total"]
    by_number = [
        client.get(f"{path}?per_page={per_page}&page={number}").get_json()
        for number in range(1, -(-total // per_page) + 1)
    ]
    assert [[item["id"] for item in body["items"]] for body in by_cursor] == [
        [item["id"] for item in body["items"]] for body in by_number
    ]
    assert [body["items"] for body in by_cursor] == [body["items"] for body in by_number]
    # Numbered pages give the cursor of the next page too, and the last gives none.
    assert [body["next_after"] for body in by_number] == [body["next_after"] for body in by_cursor]
    assert by_cursor[-1]["next_after"] is None and by_number[-1]["next_after"] is None
    assert [body["page"] for body in by_cursor[1:]] == [None] * (len(by_cursor) - 1)
    assert all(body["total"] == total for body in by_cursor)


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "query",
    [
        {"after": "not-a-cursor!"},
        {"after": _cursor("2026-11-01T00:00:00+00:00")},  # no id
        {"after": _cursor("2026-11-01T00:00:00|1")},  # no offset: which moment?
        {"after": _cursor("yesterday|1")},
        {"after": _cursor("2026-11-01T00:00:00+00:00|0")},
        {"after": _cursor("2026-11-01T00:00:00+00:00|9223372036854775808")},
        {"after": "A" * 201},
        {"after": _cursor("2026-11-01T00:00:00+00:00|1"), "page": "2"},
    ],
    ids=[
        "garbage",
        "no id",
        "naive time",
        "no time",
        "id 0",
        "id too big",
        "too long",
        "with page",
    ],
)
@pytest.mark.parametrize("path", SESSION_LISTS)
def test_a_bad_cursor_is_a_400(client, history, path, query):
    response = client.get(path, query_string=query)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert "after" in response.get_json()["detail"]


# A group's sessions, sorted by a time: the same walk, in both directions.
GROUP_SESSIONS = "/api/groups/1/study-sessions"
GROUP_TIME_SORTS = [
    ("created_at", "desc"),
    ("start_time", "asc"),
    ("end_time", "desc"),
    ("endTime", "asc"),
]


@pytest.mark.parametrize(("sort_by", "order"), GROUP_TIME_SORTS)
@pytest.mark.parametrize("per_page", [1, 3])
def test_a_groups_sessions_by_cursor_are_the_pages_by_number(
    client, history, sort_by, order, per_page
):
    """Ties on the end time included: no session twice, none left out, same order."""
    query = {"sort_by": sort_by, "order": order, "per_page": per_page}
    first = client.get(GROUP_SESSIONS, query_string=query).get_json()
    by_cursor = [first]
    while by_cursor[-1]["next_after"] is not None:
        assert len(by_cursor) <= SESSIONS, "the cursor does not move on"
        response = client.get(
            GROUP_SESSIONS, query_string={**query, "after": by_cursor[-1]["next_after"]}
        )
        assert response.status_code == 200, response.get_json()
        by_cursor.append(response.get_json())
    by_number = [
        client.get(GROUP_SESSIONS, query_string={**query, "page": number}).get_json()
        for number in range(1, first["total_pages"] + 1)
    ]
    assert [body["study_sessions"] for body in by_cursor] == [
        body["study_sessions"] for body in by_number
    ]
    assert [body["next_after"] for body in by_number] == [body["next_after"] for body in by_cursor]
    assert [body["current_page"] for body in by_cursor[1:]] == [None] * (len(by_cursor) - 1)
    ids = [item["id"] for body in by_cursor for item in body["study_sessions"]]
    assert len(ids) == len(set(ids)) == len([i for n, i in enumerate(history) if n % 3 == 0])


@pytest.mark.parametrize(
    "query",
    [
        {"sort_by": "activity_name", "after": _cursor("2026-11-01T00:00:00+00:00|1")},
        {"sort_by": "review_items_count", "after": _cursor("2026-11-01T00:00:00+00:00|1")},
        {"after": "not-a-cursor!"},
        {"after": _cursor("2026-11-01T00:00:00+00:00|1"), "page": "1"},
    ],
    ids=["by a name", "by a count", "garbage", "with page"],
)
def test_a_groups_sessions_refuse_a_cursor_they_cannot_follow(client, history, query):
    response = client.get(GROUP_SESSIONS, query_string=query)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert "after" in response.get_json()["detail"]


def test_a_groups_sessions_sorted_by_a_name_give_no_cursor(client, history):
    query = {"sort_by": "activity_name", "per_page": 3}
    body = client.get(GROUP_SESSIONS, query_string=query).get_json()
    assert body["total_pages"] > 1
    assert body["next_after"] is None
