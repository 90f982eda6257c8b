"""Every seeded study activity, played in Chromium from the portal, on 127.0.0.1 and localhost.

The server has no PUBLIC_URL, so its links follow the URL the browser used. For each
activity and each host name: the API's launch and preview URLs are on that origin, the
previews load, the activity starts from the group page, one full round is played (some
answers right, some wrong), the summary links to the session page, and the API and the
database hold exactly those reviews. No request, image or script may fail on the way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from tests.browser.conftest import (
    ARTIFACTS,
    GROUP_ID,
    PHONE,
    ROOT,
    BrowserErrors,
    Portal,
    answer_cards,
    assert_session_stored,
    session_reviews,
)

try:
    from playwright.sync_api import Page, expect
except ImportError:
    Page = expect = None

pytestmark = [pytest.mark.parametrize("database_url", ["sqlite"], indirect=True), pytest.mark.slow]

SEEDED_ACTIVITIES = json.loads(
    (ROOT / "src" / "lang_portal" / "seed" / "study_activities.json").read_text(encoding="utf-8")
)
HOSTS = ["127.0.0.1", "localhost"]


def group_words(portal: Portal) -> list[dict]:
    """The group's words as the activities read them."""
    response = requests.get(f"{portal.url}/api/groups/{GROUP_ID}/words/raw", timeout=10)
    assert response.status_code == 200
    return response.json()["words"]


def spelled_differently(romaji: str) -> str:
    """The reading as a learner might type it: capitals, a space, macrons for ou."""
    variant = romaji.replace("ou", "ō").replace("uu", "ū")
    middle = len(variant) // 2
    return (variant[:middle] + " " + variant[middle:]).capitalize()


def play_flashcards(page: Page, words: list[dict]) -> tuple[int, int]:
    """Every card; each third one wrong."""
    return answer_cards(page, len(words), lambda index: index % 3 != 0)


def play_typing_tutor(page: Page, words: list[dict]) -> tuple[int, int]:
    """Every word, in four ways: a near miss, another spelling, Esc, and plain typing."""
    by_meaning = {word["english"]: word for word in words}
    right = wrong = 0
    for index in range(len(words)):
        expect(page.locator("#tt-position")).to_have_text(f"Word {index + 1} of {len(words)}")
        word = by_meaning[page.locator("#tt-meaning").inner_text()]
        answer = page.locator("#tt-answer")
        expect(answer).to_be_focused()
        way = index % 4
        if way == 0:  # a near miss: the right answer is shown until Enter
            page.keyboard.type(word["romaji"][:-1])
            page.keyboard.press("Enter")
            expect(page.locator("#tt-solution-romaji")).to_have_text(word["romaji"])
            expect(page.locator("#tt-solution-kanji")).to_have_text(word["kanji"])
            page.keyboard.press("Enter")
            wrong += 1
        elif way == 1:
            page.keyboard.type(spelled_differently(word["romaji"]))
            page.keyboard.press("Enter")
            right += 1
        elif way == 2:  # giving up
            page.keyboard.press("Escape")
            expect(page.locator("#tt-solution-romaji")).to_have_text(word["romaji"])
            page.get_by_role("button", name="Next word").click()
            wrong += 1
        else:
            answer.fill(word["romaji"])
            page.get_by_role("button", name="Check").click()
            right += 1
        if index + 1 < len(words):
            expect(page.locator("#tt-right")).to_have_text(str(right))
            expect(page.locator("#tt-wrong")).to_have_text(str(wrong))
    return right, wrong


def pick_with_keyboard(page: Page, tile) -> None:
    tile.focus()
    page.keyboard.press("Enter")


