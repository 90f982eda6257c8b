"""The portal in the accounts mode without a sign-in: every page sends the browser to the
sign-in page, and shows nobody's history on the way."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import make_app
from tests.pages.html import PAGES

OPERATOR = "pages-operator-token"


@pytest.fixture
def accounts_client(database_url: str):
    app = make_app(database_url, AUTH="accounts", API_TOKEN=OPERATOR)
    client = app.test_client()
    # Some history of the default learner that no page may show.
    created = client.post(
        "/api/study-sessions",
        json={"group_id": 1, "study_activity_id": 1},
        headers={"Authorization": f"Bearer {OPERATOR}"},
    )
    assert created.status_code == 201
    yield client
    app.extensions["lang_portal.engine"].dispose()


@pytest.mark.parametrize("path", [*PAGES, "/activities/typing-tutor/", "/portal/sessions/1"])
def test_every_page_sends_the_browser_to_the_sign_in_page(accounts_client, path):
    response = accounts_client.get(path)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/portal/sign-in"
    assert parse_qs(location.query)["next"] == [path]  # and back here afterwards
    assert "Core Verbs" not in response.get_data(as_text=True)  # the session's group


def test_a_bearer_token_does_not_open_the_pages(accounts_client):
    """A token is for the API; the pages are opened by a sign-in only."""
    response = accounts_client.get("/", headers={"Authorization": f"Bearer {OPERATOR}"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/portal/sign-in")


def test_the_sign_in_page_itself_needs_no_sign_in(accounts_client):
    response = accounts_client.get("/portal/sign-in")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert 'name="csrf_token"' in response.get_data(as_text=True)


def test_static_files_and_the_api_reference_are_still_served(accounts_client):
    assert accounts_client.get("/static/css/portal.css").status_code == 200
    assert accounts_client.get("/api/docs").status_code == 200
    assert accounts_client.get("/api/openapi.json").status_code == 200
