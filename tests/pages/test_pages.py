"""The server-rendered pages through the Flask test client.

Every page answers HTML under a strict Content-Security-Policy, shows what the
database holds (read through the same query functions as the API), has an empty
state, and reports errors as pages written in words. The legacy JSON paths and the
API keep answering JSON.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from lang_portal import db, schema
from lang_portal.pages import views
from lang_portal.queries import groups as group_queries
from lang_portal.queries import vocabulary
from lang_portal.queries import words as word_queries
from lang_portal.queries.learners import DEFAULT_LEARNER_ID
from tests.conftest import count_rows, make_app
from tests.pages.html import PAGES, Page, get_page, visible_text


def start_flashcards(client, group_id: int = 3, reviews: list[tuple[int, bool]] = ()) -> int:
    """Start a Flashcards session through the API and record these (word_id, correct)."""
    response = client.post(
        "/api/study-sessions", json={"group_id": group_id, "study_activity_id": 1}
    )
    assert response.status_code == 201
    study_session_id = response.get_json()["id"]
    if reviews:
        body = {"reviews": [{"word_id": w, "is_correct": c} for w, c in reviews]}
        review = client.post(f"/api/study-sessions/{study_session_id}/review", json=body)
        assert review.status_code == 201
    return study_session_id


def group_word_ids(client, group_id: int) -> list[int]:
    return [w["id"] for w in client.get(f"/api/groups/{group_id}/words/raw").get_json()["words"]]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_html_under_a_strict_policy(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    page = Page(response.get_data(as_text=True))
    assert page.title.strip().endswith("· lang-portal")
    # Scripts only from files, never inline; no inline styles or handlers, which the policy
    # would block in a browser.
    assert page.scripts
    assert all((script.get("src") or "").startswith("/static/js/") for script in page.scripts)
    assert page.inline_styles == 0 and page.inline_handlers == []


def test_the_assets_a_page_links_are_served(client):
    text = client.get("/activities/flashcards/").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', text)
    assert {"/static/js/api.js", "/static/js/flashcards.js", "/static/css/portal.css"} <= set(
        assets
    )
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert response.mimetype in ("text/javascript", "text/css", "image/svg+xml"), asset


def test_fresh_database_shows_empty_states(client):
    page, text = get_page(client, "/")
    assert "No study sessions yet." in text
    assert "No reviews yet" in text
    assert page.text("stat-sessions") == "0"
    assert page.text("stat-studied") == "0 of 263"
    assert "recent-correct" not in page.ids

    _, text = get_page(client, "/portal/sessions")
    assert "No study sessions yet." in text
    _, text = get_page(client, "/portal/groups/1")
    assert "No sessions for this group yet." in text
    _, text = get_page(client, "/portal/study-activities/1")
    assert "No sessions with this activity yet." in text
    page, _ = get_page(client, "/portal/settings")
    assert page.text("history-totals") == "0 sessions and 0 reviews are stored."


def test_an_empty_group_says_so_and_offers_no_launch(client, engine):
    with db.writing(engine) as connection:
        group_id = vocabulary.ensure_group(connection, "Still Empty")
    response = client.get(f"/portal/groups/{group_id}")
    assert response.status_code == 200
    text = visible_text(response.get_data(as_text=True))
    assert "This group has no words yet, so there is nothing to study." in text
    assert "This group is empty." in text
    assert "data-launch" not in response.get_data(as_text=True)


def test_a_session_shows_the_same_counts_everywhere(client, engine):
    first, second, third = group_word_ids(client, 3)[:3]
    study_session_id = start_flashcards(
        client, 3, [(first, True), (second, False), (first, True), (third, True)]
    )
    with engine.connect() as connection:
        row = connection.execute(
            select(schema.study_sessions).where(schema.study_sessions.c.id == study_session_id)
        ).one()
    assert (row.review_items_count, row.correct_count, row.wrong_count) == (4, 3, 1)

    response = client.get(f"/portal/sessions/{study_session_id}")
    page, text = Page(response.get_data(as_text=True)), visible_text(response.get_data(True))
    assert page.text("session-reviews") == "4"
    assert page.text("session-correct") == "3"
    assert page.text("session-wrong") == "1"
    assert "Food and Drink" in text and "Flashcards" in text
    reviewed = [int(i) for i in re.findall(r'href="/portal/words/(\d+)"', response.get_data(True))]
    assert sorted(reviewed) == sorted({first, second, third})

    page, text = get_page(client, "/")
    assert page.text("recent-correct") == "3" and page.text("recent-wrong") == "1"
    assert "Flashcards · Food and Drink" in text  # the session's group, by name
    assert page.text("stat-sessions") == "1"
    assert page.text("stat-success") == "75%"
    assert page.text("stat-studied") == "3 of 263"
    today = datetime.now(UTC).date().isoformat()
    assert f'data-day="{today}" data-reviews="4" data-correct="3"' in client.get("/").get_data(
        as_text=True
    )
    assert "4 reviews, 3 right" in text

    for path in ("/portal/sessions", "/portal/groups/3", "/portal/study-activities/1"):
        assert f'href="/portal/sessions/{study_session_id}"' in client.get(path).get_data(
            as_text=True
        ), path
    page, _ = get_page(client, f"/portal/words/{first}")
    assert page.text("word-correct") == "2" and page.text("word-wrong") == "0"
    page, _ = get_page(client, "/portal/settings")
    assert page.text("history-totals") == "1 session and 4 reviews are stored."


@pytest.mark.parametrize(("sort_by", "order"), [("kanji", "asc"), ("english", "desc")])
def test_words_page_lists_words_in_the_query_functions_order(client, engine, sort_by, order):
    response = client.get(f"/portal/words?sort_by={sort_by}&order={order}&page=2")
    shown = [int(i) for i in re.findall(r'href="/portal/words/(\d+)"', response.get_data(True))]
    with engine.connect() as connection:
        expected = word_queries.page(
            connection, DEFAULT_LEARNER_ID, sort_by, order == "desc", 50, 50
        )
    assert shown == [word["id"] for word in expected]
    # The next-page link keeps the sort.
    assert f"/portal/words?sort_by={sort_by}&amp;order={order}&amp;page=3" in response.get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    ("path", "headings", "whitelist"),
    [
        ("/portal/words", views.WORD_HEADINGS, word_queries.SORT_KEYS),
        ("/portal/groups/1", views.WORD_HEADINGS, word_queries.SORT_KEYS),
        ("/portal/groups", views.GROUP_HEADINGS, group_queries.SORT_KEYS),
    ],
)
def test_page_sort_keys_are_the_query_whitelists_with_a_heading(client, path, headings, whitelist):
    """A table's sortable columns are the whitelist's keys that have a heading, in its order;
    each is a link that sorts by it, and a key without a heading is refused."""
    with_heading = [(key, sort.heading) for key, sort in whitelist.items() if sort.heading]
    assert list(headings) == with_heading and with_heading
    html = client.get(path).get_data(as_text=True)
    for key, heading in with_heading:
        assert f"sort_by={key}&amp;" in html and heading in html, (path, key)
    for key in whitelist.keys() - dict(with_heading).keys():
        assert client.get(f"{path}?sort_by={key}").status_code == 400, (path, key)


def test_the_reset_notice_shows_only_when_the_history_is_empty(client):
    start_flashcards(client, 3)
    _, text = get_page(client, "/portal/settings?reset=done")
    assert "The study history was deleted." not in text
    assert client.post("/api/study-sessions/reset", json={}).status_code == 200
    _, text = get_page(client, "/portal/settings?reset=done")
    assert "The study history was deleted." in text


def test_a_page_past_the_end_is_an_empty_page_not_an_error(client):
    _, text = get_page(client, "/portal/words?page=99")
    assert "There are no words on page 99." in text


def test_the_launch_form_opens_the_activity_on_the_public_url(database_url):
    app = make_app(database_url, PUBLIC_URL="http://portal.test:8000")
    text = app.test_client().get("/portal/study-activities/1?group_id=3").get_data(as_text=True)
    assert 'data-launch-url="http://portal.test:8000/activities/flashcards/"' in text
    assert '<option value="3" selected>' in text
    app.extensions["lang_portal.engine"].dispose()


def test_with_an_api_token_the_pages_explain_that_they_cannot_write(database_url):
    app = make_app(database_url, API_TOKEN="s3cret")
    text = visible_text(app.test_client().get("/portal/groups/1").get_data(as_text=True))
    assert "This server requires an API token for changes" in text
    app.extensions["lang_portal.engine"].dispose()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/portal/words/999999", "There is no word with id 999999."),
        ("/portal/groups/999999", "There is no word group with id 999999."),
        ("/portal/groups/999999/sessions", "There is no word group with id 999999."),
        ("/portal/sessions/999999", "There is no study session with id 999999."),
        ("/portal/study-activities/999999", "There is no study activity with id 999999."),
        ("/portal/words/0", "There is no page at this address."),
        ("/portal/words/abc", "There is no page at this address."),
        ("/portal/words/99999999999999999999", "There is no page at this address."),
        ("/portal/no-such-page", "There is no page at this address."),
        ("/activities/no-such-activity/", "There is no study activity at this address."),
    ],
)
def test_unknown_pages_are_a_friendly_html_404(client, path, message):
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    text = visible_text(response.get_data(as_text=True))
    assert "We couldn't find that page" in text
    assert message in text
    assert response.headers["X-Request-ID"] in text
    assert "Go to the dashboard" in text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/portal/words?sort_by=password", "sort_by must be one of"),
        ("/portal/words?order=sideways", "order must be one of asc, desc, not 'sideways'."),
        ("/portal/words?page=0", "The page number must be a whole number of 1 or more"),
        ("/portal/sessions?page=-1", "The page number must be a whole number of 1 or more"),
        ("/portal/groups?page=two", "The page number must be a whole number of 1 or more"),
        ("/portal/groups?sort_by=kanji", "sort_by must be one of name, words_count"),
        ("/portal/groups/1?sort_by=name", "sort_by must be one of"),
    ],
)
def test_bad_query_values_are_a_400_page_that_says_what_is_allowed(client, path, message):
    _, text = get_page(client, path, status=400)
    assert message in text


def test_an_unexpected_failure_is_a_500_page_without_internals(client, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internals at /srv/app")

    monkeypatch.setattr(word_queries, "count", explode)
    response = client.get("/portal/words")
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert "Something went wrong on our side" in visible_text(text)
    assert "secret internals" not in text and "Traceback" not in text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_database_outage_is_a_503_page(database_url, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(database_url.removeprefix("sqlite:///"), data / "lang-portal.db")
    app = make_app(f"sqlite:///{data / 'lang-portal.db'}")
    client = app.test_client()
    assert client.get("/").status_code == 200
    data.rename(tmp_path / "away")
    try:
        response = client.get("/")
        assert response.status_code == 503
        assert response.mimetype == "text/html"
        assert response.headers["Retry-After"] == "1"
        text = response.get_data(as_text=True)
        assert "The database is unavailable" in visible_text(text)
        assert str(tmp_path) not in text and "sqlite" not in text.lower()
    finally:
        (tmp_path / "away").rename(data)
    assert client.get("/").status_code == 200
    app.extensions["lang_portal.engine"].dispose()


def test_portal_root_redirects_to_the_dashboard(client):
    for path in ("/portal", "/portal/"):
        response = client.get(path)
        assert response.status_code in (301, 302, 308)
        assert response.headers["Location"].endswith("/")


@pytest.mark.parametrize(
    "path",
    [
        "/words",
        "/words/1",
        "/groups",
        "/groups/1",
        "/groups/1/words",
        "/groups/1/study_sessions",
        "/dashboard/stats",
        "/dashboard/recent-session",
        "/api/words",
        "/api/groups/1/words/raw",
        "/api/study-sessions",
    ],
)
def test_legacy_and_api_paths_still_answer_json(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() is not None or path == "/dashboard/recent-session"


def test_legacy_writes_still_answer_json(client, engine):
    response = client.post("/study_sessions", json={"group_id": 1, "study_activity_id": 1})
    assert response.status_code == 201 and response.mimetype == "application/json"
    study_session_id = response.get_json()["id"]
    review = client.post(
        f"/study_sessions/{study_session_id}/review",
        json={"reviews": [{"word_id": 1, "is_correct": True}]},
    )
    assert review.status_code == 201 and review.mimetype == "application/json"
    assert count_rows(engine, "word_review_items") == 1


@pytest.mark.parametrize("path", ["/api/no-such-thing", "/no-such-thing", "/words/999999"])
def test_unknown_paths_outside_the_portal_stay_problem_json(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
