"""The spaced-repetition parts of the portal: the Review entry in the navigation, the
Review page, the Review activity's shell and the dashboard's due figures and forecast.

Cards are made due the way an activity that queues answers offline makes them: a
session that started two days ago (its start moved back in the database, since the API
starts sessions now) receives reviews answered then, through the API, with their
``reviewed_at``. FSRS then schedules each card from that time: a new word answered
again, hard or good is due minutes later, so it is due now; one answered easy is due
about a week later, so it is in the forecast.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, update

from lang_portal import scheduling, schema
from lang_portal.pages.review import review_all_target
from tests.conftest import make_app
from tests.pages.html import PAGES, get_page

FOOD = 3  # Food and Drink
FAMILY = 5  # Family and People
REVIEW_ACTIVITY_ID = 4  # the fourth seeded activity
TWO_DAYS_AGO = timedelta(days=2)


def group_word_ids(client, group_id: int) -> list[int]:
    return [w["id"] for w in client.get(f"/api/groups/{group_id}/words/raw").get_json()["words"]]


def start_session(client, engine, group_id: int, started_ago: timedelta = timedelta()) -> int:
    """A Review session of the group, through the API, its start moved ``started_ago``
    back in the database."""
    created = client.post(
        "/api/study-sessions", json={"group_id": group_id, "study_activity_id": REVIEW_ACTIVITY_ID}
    )
    assert created.status_code == 201
    study_session_id = created.get_json()["id"]
    if started_ago:
        with engine.begin() as connection:
            connection.execute(
                update(schema.study_sessions)
                .where(schema.study_sessions.c.id == study_session_id)
                .values(created_at=datetime.now(UTC) - started_ago - timedelta(minutes=1))
            )
    return study_session_id


def review(
    client, engine, group_id: int, ratings: dict[int, str], ago: timedelta = timedelta()
) -> list[dict]:
    """Answer these words of the group with these ratings, ``ago`` in the past, in one
    session; the cards the API answers with."""
    study_session_id = start_session(client, engine, group_id, ago)
    answered_at = (datetime.now(UTC) - ago).isoformat()
    reviews = [
        {"word_id": word_id, "rating": rating, "reviewed_at": answered_at}
        for word_id, rating in ratings.items()
    ]
    response = client.post(
        f"/api/study-sessions/{study_session_id}/review", json={"reviews": reviews}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["cards"]


@pytest.fixture
def food_history(client, engine) -> dict[int, dict]:
    """Six Food and Drink words answered two days ago: four due now, two (easy) due in
    about six days. Returns each word's card, as the API answered, by word id."""
    words = group_word_ids(client, FOOD)
    ratings = ["good", "again", "hard", "good", "easy", "easy"]
    cards = review(client, engine, FOOD, dict(zip(words, ratings, strict=False)), TWO_DAYS_AGO)
    now = datetime.now(UTC)
    assert sum(datetime.fromisoformat(card["due"]) <= now for card in cards) == 4
    return {card["word_id"]: card for card in cards}


def due_queue(client, group_id: int | None = None) -> dict:
    query = f"?group_id={group_id}&limit=1" if group_id else "?limit=1"
    response = client.get("/api/study/due" + query)
    assert response.status_code == 200
    return response.get_json()


# -- the navigation ------------------------------------------------------------------


def test_the_review_entry_shows_nothing_due_on_a_fresh_database(client):
    page, text = get_page(client, "/portal/words")
    assert page.text("nav-due-now") == "0"
    assert "Review 0 due now" in text


@pytest.mark.parametrize("path", [p for p in PAGES if not p.startswith("/activities/")])
def test_every_page_shows_the_cards_due_now_in_the_navigation(client, engine, food_history, path):
    page, _ = get_page(client, path)
    assert page.text("nav-due-now") == "4"
    assert client.get("/api/dashboard/stats").get_json()["due_now"] == 4


def test_error_pages_read_no_due_count(client, food_history):
    page, _ = get_page(client, "/portal/no-such-page", status=404)
    assert "nav-due-now" not in page.ids


