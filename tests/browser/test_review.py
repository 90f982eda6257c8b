"""A Review round in Chromium: from the navigation's due count to an empty queue.

Cards are made due the way an activity that queues answers offline makes them: a
session that started two days ago (its start moved back in the database, since the API
starts sessions now) receives five answers given then, each "good", through the API
with their ``reviewed_at``. FSRS schedules such a card ten minutes after the answer, so
all five are due now. With two new words allowed a day, the round is those five cards,
most overdue first, then two new words.

The round is played with the keys 1 to 4 and the buttons. Each card's buttons show the
intervals the API gives for it, the due count drops with each due card answered and
the new count with each new word, every answer is stored with its rating and duration,
and at the end the queue is empty and says when the next card is due.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from sqlalchemy import select, update

from lang_portal import schema
from tests.browser.conftest import GROUP_ID, BrowserErrors, Portal

try:
    from playwright.sync_api import Page, expect
except ImportError:
    Page = expect = None

pytestmark = [pytest.mark.parametrize("database_url", ["sqlite"], indirect=True), pytest.mark.slow]

REVIEW_ACTIVITY_ID = 4  # the fourth seeded activity
DUE_WORDS = 5
NEW_WORDS_PER_DAY = 2
RATINGS = ["again", "hard", "good", "easy"]
KEYS = {rating: str(number) for number, rating in enumerate(RATINGS, start=1)}
# The rating given to each card of the round, in order: due cards, then new words.
ANSWERS = ["good", "again", "easy", "hard", "good", "again", "good"]
INTERVAL = re.compile(r"^\d+(\.\d)?(m|h|d|mo|y)$")


def answered_two_days_ago(portal: Portal, word_ids: list[int]) -> None:
    """Answer these words "good" two days ago, in a session that started then."""
    created = requests.post(
        f"{portal.url}/api/study-sessions",
        json={"group_id": GROUP_ID, "study_activity_id": REVIEW_ACTIVITY_ID},
        timeout=10,
    )
    assert created.status_code == 201
    study_session_id = created.json()["id"]
    then = datetime.now(UTC) - timedelta(days=2)
    with portal.engine.begin() as connection:
        connection.execute(
            update(schema.study_sessions)
            .where(schema.study_sessions.c.id == study_session_id)
            .values(created_at=then - timedelta(minutes=1))
        )
    reviews = [{"word_id": w, "rating": "good", "reviewed_at": then.isoformat()} for w in word_ids]
    answer = requests.post(
        f"{portal.url}/api/study-sessions/{study_session_id}/review",
        json={"reviews": reviews},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text


def due_queue(portal: Portal) -> tuple[dict, float]:
    """The group's queue as the API gives it, and when it was asked (ms since the epoch)."""
    asked = time.time() * 1000
    response = requests.get(f"{portal.url}/api/study/due?group_id={GROUP_ID}&limit=100", timeout=10)
    assert response.status_code == 200
    return response.json(), asked


def stored_reviews(portal: Portal, study_session_id: int) -> list[tuple[int, int, bool]]:
    """(word_id, rating, has a duration) of the session's reviews, in the order stored."""
    items = schema.word_review_items.c
    with portal.engine.connect() as connection:
        rows = connection.execute(
            select(items.word_id, items.rating, items.duration_ms)
            .where(items.study_session_id == study_session_id)
            .order_by(items.id)
        ).all()
    return [(row.word_id, row.rating, row.duration_ms is not None) for row in rows]


def wait_for_due_count(portal: Portal, expected: int) -> None:
    """The API's due count for the group reaches ``expected`` (answers save one by one)."""
    deadline = time.monotonic() + 10
    while due_queue(portal)[0]["due_count"] != expected:
        assert time.monotonic() < deadline, f"the due count never reached {expected}"
        time.sleep(0.1)


