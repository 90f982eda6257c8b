"""The portal in real Chromium, the way a learner uses it.

Open the dashboard, open a group, launch Flashcards, answer every card (some right,
some wrong), and find exactly those counts on the session page, on the dashboard and
in the database; then reset the history and see it empty. Also: a lost answer to a
review batch is retried without recording anything twice, errors read as sentences,
and every page fits a phone's width.
"""

from __future__ import annotations

import os
import re
import shutil
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from sqlalchemy import func, select

from lang_portal import db, queries, schema
from tests.browser.conftest import (
    ARTIFACTS,
    GROUP_ID,
    ROOT,
    BrowserErrors,
    Portal,
    answer_cards,
    assert_session_stored,
    session_reviews,
)
from tests.conftest import count_rows

try:
    from playwright.sync_api import Page, expect
except ImportError:
    Page = expect = None

pytestmark = [pytest.mark.parametrize("database_url", ["sqlite"], indirect=True), pytest.mark.slow]

GROUP_NAME = "Food and Drink"
DASHBOARD_SCREENSHOT = ROOT / "docs" / "screenshots" / "dashboard.png"
UPDATE_SCREENSHOTS = "LANG_PORTAL_UPDATE_SCREENSHOTS"


def group_size(portal: Portal, group_id: int) -> int:
    with portal.engine.connect() as connection:
        return connection.execute(
            select(func.count()).where(schema.word_groups.c.group_id == group_id)
        ).scalar_one()