# -- the Review page -----------------------------------------------------------------


def launch_form_of(html: str, element_id: str) -> dict[str, str]:
    """The launch URL and hidden fields of the launch form inside the element."""
    start = html.index(f'id="{element_id}"')
    form = html[start : html.index("</form>", start)]
    fields = dict(re.findall(r'name="(\w+)" value="(\d+)"', form))
    return {"launch_url": re.search(r'data-launch-url="([^"]+)"', form)[1], **fields}


def test_the_review_page_lists_due_and_new_words_per_group(client, food_history):
    html = client.get("/portal/review").get_data(as_text=True)
    page, _ = get_page(client, "/portal/review")
    overall = due_queue(client)
    assert page.text("review-due-now") == "4" == str(overall["due_count"])
    assert page.text("review-new") == "20" == str(overall["new_count"])
    # The easy cards are due in about six days; nothing else is scheduled after now.
    next_due = datetime.fromisoformat(overall["next_due_at"])
    assert page.text("review-next-due") == next_due.strftime("%Y-%m-%d %H:%M UTC")

    # Food and Drink: four due, and 20 of its 30 unseen words allowed today.
    assert re.search(rf'id="review-group-{FOOD}".*?data-due="4".*?data-new="20"', html, re.S)
    for group in client.get("/api/groups?per_page=50").get_json()["groups"]:
        expected = due_queue(client, group["id"])
        row = re.search(
            rf'id="review-group-{group["id"]}".*?data-due="(\d+)".*?data-new="(\d+)"', html, re.S
        )
        assert (int(row[1]), int(row[2])) == (expected["due_count"], expected["new_count"])
        assert f'Review<span class="visually-hidden"> {group["group_name"]}</span>' in html

    # Review all starts a Review session of the group with the most due words.
    assert page.text("review-all-group") == "Food and Drink"
    assert page.text("review-all-text") == "Starts with Food and Drink: 4 due now, 20 new."
    assert launch_form_of(html, "review-all") == {
        "launch_url": "http://localhost/activities/review/",
        "study_activity_id": str(REVIEW_ACTIVITY_ID),
        "group_id": str(FOOD),
    }
    assert launch_form_of(html, f"review-group-{FAMILY}")["group_id"] == str(FAMILY)


def test_review_all_breaks_a_tie_by_the_lowest_group_id(client, engine):
    family = group_word_ids(client, FAMILY)[:2]
    food = group_word_ids(client, FOOD)[:2]
    review(client, engine, FAMILY, dict.fromkeys(family, "good"), TWO_DAYS_AGO)
    review(client, engine, FOOD, dict.fromkeys(food, "again"), TWO_DAYS_AGO)
    html = client.get("/portal/review").get_data(as_text=True)
    assert launch_form_of(html, "review-all")["group_id"] == str(FOOD)
    page, _ = get_page(client, "/portal/review")
    assert page.text("review-due-now") == "4"


def test_with_nothing_due_and_no_new_words_the_page_says_when_the_next_card_is(database_url):
    app = make_app(database_url, NEW_WORDS_PER_DAY=0)
    client = app.test_client()
    engine = app.extensions["lang_portal.engine"]
    try:
        _, text = get_page(client, "/portal/review")
        assert "Nothing to review right now." in text
        assert "No card is scheduled and no new words are left for today." in text

        [card] = review(client, engine, FOOD, {group_word_ids(client, FOOD)[0]: "good"})
        page, text = get_page(client, "/portal/review")
        due = datetime.fromisoformat(card["due"])  # ten minutes from now
        assert page.text("review-nothing") == (
            f"The next card is due at {due.strftime('%Y-%m-%d %H:%M UTC')}."
        )
        assert "review-all" not in page.ids and "data-launch" not in client.get(
            "/portal/review"
        ).get_data(as_text=True)
        assert page.text("nav-due-now") == "0"
    finally:
        engine.dispose()


