"""The portal in the accounts mode, until it can sign learners in: every page explains
that the API needs a token, and shows nobody's history."""

from __future__ import annotations

import pytest

from tests.conftest import make_app
from tests.pages.html import PAGES, get_page

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
def test_every_page_explains_that_the_api_needs_a_token(accounts_client, path):
    _, text = get_page(accounts_client, path, status=401)
    assert "Sign in with a token" in text
    assert "Authorization: Bearer" in text
    assert "Core Verbs" not in text  # the session's group: no history, no vocabulary


def test_a_bearer_token_does_not_open_the_pages(accounts_client):
    """The pages have no sign-in yet; a token is for the API, not for them."""
    response = accounts_client.get("/", headers={"Authorization": f"Bearer {OPERATOR}"})
    assert response.status_code == 401


def test_static_files_and_the_api_reference_are_still_served(accounts_client):
    assert accounts_client.get("/static/css/portal.css").status_code == 200
    assert accounts_client.get("/api/docs").status_code == 200
    assert accounts_client.get("/api/openapi.json").status_code == 200
