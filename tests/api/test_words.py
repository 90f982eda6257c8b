"""GET /api/words and /api/words/<id>: the vocabulary with its review counts."""

from __future__ import annotations

from typing import get_args

import pytest
from sqlalchemy import and_, func, select

from lang_portal import schema
from lang_portal.api.words import WordSortKey
from lang_portal.queries import words as word_queries
from lang_portal.queries.learners import DEFAULT_LEARNER_ID
from tests.conftest import count_rows
from tests.support import assert_problem

WORD_FIELDS = {"id", "kanji", "romaji", "english", "correct_count", "wrong_count"}
# Derived from the whitelist (tests/api/test_query_parameters.py pins it on purpose).
SORT_KEYS = list(word_queries.SORT_COLUMNS)


def review(client, reviews: list[tuple[int, bool]]) -> int:
    """Start a session in group 1 and record these (word_id, correct) reviews in it."""
    study_session_id = client.post(
        "/api/study-sessions", json={"group_id": 1, "study_activity_id": 1}
    ).get_json()["id"]
    body = {"reviews": [{"word_id": w, "is_correct": c} for w, c in reviews]}
    assert (
        client.post(f"/api/study-sessions/{study_session_id}/review", json=body).status_code == 201
    )
    return study_session_id


def expected_order(engine, sort_by: str, descending: bool) -> list[int]:
    """Word ids in the order the database itself sorts the column, ties by id.

    The review counters are the default learner's rows of word_progress; a word they
    never reviewed has none and counts zero.
    """
    progress = schema.word_progress
    if sort_by in progress.c:
        column = func.coalesce(progress.c[sort_by], 0)
    else:
        column = schema.words.c[sort_by]
    ordering = (
        (column.desc(), schema.words.c.id.desc()) if descending else (column, schema.words.c.id)
    )
    words = schema.words.outerjoin(
        progress,
        and_(progress.c.word_id == schema.words.c.id, progress.c.learner_id == DEFAULT_LEARNER_ID),
    )
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(schema.words.c.id).select_from(words).order_by(*ordering)
            ).scalars()
        )


@pytest.mark.parametrize("path", ["/api/words", "/api/groups/{group_id}/words"])
def test_sort_keys_are_the_whitelist_in_its_order(client, path):
    """The Literal and the OpenAPI enum are the whitelist's keys, in the whitelist's order."""
    assert list(get_args(WordSortKey)) == SORT_KEYS
    operation = client.get("/api/openapi.json").get_json()["paths"][path]["get"]
    sort_by = next(p for p in operation["parameters"] if p["name"] == "sort_by")
    assert sort_by["schema"]["enum"] == SORT_KEYS


@pytest.mark.parametrize("path", ["/api/words", "/words", "/api/v1/words"])
def test_first_page_has_fifty_words_sorted_by_kanji(client, engine, path):
    response = client.get(path)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"words", "total_pages", "current_page", "total_words"}
    total = count_rows(engine, "words")
    assert body["total_words"] == total == 263
    assert body["total_pages"] == 6 and body["current_page"] == 1
    assert len(body["words"]) == 50
    assert all(set(word) == WORD_FIELDS for word in body["words"])
    assert [w["id"] for w in body["words"]] == expected_order(engine, "kanji", False)[:50]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("sort_by", SORT_KEYS)
def test_every_sort_key_pages_through_every_word_once(client, engine, sort_by, order):
    # Give some words distinct counts and leave many tied at zero, to test the id tie-break.
    review(client, [(5, True), (5, True), (5, False), (9, False), (9, False), (12, True)])
    seen = []
    for page in range(1, 7):
        body = client.get(f"/words?page={page}&sort_by={sort_by}&order={order}").get_json()
        assert body["current_page"] == page
        seen += [w["id"] for w in body["words"]]
    assert seen == expected_order(engine, sort_by, order == "desc")
    assert len(seen) == len(set(seen)) == 263


def test_counts_come_from_the_reviews(client):
    review(client, [(5, True), (5, True), (5, False), (9, False)])
    top = client.get("/words?sort_by=correct_count&order=desc").get_json()["words"][0]
    assert (top["id"], top["correct_count"], top["wrong_count"]) == (5, 2, 1)
    most_wrong = client.get("/words?sort_by=wrong_count&order=desc").get_json()["words"][0]
    assert (most_wrong["id"], most_wrong["wrong_count"]) == (9, 1)


def test_per_page_and_a_page_past_the_end(client):
    body = client.get("/words?per_page=100&page=3").get_json()
    assert len(body["words"]) == 63 and body["total_pages"] == 3
    past = client.get("/words?page=99").get_json()
    assert past["words"] == [] and past["current_page"] == 99 and past["total_words"] == 263


@pytest.mark.parametrize("path", ["/api/words/1", "/words/1", "/api/v1/words/1"])
def test_word_detail_lists_its_groups(client, engine, path):
    with engine.begin() as connection:
        connection.execute(schema.word_groups.insert().values(group_id=3, word_id=1))
        expected = connection.execute(select(schema.words).where(schema.words.c.id == 1)).one()
        names = dict(connection.execute(select(schema.groups.c.id, schema.groups.c.name)).all())
    review(client, [(1, True), (1, False), (1, False)])
    response = client.get(path)
    assert response.status_code == 200
    word = response.get_json()["word"]
    assert set(word) == {*WORD_FIELDS, "groups", "card"}
    assert (word["card"]["reps"], word["card"]["state"]) == (3, "learning")  # good, again, again
    assert (word["kanji"], word["romaji"], word["english"]) == (
        expected.kanji,
        expected.romaji,
        expected.english,
    )
    assert (word["correct_count"], word["wrong_count"]) == (1, 2)
    assert sorted(word["groups"], key=lambda g: g["id"]) == [
        {"id": 1, "name": names[1]},
        {"id": 3, "name": names[3]},
    ]


@pytest.mark.parametrize("word_id", ["264", "999999", "0", "-1", "abc", str(2**63)])
def test_unknown_word_is_404(client, engine, word_id):
    assert_problem(client.get(f"/api/words/{word_id}"), 404)
    assert_problem(client.get(f"/words/{word_id}"), 404)
    assert count_rows(engine, "words") == 263