def test_a_database_without_the_review_activity_says_how_to_add_it(client, engine):
    with engine.begin() as connection:
        connection.execute(
            delete(schema.study_activities).where(
                schema.study_activities.c.id == REVIEW_ACTIVITY_ID
            )
        )
    html = client.get("/portal/review").get_data(as_text=True)
    _, text = get_page(client, "/portal/review")
    assert "The Review activity is not in this database yet. Run lang-portal init-db" in text
    assert "data-launch" not in html


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ([], None),
        ([(1, 0, 0), (2, 0, 0)], None),
        ([(1, 3, 20), (2, 5, 0), (3, 5, 20)], 2),  # the most due; on a tie, the lowest id
        ([(4, 2, 0), (2, 2, 0)], 2),  # the lowest id, whatever the order given
        ([(1, 0, 0), (2, 0, 7), (3, 0, 20)], 2),  # nothing due: the first with new words
    ],
)
def test_review_all_target(groups, expected):
    rows = [{"group_id": g, "due_count": d, "new_count": n} for g, d, n in groups]
    target = review_all_target(rows)
    assert (target and target["group_id"]) == expected


# -- the Review activity's page ----------------------------------------------------------


def test_the_review_activity_has_a_button_and_a_key_per_rating(client):
    page, _ = get_page(client, "/activities/review/")
    for rating, key in scheduling.RATINGS.items():
        assert f"rv-rate-{rating}" in page.ids and f"rv-interval-{rating}" in page.ids
        assert f"{key} {rating.capitalize()}" in page.text("rv-deck")
    assert [s["src"] for s in page.scripts][-2:] == [
        "/static/js/intervals.js",
        "/static/js/review.js",
    ]


# -- the dashboard -------------------------------------------------------------------


def test_the_dashboard_shows_what_is_due_and_the_forecast(client, engine, food_history):
    # Today the two easy cards (in the review state) come back: one remembered, one not.
    easy = [word_id for word_id, card in food_history.items() if card["state"] == "review"]
    cards = {**food_history}
    for card in review(client, engine, FOOD, {easy[0]: "good", easy[1]: "again"}):
        cards[card["word_id"]] = card
    # What the cards say, counted here: due now, due before midnight UTC, per day ahead.
    now = datetime.now(UTC)
    today = now.date()
    dues = [datetime.fromisoformat(card["due"]) for card in cards.values()]
    per_day = [
        sum(max(due.date(), today) == today + timedelta(days=n) for due in dues) for n in range(14)
    ]
    due_now = sum(due <= now for due in dues)
    assert due_now == 4 and per_day[0] >= 4

    page, text = get_page(client, "/")
    assert page.text("stat-due-now") == "4"
    assert page.text("stat-due-today") == str(per_day[0])  # the again card is due at once
    assert page.text("stat-mature") == "0"
    assert page.text("stat-retention") == "50%"  # of the two answers in the review state
    assert "Review the 4 words due now" in text
    assert page.text("nav-due-now") == "4"

    html = client.get("/").get_data(as_text=True)
    shown = re.findall(r'data-day="([\d-]+)" data-due="(\d+)"', html)
    assert shown == [
        ((today + timedelta(days=n)).isoformat(), str(due)) for n, due in enumerate(per_day)
    ]
    assert f"{sum(per_day)} cards due, {per_day[0]} of them today." in text
    api = client.get("/api/dashboard/forecast?days=14").get_json()["days"]
    assert [(day["day"], str(day["due"])) for day in api] == shown


def test_a_fresh_dashboard_has_nothing_due(client):
    page, text = get_page(client, "/")
    assert page.text("stat-due-now") == "0" and page.text("stat-due-today") == "0"
    assert page.text("stat-retention") == "–"
    assert "Nothing due in these days" in text
    assert "Review the" not in text
    html = client.get("/").get_data(as_text=True)
    assert re.findall(r'data-day="[\d-]+" data-due="(\d+)"', html) == ["0"] * 14
