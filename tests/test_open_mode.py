"""The open mode is what it was before sign-in existed: no sign-in, no class, no launch
tokens, and no cookie, so the React frontend and the single-user portal see no session."""

from __future__ import annotations

import pytest

from tests.pages.html import PAGES
from tests.reliability.support import ACCOUNTS_ONLY, url_rules


def test_no_answer_in_the_open_mode_sets_a_cookie(client):
    answers = [client.get(path) for path in [*PAGES, "/activities/flashcards/", "/api/words"]]
    created = client.post("/api/study-sessions", json={"group_id": 1, "study_activity_id": 1})
    assert created.status_code == 201
    answers.append(created)
    reviewed = client.post(
        f"/api/study-sessions/{created.get_json()['id']}/review",
        json={"reviews": [{"word_id": 1, "is_correct": True}]},
    )
    assert reviewed.status_code == 201
    answers.append(reviewed)
    assert [answer.status_code for answer in answers[: len(PAGES)]] == [200] * len(PAGES)
    assert [answer.headers.get("Set-Cookie") for answer in answers] == [None] * len(answers)
    assert client.get_cookie("lang_portal_sign_in") is None


@pytest.mark.parametrize(
    "rule", [rule for rule in url_rules() if rule.endpoint in ACCOUNTS_ONLY], ids=str
)
def test_what_the_accounts_mode_adds_is_closed_in_the_open_mode(client, rule):
    """The launch-token route refuses (403); the sign-in and class pages are 404 pages."""
    created = client.post("/api/study-sessions", json={"group_id": 1, "study_activity_id": 1})
    path = rule.path(study_session_id=created.get_json()["id"], learner_id=1)
    if rule.write_method:
        response = client.post(path, json={})
        assert (response.status_code, response.mimetype) == (403, "application/problem+json")
    else:
        response = client.get(path)
        assert (response.status_code, response.mimetype) == (404, "text/html")