def test_a_review_round_answers_the_due_cards_then_the_new_words(
    page: Page, start_portal, page_errors: BrowserErrors
):
    portal = start_portal(NEW_WORDS_PER_DAY=NEW_WORDS_PER_DAY)
    words = requests.get(f"{portal.url}/api/groups/{GROUP_ID}/words/raw", timeout=10).json()
    answered_two_days_ago(portal, [word["id"] for word in words["words"][:DUE_WORDS]])
    queue, asked = due_queue(portal)
    assert (queue["due_count"], queue["new_count"]) == (DUE_WORDS, NEW_WORDS_PER_DAY)
    assert len(queue["items"]) == len(ANSWERS)

    # The navigation says what is due; the Review page starts the group with the most.
    page.goto(portal.url + "/portal/groups")
    expect(page.locator("#nav-due-now")).to_have_text(str(DUE_WORDS))
    page.get_by_role("link", name=re.compile(r"^Review")).click()
    expect(page).to_have_url(portal.url + "/portal/review")
    expect(page.locator("#review-due-now")).to_have_text(str(DUE_WORDS))
    expect(page.locator("#review-all-group")).to_have_text("Food and Drink")
    page.get_by_role("button", name="Review all").click()
    page.wait_for_url(re.compile(r"/activities/review/\?"))
    query = parse_qs(urlparse(page.url).query)
    assert query["group_id"] == [str(GROUP_ID)]
    study_session_id = int(query["session_id"][0])
    activity_url = page.url

    due, fresh = DUE_WORDS, NEW_WORDS_PER_DAY
    for index, (item, rating) in enumerate(zip(queue["items"], ANSWERS, strict=True)):
        expect(page.locator("#rv-position")).to_have_text(f"Card {index + 1} of {len(ANSWERS)}")
        expect(page.locator("#rv-kanji")).to_have_text(item["word"]["kanji"])
        expect(page.locator("#rv-due")).to_have_text(str(due))
        expect(page.locator("#rv-new")).to_have_text(str(fresh))
        expect(page.locator("#rv-kind")).to_have_text(
            re.compile(r"^Learning · due \d+[mhd] ago$") if item["card"] else "New word"
        )
        if index == 0:
            page.get_by_role("button", name="Show answer").click()
        else:
            page.keyboard.press("Space")
        expect(page.locator("#rv-meaning")).to_have_text(item["word"]["english"])

        # Each button shows when the word would come back, as the API computes it.
        for name in RATINGS:
            label = page.locator(f"#rv-interval-{name}").inner_text()
            assert INTERVAL.match(label), label
            expected = page.evaluate(
                "([due, now]) => LangPortal.intervals.until(due, now)",
                [item["intervals"][name], asked],
            )
            assert label == expected, (index, name)
        if item["card"] is None:  # a new word: FSRS's first learning steps
            assert page.locator("#rv-interval-again").inner_text() == "1m"
            assert page.locator("#rv-interval-good").inner_text() == "10m"

        if rating == "easy":
            page.get_by_role("button", name=re.compile(r"^Easy")).click()
        else:
            page.keyboard.press(KEYS[rating])
        if item["card"]:
            due -= 1
        else:
            fresh -= 1
        if index == DUE_WORDS - 1:  # every due card answered: the API agrees
            expect(page.locator("#rv-due")).to_have_text("0")
            wait_for_due_count(portal, 0)

    # The round is over: every answer is saved, with its rating and how long it took.
    expect(page.get_by_role("heading", name="Session complete")).to_be_visible()
    expect(page.locator("#rv-summary-right")).to_have_text(str(sum(a != "again" for a in ANSWERS)))
    expect(page.locator("#rv-summary-wrong")).to_have_text(str(ANSWERS.count("again")))
    expect(page.locator("#rv-summary-total")).to_have_text(str(len(ANSWERS)))
    expect(page.locator("#rv-save-text")).to_have_text(f"All {len(ANSWERS)} answers are saved.")
    assert stored_reviews(portal, study_session_id) == [
        (item["word"]["id"], RATINGS.index(rating) + 1, True)
        for item, rating in zip(queue["items"], ANSWERS, strict=True)
    ]
    # Nothing is due now and no new word is left today; the again cards come back soon.
    expect(page.locator("#rv-summary-due")).to_have_text("0")
    expect(page.locator("#rv-summary-next")).to_have_text(
        re.compile(r"^in \d+m \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\)$")
    )
    expect(page.locator("#rv-more")).to_be_hidden()
    page.get_by_role("link", name="Review another group").click()
    expect(page.locator("#review-due-now")).to_have_text("0")
    expect(page.locator("#nav-due-now")).to_have_text("0")

    # Started again, the group's queue is empty, and the page says when to come back.
    page.goto(activity_url)
    expect(
        page.get_by_role("heading", name="Nothing to review in this group right now")
    ).to_be_visible()
    expect(page.locator("#rv-empty-text")).to_have_text(
        re.compile(
            r"^Every card of “Food and Drink” is done for now\. The next one is due in \d+m "
        )
    )
    assert page_errors.failed_requests == []
    assert page_errors.unexpected() == []
