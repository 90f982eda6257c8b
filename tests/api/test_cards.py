"""Spaced repetition through the API: ratings, cards, the due queue, the forecast.

Every expected card is computed here with the ``fsrs`` package called directly, never
typed in by hand: lang-portal must schedule exactly as fsrs does (fuzz off).
Determinism over random batch splits, concurrency and the recount after random writes
are in tests/test_card_determinism.py, tests/test_learner_concurrency.py and
tests/test_counters.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import fsrs
import pytest
from sqlalchemy import select, update

from lang_portal import schema
from lang_portal.queries import dashboard as dashboard_queries
from lang_portal.queries.learners import DEFAULT_LEARNER_ID
from tests.support import assert_problem, snapshot

RATING = {"again": 1, "hard": 2, "good": 3, "easy": 4}
SCHEDULER = fsrs.Scheduler(desired_retention=0.9, enable_fuzzing=False)
NEW_WORDS_PER_DAY = 20


def start(client, group_id: int = 1, days_ago: float = 0, engine=None) -> int:
    """A session of ``group_id``; with ``days_ago``, its start moved back in the database,
    so that reviews may be dated as far back."""
    response = client.post(
        "/api/study-sessions", json={"group_id": group_id, "study_activity_id": 1}
    )
    assert response.status_code == 201
    study_session_id = response.get_json()["id"]
    if days_ago:
        started = datetime.now(UTC) - timedelta(days=days_ago)
        with engine.begin() as connection:
            connection.execute(
                update(schema.study_sessions)
                .where(schema.study_sessions.c.id == study_session_id)
                .values(created_at=started)
            )
    return study_session_id


def post_batch(client, study_session_id: int, reviews: list[dict[str, Any]]) -> Any:
    return client.post(f"/api/study-sessions/{study_session_id}/review", json={"reviews": reviews})


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def fsrs_card(answers: list[tuple[str, datetime]]) -> tuple[fsrs.Card, int, int]:
    """The card fsrs itself gives for these (rating, time) answers, in order, with the
    reps and lapses lang-portal counts."""
    card = fsrs.Card(card_id=1, due=answers[0][1])
    lapses = 0
    for rating, moment in answers:
        if card.state == fsrs.State.Review and rating == "again":
            lapses += 1
        card, _ = SCHEDULER.review_card(card, fsrs.Rating(RATING[rating]), moment)
    return card, len(answers), lapses


def assert_card_is(body: dict[str, Any], expected: tuple[fsrs.Card, int, int]) -> None:
    card, reps, lapses = expected
    assert body["state"] == card.state.name.lower()
    assert datetime.fromisoformat(body["due"]) == card.due
    assert body["stability"] == card.stability
    assert body["difficulty"] == card.difficulty
    assert datetime.fromisoformat(body["last_review_at"]) == card.last_review
    assert (body["reps"], body["lapses"]) == (reps, lapses)
    assert 0 <= body["retrievability"] <= 1


def stored_card(engine, word_id: int) -> Any:
    with engine.connect() as connection:
        return connection.execute(
            select(schema.word_progress).where(
                schema.word_progress.c.learner_id == DEFAULT_LEARNER_ID,
                schema.word_progress.c.word_id == word_id,
            )
        ).one_or_none()


# A known sequence on a new card, days apart, through every state (the again on day 12
# is a lapse of a card in review).
SEQUENCE = [
    ("good", 0),
    ("again", 0.01),
    ("good", 0.02),
    ("good", 1),
    ("easy", 4),
    ("again", 12),
    ("hard", 12.01),
    ("good", 13),
]


class TestScheduling:
    def test_a_known_sequence_one_review_at_a_time_matches_fsrs(self, client, engine):
        first = datetime.now(UTC) - timedelta(days=20)
        study_session_id = start(client, days_ago=21, engine=engine)
        answers = [(rating, first + timedelta(days=day)) for rating, day in SEQUENCE]
        for count in range(1, len(answers) + 1):
            rating, moment = answers[count - 1]
            response = client.post(
                f"/api/study-sessions/{study_session_id}/words/5/review",
                json={"rating": rating, "reviewed_at": stamp(moment), "duration_ms": 2500},
            )
            assert response.status_code == 201, response.get_json()
            body = response.get_json()
            assert (body["rating"], body["correct"]) == (rating, rating != "again")
            assert datetime.fromisoformat(body["reviewed_at"]) == moment
            assert body["duration_ms"] == 2500
            expected = fsrs_card(answers[:count])
            assert_card_is(body["card"], expected)
        # The stored card is the one answered; the word's detail shows it too.
        row = stored_card(engine, 5)
        card, reps, lapses = expected
        assert (row.stability, row.difficulty, row.due, row.reps, row.lapses) == (
            card.stability,
            card.difficulty,
            card.due,
            reps,
            lapses,
        )
        assert lapses == 1
        assert row.first_reviewed_at == answers[0][1]
        assert_card_is(client.get("/api/words/5").get_json()["word"]["card"], expected)

    def test_the_same_sequence_in_one_batch_gives_the_same_card(self, client, engine):
        first = datetime.now(UTC) - timedelta(days=20)
        study_session_id = start(client, days_ago=21, engine=engine)
        answers = [(rating, first + timedelta(days=day)) for rating, day in SEQUENCE]
        # Sent newest first: the card takes them in reviewed_at order all the same.
        reviews = [
            {"word_id": 5, "rating": RATING[r], "reviewed_at": stamp(m)} for r, m in answers
        ][::-1]
        response = post_batch(client, study_session_id, reviews)
        assert response.status_code == 201
        (card,) = response.get_json()["cards"]
        assert card["word_id"] == 5
        assert_card_is(card, fsrs_card(answers))

    def test_a_late_review_replays_the_log(self, client, engine):
        """An offline device syncs a review older than the card's last one: the card
        becomes what the log gives in reviewed_at order, not the late one appended."""
        first = datetime.now(UTC) - timedelta(days=10)
        study_session_id = start(client, days_ago=11, engine=engine)
        on_time = [("good", first), ("good", first + timedelta(days=3))]
        late = ("again", first + timedelta(days=1))
        for rating, moment in on_time:
            body = {"reviews": [{"word_id": 7, "rating": rating, "reviewed_at": stamp(moment)}]}
            assert post_batch(client, study_session_id, body["reviews"]).status_code == 201
        response = post_batch(
            client,
            study_session_id,
            [{"word_id": 7, "rating": late[0], "reviewed_at": stamp(late[1])}],
        )
        assert response.status_code == 201
        in_order = sorted([*on_time, late], key=lambda answer: answer[1])
        assert_card_is(response.get_json()["cards"][0], fsrs_card(in_order))
        appended, _, _ = fsrs_card([*on_time, ("again", on_time[-1][1])])
        assert response.get_json()["cards"][0]["stability"] != appended.stability

    def test_right_and_wrong_answers_are_good_and_again(self, client, engine):
        study_session_id = start(client)
        response = post_batch(
            client,
            study_session_id,
            [{"word_id": 3, "is_correct": True}, {"word_id": 4, "correct": False}],
        )
        with engine.connect() as connection:
            rows = connection.execute(
                select(schema.word_review_items).order_by(schema.word_review_items.c.id)
            ).all()
        assert [(row.word_id, row.rating) for row in rows] == [(3, 3), (4, 1)]
        cards = {card["word_id"]: card for card in response.get_json()["cards"]}
        assert_card_is(cards[3], fsrs_card([("good", rows[0].reviewed_at)]))
        assert_card_is(cards[4], fsrs_card([("again", rows[1].reviewed_at)]))

    def test_reset_deletes_the_cards(self, client, engine):
        study_session_id = start(client)
        post_batch(client, study_session_id, [{"word_id": 2, "rating": "easy"}])
        assert stored_card(engine, 2) is not None
        assert client.post("/api/study-sessions/reset", json={}).status_code == 200
        assert stored_card(engine, 2) is None
        assert client.get("/api/words/2").get_json()["word"]["card"] is None
        assert client.get("/api/study/due").get_json()["due_count"] == 0


def _now_plus(seconds: float) -> str:
    return stamp(datetime.now(UTC) + timedelta(seconds=seconds))


class TestValidation:
    @pytest.mark.parametrize(
        ("review", "pointer"),
        [
            ({"word_id": 1, "rating": "again", "is_correct": True}, "#/reviews/0"),
            ({"word_id": 1, "rating": "good", "correct": False}, "#/reviews/0"),
            ({"word_id": 1, "rating": 4, "is_correct": False}, "#/reviews/0"),
            ({"word_id": 1, "rating": 0}, "#/reviews/0/rating"),
            ({"word_id": 1, "rating": 5}, "#/reviews/0/rating"),
            ({"word_id": 1, "rating": "Good"}, "#/reviews/0/rating"),
            ({"word_id": 1, "rating": "3"}, "#/reviews/0/rating"),
            ({"word_id": 1, "rating": True}, "#/reviews/0/rating"),
            ({"word_id": 1, "rating": 2.0}, "#/reviews/0/rating"),
            ({"word_id": 1, "rating": None}, "#/reviews/0/rating"),
            ({"word_id": 1, "rating": "good", "duration_ms": -1}, "#/reviews/0/duration_ms"),
            ({"word_id": 1, "rating": "good", "duration_ms": 3_600_001}, "#/reviews/0/duration_ms"),
            ({"word_id": 1, "rating": "good", "duration_ms": 1.5}, "#/reviews/0/duration_ms"),
            ({"word_id": 1, "rating": "good", "duration_ms": "100"}, "#/reviews/0/duration_ms"),
            (
                {"word_id": 1, "rating": "good", "reviewed_at": "yesterday"},
                "#/reviews/0/reviewed_at",
            ),
            (
                {"word_id": 1, "rating": "good", "reviewed_at": "2026-01-31T09:30:00"},
                "#/reviews/0/reviewed_at",
            ),  # no offset
            (
                {"word_id": 1, "rating": "good", "reviewed_at": "2026-01-31"},
                "#/reviews/0/reviewed_at",
            ),
            (
                {"word_id": 1, "rating": "good", "reviewed_at": "2026-02-30T09:30:00Z"},
                "#/reviews/0/reviewed_at",
            ),
            (
                {"word_id": 1, "rating": "good", "reviewed_at": 1767225600},
                "#/reviews/0/reviewed_at",
            ),
            # Times UTC cannot hold (it used to be a 500 when they were stored).
            (
                {"word_id": 1, "rating": "good", "reviewed_at": "0001-01-01T00:00:00+05:00"},
                "#/reviews/0/reviewed_at",
            ),
            (
                {"word_id": 1, "rating": "good", "reviewed_at": "9999-12-31T23:59:59-05:00"},
                "#/reviews/0/reviewed_at",
            ),
            # Before the session started (it started a moment ago).
            (
                {"word_id": 1, "rating": "good", "reviewed_at": "2020-01-01T00:00:00Z"},
                "#/reviews/0/reviewed_at",
            ),
            (
                {"word_id": 1, "rating": "good", "reviewed_at": _now_plus(3600)},
                "#/reviews/0/reviewed_at",
            ),
        ],
        ids=lambda value: json.dumps(value) if isinstance(value, dict) else None,
    )
    def test_a_bad_review_is_400_and_writes_nothing(self, client, engine, review, pointer):
        study_session_id = start(client)
        post_batch(client, study_session_id, [{"word_id": 2, "rating": "good"}])
        before = snapshot(engine)
        response = post_batch(client, study_session_id, [{"word_id": 3, "rating": "hard"}, review])
        body = assert_problem(response, 400)
        pointer = pointer.replace("/reviews/0", "/reviews/1")
        assert body["errors"][0]["pointer"] == pointer
        assert snapshot(engine) == before

    @pytest.mark.parametrize(
        ("answer", "pointer"),
        [
            ({"rating": "again", "correct": True}, "#/"),
            ({"rating": "easy", "reviewed_at": "2020-01-01T00:00:00+09:00"}, "#/reviewed_at"),
            ({"rating": "easy", "reviewed_at": _now_plus(600)}, "#/reviewed_at"),
            ({"correct": True, "duration_ms": 3_600_001}, "#/duration_ms"),
        ],
    )
    def test_the_single_review_route_has_the_same_rules(self, client, engine, answer, pointer):
        study_session_id = start(client)
        before = snapshot(engine)
        response = client.post(
            f"/api/study-sessions/{study_session_id}/words/1/review", json=answer
        )
        assert assert_problem(response, 400)["errors"][0]["pointer"] == pointer
        assert snapshot(engine) == before

    def test_a_time_within_the_leeway_and_any_offset_are_accepted(self, client, engine):
        study_session_id = start(client)
        ahead = datetime.now(UTC) + timedelta(seconds=30)
        in_tokyo = ahead.astimezone(datetime.now().astimezone().tzinfo).isoformat()
        response = post_batch(
            client,
            study_session_id,
            [
                {"word_id": 1, "rating": 3, "reviewed_at": in_tokyo, "duration_ms": 0},
                {"word_id": 2, "correct": True, "rating": "hard", "duration_ms": 3_600_000},
            ],
        )
        assert response.status_code == 201
        with engine.connect() as connection:
            rows = connection.execute(
                select(schema.word_review_items).order_by(schema.word_review_items.c.id)
            ).all()
        assert rows[0].reviewed_at == ahead
        assert [(row.rating, row.duration_ms) for row in rows] == [(3, 0), (2, 3_600_000)]


@pytest.fixture
def clock(monkeypatch):
    """Set the clock of the reads: ``clock(datetime)``."""

    def set_now(now: datetime) -> None:
        monkeypatch.setattr(dashboard_queries, "utc_now", lambda: now)

    return set_now


def group_words(engine, group_id: int) -> list[int]:
    with engine.connect() as connection:
        return sorted(
            connection.execute(
                select(schema.word_groups.c.word_id).where(
                    schema.word_groups.c.group_id == group_id
                )
            ).scalars()
        )


class TestDueQueue:
    def test_due_cards_most_overdue_first_then_new_words_by_id(self, client, engine):
        words = group_words(engine, 1)
        study_session_id = start(client, 1, days_ago=30, engine=engine)
        base = datetime.now(UTC) - timedelta(days=29)
        # Three cards reviewed once (good: due in 10 minutes), at different times.
        for word_id, days in ((words[4], 0), (words[2], 2), (words[6], 1)):
            post_batch(
                client,
                study_session_id,
                [
                    {
                        "word_id": word_id,
                        "rating": "good",
                        "reviewed_at": stamp(base + timedelta(days=days)),
                    }
                ],
            )
        body = client.get("/api/study/due?group_id=1&limit=100").get_json()
        ids = [item["word"]["id"] for item in body["items"]]
        assert ids[:3] == [words[4], words[6], words[2]]  # by due: the oldest review first
        unseen = [word for word in words if word not in (words[2], words[4], words[6])]
        assert ids[3:] == unseen[:NEW_WORDS_PER_DAY]  # first seen days ago: none today
        assert [item["card"] is None for item in body["items"]] == [False] * 3 + [True] * (
            len(ids) - 3
        )
        assert body["due_count"] == 3
        assert body["new_count"] == min(NEW_WORDS_PER_DAY, len(unseen))
        assert body["next_due_at"] is None
        assert set(body["items"][0]["word"]) == {"id", "kanji", "romaji", "english", "parts"}

    def test_intervals_are_what_each_rating_would_give_now(self, client, engine, clock):
        study_session_id = start(client, 1)
        post_batch(
            client, study_session_id, [{"word_id": group_words(engine, 1)[0], "rating": "good"}]
        )
        row = stored_card(engine, group_words(engine, 1)[0])
        now = row.due + timedelta(minutes=1)  # the card is due
        clock(now)
        body = client.get("/api/study/due?group_id=1&limit=2").get_json()
        card_item, new_item = body["items"]
        current = fsrs.Card(
            card_id=1,
            state=fsrs.State(row.state),
            step=row.step,
            stability=row.stability,
            difficulty=row.difficulty,
            due=row.due,
            last_review=row.last_review_at,
        )
        for item, card in ((card_item, current), (new_item, fsrs.Card(card_id=2, due=now))):
            expected = {
                name: SCHEDULER.review_card(card, fsrs.Rating(number), now)[0].due
                for name, number in RATING.items()
            }
            got = {name: datetime.fromisoformat(due) for name, due in item["intervals"].items()}
            assert got == expected
        assert new_item["card"] is None
        assert card_item["card"]["retrievability"] == pytest.approx(
            SCHEDULER.get_card_retrievability(current, now)
        )

    def test_next_due_at_and_the_group_scope(self, client, engine):
        first, second = group_words(engine, 1)[0], group_words(engine, 2)[0]
        assert first not in group_words(engine, 2)
        study_session_id = start(client, 1)
        post_batch(client, study_session_id, [{"word_id": first, "rating": "again"}])
        post_batch(client, start(client, 2), [{"word_id": second, "rating": "easy"}])
        first_due, second_due = stored_card(engine, first).due, stored_card(engine, second).due
        everything = client.get("/api/study/due").get_json()
        assert datetime.fromisoformat(everything["next_due_at"]) == min(first_due, second_due)
        in_two = client.get("/api/study/due?group_id=2").get_json()
        assert datetime.fromisoformat(in_two["next_due_at"]) == second_due
        assert all(item["word"]["id"] in group_words(engine, 2) for item in in_two["items"])
        assert second not in [item["word"]["id"] for item in in_two["items"]]

    def test_the_new_word_allowance_is_per_utc_day(self, client, engine, clock):
        """Twenty words first reviewed at 23:59:50 use up that day's allowance, and the
        next UTC day starts a new one."""
        today = datetime.now(UTC).date()
        midnight = datetime(today.year, today.month, today.day, tzinfo=UTC)
        study_session_id = start(client, 1, days_ago=2, engine=engine)
        words = [word for group in (1, 2, 3) for word in group_words(engine, group)]
        words = sorted(set(words))[:NEW_WORDS_PER_DAY]
        late = stamp(midnight - timedelta(seconds=10))
        reviews = [{"word_id": word, "rating": "easy", "reviewed_at": late} for word in words]
        assert post_batch(client, study_session_id, reviews).status_code == 201

        clock(midnight - timedelta(seconds=5))
        before_midnight = client.get("/api/study/due?limit=100").get_json()
        assert before_midnight["new_count"] == 0
        assert before_midnight["items"] == []  # easy: due in days, none due now

        clock(midnight + timedelta(seconds=5))
        after_midnight = client.get("/api/study/due?limit=100").get_json()
        assert after_midnight["new_count"] == NEW_WORDS_PER_DAY
        new_ids = [item["word"]["id"] for item in after_midnight["items"]]
        assert len(new_ids) == NEW_WORDS_PER_DAY and not set(new_ids) & set(words)
        assert new_ids == sorted(new_ids)

    def test_limit_and_unknown_group(self, client):
        assert len(client.get("/api/study/due?limit=3").get_json()["items"]) == 3
        for query in ("limit=0", "limit=101", "limit=x", "group_id=0", "group_id=abc"):
            assert_problem(client.get(f"/api/study/due?{query}"), 400)
        assert_problem(client.get("/api/study/due?group_id=999999"), 400, "#/group_id")


class TestDashboard:
    def test_due_counts_mature_words_retention_and_forecast(self, client, engine, clock):
        study_session_id = start(client, 1, days_ago=60, engine=engine)
        start_at = datetime.now(UTC) - timedelta(days=59)
        words = group_words(engine, 1)[:3]
        plan = {
            # A mature card: easy, then good after long waits.
            words[0]: [("easy", 0), ("good", 15), ("good", 40)],
            # A card in review, then forgotten (a recall review that failed).
            words[1]: [("good", 0), ("good", 0.01), ("again", 30)],
            # A young card.
            words[2]: [("good", 50)],
        }
        reviews = [
            {
                "word_id": word,
                "rating": rating,
                "reviewed_at": stamp(start_at + timedelta(days=day)),
            }
            for word, answers in plan.items()
            for rating, day in answers
        ]
        response = post_batch(client, study_session_id, reviews)
        assert response.status_code == 201
        cards = {
            word: fsrs_card([(r, start_at + timedelta(days=d)) for r, d in answers])[0]
            for word, answers in plan.items()
        }
        now = datetime.now(UTC)
        clock(now)
        stats = client.get("/api/dashboard/stats").get_json()
        tomorrow = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
        assert stats["due_now"] == sum(1 for card in cards.values() if card.due <= now)
        assert stats["due_today"] == sum(1 for card in cards.values() if card.due < tomorrow)
        assert stats["mature_words"] == sum(1 for card in cards.values() if card.stability >= 21)
        assert stats["mature_words"] >= 1
        # Reviews in the last 30 days of cards in the review state: words[0]'s good at
        # day 40 and words[1]'s again at day 30 (29 days ago): one of two recalled.
        assert stats["retention_30d"] == pytest.approx(1 / 2)

        forecast = client.get("/api/dashboard/forecast?days=30").get_json()["days"]
        assert [day["day"] for day in forecast] == [
            (now.date() + timedelta(days=n)).isoformat() for n in range(30)
        ]
        expected = [0] * 30
        for card in cards.values():
            offset = max(0, (card.due.date() - now.date()).days)
            if offset < 30:
                expected[offset] += 1
        assert [day["due"] for day in forecast] == expected
        assert len(client.get("/api/dashboard/forecast").get_json()["days"]) == 14

    @pytest.mark.parametrize("days", ["0", "91", "x", "-1"])
    def test_forecast_days_out_of_range_is_400(self, client, days):
        assert_problem(client.get(f"/api/dashboard/forecast?days={days}"), 400, "#/days")