def save_dashboard_screenshot(page: Page) -> None:
    """Keep the README's screenshot: always as an artifact, in docs/ when asked or missing."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    if os.environ.get(UPDATE_SCREENSHOTS) == "1" or not DASHBOARD_SCREENSHOT.exists():
        DASHBOARD_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / "dashboard.png", DASHBOARD_SCREENSHOT)


def test_a_learner_studies_a_group_and_sees_the_results(
    page: Page, portal: Portal, page_errors: BrowserErrors
):
    # 1. The dashboard of a fresh install.
    page.goto(portal.url + "/")
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(page.get_by_text("No study sessions yet.")).to_be_visible()
    expect(page.locator("#stat-sessions")).to_have_text("0")

    # 2. Open a group.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Groups").click()
    page.get_by_role("link", name=GROUP_NAME).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(GROUP_NAME)
    expect(page.get_by_text("No sessions for this group yet.")).to_be_visible()

    # 3. Launch Flashcards for it: a session is created, then the activity opens.
    page.get_by_role("button", name="Start Flashcards").click()
    page.wait_for_url(re.compile(r"/activities/flashcards/\?"))
    assert page.url.startswith(portal.url + "/activities/flashcards/")
    query = parse_qs(urlparse(page.url).query)
    assert query["group_id"] == [str(GROUP_ID)]
    study_session_id = int(query["session_id"][0])
    assert count_rows(portal.engine, "study_sessions") == 1
    expect(page.locator("#group-name")).to_contain_text(GROUP_NAME)

    # 4. Answer every card, some right and some wrong.
    total = group_size(portal, GROUP_ID)
    right, wrong = answer_cards(page, total, lambda index: index % 3 != 0)
    assert right and wrong and right + wrong == total
    expect(page.get_by_role("heading", name="Session complete")).to_be_visible()
    expect(page.locator("#fc-summary-right")).to_have_text(str(right))
    expect(page.locator("#fc-summary-wrong")).to_have_text(str(wrong))
    expect(page.locator("#fc-save-text")).to_have_text(f"All {total} answers are saved.")

    # 5. The session page, the dashboard and the database agree on exactly those counts.
    assert_session_stored(portal, study_session_id, total, right)
    page.get_by_role("link", name="See this session").click()
    expect(page).to_have_url(f"{portal.url}/portal/sessions/{study_session_id}")
    expect(page.locator("#session-reviews")).to_have_text(str(total))
    expect(page.locator("#session-correct")).to_have_text(str(right))
    expect(page.locator("#session-wrong")).to_have_text(str(wrong))

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    expect(page.locator("#recent-correct")).to_have_text(str(right))
    expect(page.locator("#recent-wrong")).to_have_text(str(wrong))
    expect(page.locator("#stat-sessions")).to_have_text("1")
    expect(page.locator("#stat-studied")).to_have_text(f"{total} of 263")
    expect(page.locator("#stat-success")).to_have_text(f"{round(right * 100 / total)}%")
    today_bar = page.locator("#reviews-chart g.day").last
    expect(today_bar).to_have_attribute("data-reviews", str(total))
    expect(today_bar).to_have_attribute("data-correct", str(right))
    save_dashboard_screenshot(page)

    # 6. Reset the history (confirmed) and see it empty.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    expect(page.locator("#history-totals")).to_have_text(
        f"1 session and {total} reviews are stored."
    )
    page.get_by_role("button", name="Reset study history…").click()
    dialog = page.get_by_role("dialog", name="Delete the study history?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert count_rows(portal.engine, "study_sessions") == 1  # cancelling deletes nothing

    page.get_by_role("button", name="Reset study history…").click()
    dialog.get_by_role("button", name="Delete study history").click()
    expect(page.locator("#reset-done")).to_have_text("The study history was deleted.")
    expect(page.locator("#history-totals")).to_have_text("0 sessions and 0 reviews are stored.")
    assert count_rows(portal.engine, "study_sessions") == 0
    assert count_rows(portal.engine, "word_review_items") == 0

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_text("No study sessions yet.")).to_be_visible()
    expect(page.locator("#stat-sessions")).to_have_text("0")
    assert page_errors.unexpected() == []


def test_a_lost_answer_is_retried_without_recording_twice(
    page: Page, portal: Portal, page_errors: BrowserErrors
):
    """The first review batch reaches the server, but its answer is lost on the way back.

    The page retries with the same Idempotency-Key; the server replays its answer, so
    each card is recorded exactly once. Later batches get keys of their own.
    """
    created = requests.post(
        f"{portal.url}/api/study-sessions",
        json={"group_id": GROUP_ID, "study_activity_id": 1},
        timeout=10,
    ).json()
    keys: list[str] = []

    def lose_the_first_answer(route) -> None:
        keys.append(route.request.headers.get("idempotency-key", ""))
        if len(keys) == 1:
            route.fetch()  # the server records the batch...
            route.abort("connectionreset")  # ...and the page never hears back
        else:
            route.continue_()

    page.route("**/api/study-sessions/*/review", lose_the_first_answer)
    page.goto(f"{portal.url}/activities/flashcards/?group_id={GROUP_ID}&session_id={created['id']}")
    total = group_size(portal, GROUP_ID)
    right, wrong = answer_cards(page, total, lambda index: index < 10)
    expect(page.locator("#fc-save-text")).to_have_text(f"All {total} answers are saved.")

    batches = -(-total // 10)
    assert len(keys) == batches + 1  # one retry
    assert keys[0] == keys[1] and len(keys[0]) == 32
    assert len(set(keys)) == batches
    assert session_reviews(portal, created["id"]) == (total, right, total)
    assert (right, wrong) == (10, total - 10)
    assert page_errors.unexpected(r"net::ERR_CONNECTION_RESET", r"Failed to load resource") == []


def test_a_refused_batch_is_shown_in_words_and_retried_with_its_key_on_request(
    page: Page, portal: Portal, page_errors: BrowserErrors
):
    created = requests.post(
        f"{portal.url}/api/study-sessions",
        json={"group_id": GROUP_ID, "study_activity_id": 1},
        timeout=10,
    ).json()
    keys: list[str] = []

    def refuse_the_first_try(route) -> None:
        keys.append(route.request.headers.get("idempotency-key", ""))
        if len(keys) == 1:
            route.fulfill(
                status=422,
                content_type="application/problem+json",
                body='{"error": "x", "detail": "this key was used with another body", '
                '"status": 422, "request_id": "r1"}',
            )
        else:
            route.continue_()

    page.route("**/api/study-sessions/*/review", refuse_the_first_try)
    page.goto(f"{portal.url}/activities/flashcards/?group_id={GROUP_ID}&session_id={created['id']}")
    total = group_size(portal, GROUP_ID)
    for index in range(10):  # one batch
        expect(page.locator("#fc-position")).to_have_text(f"Card {index + 1} of {total}")
        page.keyboard.press("Space")
        page.keyboard.press("ArrowRight")
    save_status = page.locator("#fc-save-text")
    expect(save_status).to_have_text(
        "10 answers are not saved yet. The server refused this: "
        "this key was used with another body."
    )
    assert session_reviews(portal, created["id"]) == (0, 0, 0)
    page.get_by_role("button", name="Try saving again").click()
    expect(page.get_by_role("button", name="Try saving again")).to_be_hidden()
    expect(save_status).to_have_text("")
    assert keys == [keys[0], keys[0]]
    assert session_reviews(portal, created["id"]) == (10, 10, 10)
    assert page_errors.unexpected(r"422") == []


def test_launching_without_the_api_token_says_why_in_words(
    page: Page, start_portal, page_errors: BrowserErrors
):
    portal = start_portal(API_TOKEN="s3cret")
    page.goto(f"{portal.url}/portal/groups/{GROUP_ID}")
    expect(page.get_by_text("This server requires an API token for changes").first).to_be_visible()
    page.get_by_role("button", name="Start Flashcards").click()
    status = page.locator("form[data-launch] .form-status").first
    expect(status).to_contain_text("Could not start the session.")
    expect(status).to_contain_text("requires an API token")
    expect(status).not_to_contain_text("{")  # a sentence, not the JSON problem body
    expect(page.get_by_role("button", name="Start Flashcards")).to_be_enabled()
    assert count_rows(portal.engine, "study_sessions") == 0
    assert page_errors.unexpected(r"401") == []


def test_flashcards_explain_what_is_missing(page: Page, portal: Portal):
    page.goto(portal.url + "/activities/flashcards/")
    expect(page.get_by_text("Start flashcards from the portal")).to_be_visible()

    page.goto(portal.url + "/activities/flashcards/?group_id=3&session_id=999999")
    expect(page.get_by_text("This session or group does not exist")).to_be_visible()
    expect(page.locator("#fc-problem-text")).to_have_text("Study session not found.")

    other = requests.post(
        f"{portal.url}/api/study-sessions", json={"group_id": 1, "study_activity_id": 1}, timeout=10
    ).json()
    page.goto(f"{portal.url}/activities/flashcards/?group_id=3&session_id={other['id']}")
    expect(page.get_by_text("This session belongs to another group")).to_be_visible()

    with db.writing(portal.engine) as connection:
        empty_group = queries.vocabulary.ensure_group(connection, "Nothing Yet")
    created = requests.post(
        f"{portal.url}/api/study-sessions",
        json={"group_id": empty_group, "study_activity_id": 1},
        timeout=10,
    ).json()
    page.goto(
        f"{portal.url}/activities/flashcards/?group_id={empty_group}&session_id={created['id']}"
    )
    expect(page.get_by_text("This group has no words yet")).to_be_visible()
    expect(page.get_by_role("link", name="Back to the group")).to_have_attribute(
        "href", f"/portal/groups/{empty_group}"
    )


PHONE_PAGES = [
    "/",
    "/portal/words",
    "/portal/words/1",
    "/portal/groups",
    f"/portal/groups/{GROUP_ID}",
    "/portal/study-activities",
    "/portal/study-activities/1",
    "/portal/sessions",
    "/portal/sessions/1",
    "/portal/settings",
]


def test_every_page_fits_a_phone_and_flashcards_work_by_touch(
    phone_page: Page, portal: Portal, page_errors: BrowserErrors
):
    page = phone_page
    ARTIFACTS.mkdir(exist_ok=True)
    # Launch from the activity page this time, choosing the group in its form.
    page.goto(portal.url + "/portal/study-activities/1")
    page.get_by_label("Word group").select_option(label=GROUP_NAME)
    page.get_by_role("button", name="Start Flashcards").click()
    page.wait_for_url(re.compile(r"/activities/flashcards/\?"))
    for _ in range(3):
        page.get_by_role("button", name="Show answer").click()
        page.get_by_role("button", name="Right").click()
    expect(page.locator("#fc-right")).to_have_text("3")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "phone-flashcards.png"))
    study_session_id = int(parse_qs(urlparse(page.url).query)["session_id"][0])

    too_wide = {}
    for path in PHONE_PAGES:
        page.goto(portal.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            too_wide[path] = width
        name = path.strip("/").replace("/", "-") or "dashboard"
        page.screenshot(path=str(ARTIFACTS / f"phone-{name}.png"), full_page=True)
    assert too_wide == {}
    # The three answers given before leaving the deck were sent as the page went away.
    assert session_reviews(portal, study_session_id) == (3, 3, 3)
    assert page_errors.unexpected() == []
