"""Query parameters on every list route: bad pagination and sort keys are 400s, never
a 500 or a silent clamp; the listed synonyms work; unknown parameters are ignored."""

from __future__ import annotations

import pytest

from tests.support import assert_problem

# Every list route, with the sort keys it accepts (None: it takes no sort parameters).
# Written out on purpose, not derived from the whitelists: this is the contract, so a key
# added to or dropped from a whitelist has to change this table too.
LIST_ROUTES = {
    "/api/study-sessions": None,
    "/api/study-sessions/1": None,
    "/api/study-activities/1/sessions": None,
    "/api/words": ["kanji", "romaji", "english", "correct_count", "wrong_count"],
    "/words": ["kanji"],
    "/api/groups": ["name", "words_count", "word_count"],
    "/groups": ["word_count"],
    "/api/groups/1/words": ["kanji", "romaji", "english", "correct_count", "wrong_count"],
    "/groups/1/words": ["english"],
    "/api/groups/1/study_sessions": [
        "created_at",
        "start_time",
        "startTime",
        "end_time",
        "endTime",
        "activity_name",
        "activityName",
        "group_name",
        "groupName",
        "review_items_count",
        "reviewItemsCount",
    ],
    "/groups/1/study_sessions": ["startTime", "reviewItemsCount"],
}
SORTED_ROUTES = [path for path, keys in LIST_ROUTES.items() if keys]

BAD_PAGINATION = [
    ("page=0", "#/page"),
    ("page=-1", "#/page"),
    ("page=abc", "#/page"),
    ("page=1.5", "#/page"),
    ("page=", "#/page"),
    ("page=%201%00", "#/page"),
    ("page=2147483648", "#/page"),
    ("page=99999999999999999999999", "#/page"),
    ("per_page=0", "#/per_page"),
    ("per_page=-5", "#/per_page"),
    ("per_page=101", "#/per_page"),
    ("per_page=1000", "#/per_page"),
    ("per_page=ten", "#/per_page"),
    ("page=1&per_page=0", "#/per_page"),
]
BAD_SORTING = [
    ("sort_by=unknown", "#/sort_by"),
    ("sort_by=", "#/sort_by"),
    ("sort_by=id;DROP TABLE words", "#/sort_by"),
    ("sort_by=KANJI", "#/sort_by"),
    ("sort_by=created_at)--", "#/sort_by"),
    ("order=sideways", "#/order"),
    ("order=", "#/order"),
    ("order=1", "#/order"),
]


@pytest.fixture
def client_with_a_session(client):
    """The seeded app with one reviewed session (id 1), so that every route exists."""
    response = client.post("/api/study-sessions", json={"group_id": 1, "study_activity_id": 1})
    assert response.get_json()["id"] == 1
    client.post("/api/study-sessions/1/review", json={"reviews": [{"word_id": 1, "correct": True}]})
    return client


def check_problem(client, url: str, pointer: str) -> None:
    """``url`` answers a JSON 400 pointing at the parameter, without echoing the value."""
    response = client.get(url)
    assert response.status_code == 400, (url, response.status_code)
    body = assert_problem(response, 400, pointer)
    assert "DROP" not in body["error"] and ")--" not in body["error"]


@pytest.mark.parametrize(("query", "pointer"), BAD_PAGINATION)
def test_bad_pagination_is_400_on_every_list_route(client_with_a_session, query, pointer):
    for path in LIST_ROUTES:
        check_problem(client_with_a_session, f"{path}?{query}", pointer)


@pytest.mark.parametrize(("query", "pointer"), BAD_SORTING)
def test_bad_sorting_is_400_on_every_sorted_route(client_with_a_session, query, pointer):
    for path in SORTED_ROUTES:
        check_problem(client_with_a_session, f"{path}?{query}", pointer)


@pytest.mark.parametrize("path", SORTED_ROUTES)
def test_every_listed_sort_key_and_synonym_is_accepted(client_with_a_session, path):
    for sort_by in LIST_ROUTES[path]:
        for order in ("asc", "desc"):
            url = f"{path}?sort_by={sort_by}&order={order}&page=1"
            response = client_with_a_session.get(url)
            assert response.status_code == 200, (url, response.get_data(as_text=True))


@pytest.mark.parametrize("path", list(LIST_ROUTES))
def test_bounds_are_accepted_and_unknown_parameters_ignored(client_with_a_session, path):
    plain = client_with_a_session.get(path)
    assert plain.status_code == 200
    noisy = client_with_a_session.get(f"{path}?utm_source=x&limit=-1&foo[]=1&PAGE=0")
    assert noisy.status_code == 200 and noisy.get_json() == plain.get_json()
    for query in ("per_page=1", "per_page=100", "page=2147483647"):
        assert client_with_a_session.get(f"{path}?{query}").status_code == 200, query


def test_a_large_page_is_empty_not_clamped(client_with_a_session):
    body = client_with_a_session.get("/api/study-sessions?page=5&per_page=100").get_json()
    assert body["items"] == [] and body["page"] == 5 and body["total"] == 1
    words = client_with_a_session.get("/words?page=7").get_json()
    assert words["words"] == [] and words["current_page"] == 7


def test_per_page_is_used_as_given(client_with_a_session):
    body = client_with_a_session.get("/api/groups?per_page=2").get_json()
    assert len(body["groups"]) == 2 and body["total_pages"] == 4