def play_kanji_match(page: Page, words: list[dict]) -> tuple[int, int]:
    """Every board; each third kanji is first paired wrongly (a miss), then rightly.

    Pairs are picked with the keyboard on even boards and by clicking on odd ones.
    """
    by_kanji = {word["kanji"]: word for word in words}
    position = page.locator("#km-position")
    # The markup says "Board 1 of 1" until the words are dealt and the board is shown.
    expect(page.locator("#km-play")).to_be_visible()
    expect(position).to_have_text(re.compile(r"^Board 1 of \d+$"))
    boards = int(position.inner_text().rsplit(" ", 1)[1])
    assert boards >= -(-len(words) // 6)
    expect(page.locator("#km-clock")).to_have_text(re.compile(r"^0:0[0-9]$"))
    right = wrong = handled = 0
    for board in range(boards):
        expect(position).to_have_text(f"Board {board + 1} of {boards}")
        use_keys = board % 2 == 0
        pick = (lambda tile: pick_with_keyboard(page, tile)) if use_keys else (lambda t: t.click())
        kanji_tiles = page.locator("#km-kanji-tiles .tile")
        for kanji in kanji_tiles.all_inner_texts():
            word = by_kanji[kanji]
            answers = page.locator("#km-answer-tiles .tile:not([disabled])")
            texts = answers.all_inner_texts()
            partner = next(i for i, t in enumerate(texts) if t in (word["romaji"], word["english"]))
            kanji_tile = kanji_tiles.filter(has_text=re.compile(f"^{re.escape(kanji)}$"))
            if handled % 3 == 0 and len(texts) > 1:
                decoy = (partner + 1) % len(texts)
                pick(kanji_tile)
                pick(answers.nth(decoy))
                expect(page.locator("#km-status")).to_have_text(
                    f"Not a pair: {kanji} is not “{texts[decoy]}”."
                )
                wrong += 1
            else:
                right += 1
            pick(kanji_tile)
            expect(kanji_tile).to_have_attribute("aria-pressed", "true")
            pick(answers.nth(partner))
            handled += 1
            if handled < len(words):
                expect(page.locator("#km-right")).to_have_text(str(right))
                expect(page.locator("#km-wrong")).to_have_text(str(wrong))
    assert handled == len(words)
    return right, wrong


def play_review(page: Page, words: list[dict]) -> tuple[int, int]:
    """Every card (all new on a fresh database, so the new count drops with each); each
    third one Again, the others Hard, Good or Easy in turn. Keys 1 to 4 for most cards,
    the on-screen buttons for every fifth."""
    names = ["hard", "good", "easy"]
    keys = {"again": "1", "hard": "2", "good": "3", "easy": "4"}
    right = wrong = 0
    for index in range(len(words)):
        expect(page.locator("#rv-position")).to_have_text(f"Card {index + 1} of {len(words)}")
        expect(page.locator("#rv-new")).to_have_text(str(len(words) - index))
        expect(page.locator("#rv-due")).to_have_text("0")
        rating = "again" if index % 3 == 0 else names[index % len(names)]
        if index % 5 == 4:
            page.get_by_role("button", name="Show answer").click()
            expect(page.locator("#rv-meaning")).to_be_visible()
            page.locator(f"#rv-rate-{rating}").click()
        else:
            page.keyboard.press("Space")
            expect(page.locator("#rv-meaning")).to_be_visible()
            page.keyboard.press(keys[rating])
        right += rating != "again"
        wrong += rating == "again"
    return right, wrong


PLAYERS: dict[str, Callable[[Page, list[dict]], tuple[int, int]]] = {
    "Flashcards": play_flashcards,
    "Typing Tutor": play_typing_tutor,
    "Kanji Match": play_kanji_match,
    "Review": play_review,
}
# A Review round is the group's due queue: on a fresh database, its new words, as many as
# the daily allowance. An allowance above the group's size makes the round every word,
# like the other activities' rounds.
EVERY_WORD_IS_NEW_TODAY = {"NEW_WORDS_PER_DAY": 100}


def check_links_follow_the_request(page: Page, portal: Portal) -> None:
    """The API's links are on the origin the request used, and every preview loads."""
    listed = requests.get(f"{portal.url}/api/study-activities", timeout=10).json()
    assert [(item["title"], item["launch_url"], item["preview_url"]) for item in listed] == [
        (seeded["name"], portal.url + seeded["url"], portal.url + seeded["preview_url"])
        for seeded in SEEDED_ACTIVITIES
    ]
    page.goto(portal.url + "/portal/study-activities")
    images = page.eval_on_selector_all(
        "img", "images => images.map(i => [i.currentSrc, i.complete && i.naturalWidth > 0])"
    )
    assert images == [[portal.url + seeded["preview_url"], True] for seeded in SEEDED_ACTIVITIES]


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("activity", SEEDED_ACTIVITIES, ids=lambda activity: activity["name"])
def test_an_activity_started_from_the_group_page_records_one_full_round(
    page: Page, start_portal, page_errors: BrowserErrors, host: str, activity: dict
):
    portal = start_portal(host=host, public_url=False, **EVERY_WORD_IS_NEW_TODAY)
    words = group_words(portal)
    check_links_follow_the_request(page, portal)

    # Start it from the group page: a session is created, then the activity opens.
    page.goto(f"{portal.url}/portal/groups/{GROUP_ID}")
    page.get_by_role("button", name=f"Start {activity['name']}").click()
    page.wait_for_url(re.compile(re.escape(activity["url"]) + r"\?"))
    assert page.url.startswith(portal.url + activity["url"] + "?")
    query = parse_qs(urlparse(page.url).query)
    assert query["group_id"] == [str(GROUP_ID)]
    study_session_id = int(query["session_id"][0])

    # One full round, some answers right and some wrong.
    right, wrong = PLAYERS[activity["name"]](page, words)
    total = len(words)
    assert right and wrong and right + wrong == total
    expect(page.get_by_role("heading", name="Session complete")).to_be_visible()
    summary = page.locator("[id$=-summary]")
    expect(summary.locator("[id$=-summary-right]")).to_have_text(str(right))
    expect(summary.locator("[id$=-summary-wrong]")).to_have_text(str(wrong))
    expect(summary.locator("[id$=-summary-total]")).to_have_text(str(total))
    expect(page.locator("[id$=-save-text]")).to_have_text(f"All {total} answers are saved.")

    # The API and the database hold exactly those reviews, one per word.
    recorded = requests.get(
        f"{portal.url}/api/study-sessions/{study_session_id}?per_page=100", timeout=10
    ).json()
    assert recorded["session"]["review_items_count"] == total
    assert recorded["session"]["activity_name"] == activity["name"]
    assert recorded["total"] == total
    assert sum(word["correct_count"] for word in recorded["words"]) == right
    assert sum(word["wrong_count"] for word in recorded["words"]) == wrong
    assert_session_stored(portal, study_session_id, total, right)

    # The summary leads back to the session page, which shows the same counts.
    page.get_by_role("link", name="See this session").click()
    expect(page).to_have_url(f"{portal.url}/portal/sessions/{study_session_id}")
    expect(page.locator("#session-correct")).to_have_text(str(right))
    expect(page.locator("#session-wrong")).to_have_text(str(wrong))
    assert page_errors.failed_requests == []
    assert page_errors.unexpected() == []


@pytest.mark.parametrize(
    "activity",
    [seeded for seeded in SEEDED_ACTIVITIES if seeded["name"] != "Flashcards"],
    ids=lambda activity: activity["name"],
)
def test_the_new_activities_fit_a_phone_and_play_by_touch(
    phone_page: Page, start_portal, page_errors: BrowserErrors, activity: dict
):
    page = phone_page
    portal = start_portal(public_url=False, **EVERY_WORD_IS_NEW_TODAY)
    words = group_words(portal)
    page.goto(f"{portal.url}/portal/groups/{GROUP_ID}")
    page.get_by_role("button", name=f"Start {activity['name']}").click()
    page.wait_for_url(re.compile(re.escape(activity["url"]) + r"\?"))
    study_session_id = int(parse_qs(urlparse(page.url).query)["session_id"][0])
    expect(page.locator("[id$=-position]")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    ARTIFACTS.mkdir(exist_ok=True)
    name = activity["url"].strip("/").replace("/", "-")
    page.screenshot(path=str(ARTIFACTS / f"phone-{name}.png"), full_page=True)
    right, wrong = PLAYERS[activity["name"]](page, words)
    expect(page.get_by_role("heading", name="Session complete")).to_be_visible()
    expect(page.locator("[id$=-summary-wrong]")).to_have_text(str(wrong))
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert session_reviews(portal, study_session_id) == (len(words), right, len(words))
    assert page_errors.failed_requests == []
    assert page_errors.unexpected() == []


@pytest.mark.parametrize("activity", SEEDED_ACTIVITIES, ids=lambda activity: activity["name"])
def test_an_activity_opened_without_the_portal_says_how_to_start_it(
    page: Page, portal: Portal, activity: dict
):
    page.goto(portal.url + activity["url"])
    expect(page.get_by_text(f"Start {activity['name']} from the portal")).to_be_visible()
    page.goto(f"{portal.url}{activity['url']}?group_id={GROUP_ID}&session_id=999999")
    expect(page.get_by_text("This session or group does not exist")).to_be_visible()
