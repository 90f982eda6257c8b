"""Many learners writing at once, on SQLite and on PostgreSQL, in the ``accounts`` mode.

32 writers spread over 8 learners (4 each, so every learner's own writes race each
other) start sessions and review in them through a real threaded HTTP server, while a
ninth learner keeps resetting their own history. Afterwards every acknowledged write
is in the database, under the right learner, and every learner's counters equal a
recomputation from their own rows.

Also here: 16 writers reviewing the same few words for one learner, some of their
reviews answered before others already recorded (so that cards replay their logs while
other batches continue them), after which every card equals the replay of its log;
racing requests for one learner name; and racing rotations of one learner's token.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from lang_portal import schema
from tests.accounts import (
    OPERATOR,
    accounts_app,
    assert_counters_match_rows,
    backdate_session,
    bearer,
    recount,
    token_digest,
)

LEARNERS = 8
WRITERS = 32
ROUNDS = 10
RESET_ROUNDS = 20
# Every batch takes its words from this pool: learners share the words, and a learner's
# writers update the same word_progress rows in different orders.
WORDS = list(range(1, 13))
TIMEOUT = 60


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The app in the ``accounts`` mode, with connections enough for every writer."""
    with accounts_app(database_url, DB_POOL_SIZE="20") as application:
        yield application


@dataclass
class Acknowledged:
    """What the server said it stored: the 201s, and every other answer."""

    sessions: dict[int, int] = field(default_factory=dict)  # session id -> learner id
    reviews: Counter[int] = field(default_factory=Counter)  # session id -> reviews
    correct: Counter[int] = field(default_factory=Counter)  # session id -> correct reviews
    words: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refused(self, what: str, response: requests.Response) -> None:
        with self.lock:
            self.unexpected.append(f"{what}: {response.status_code} {response.text[:300]}")


def add_learners(base_url: str, names: list[str]) -> dict[str, tuple[int, str]]:
    """Add learners as the operator; returns name -> (id, token)."""
    added = {}
    for name in names:
        response = requests.post(
            f"{base_url}/api/learners", json={"name": name}, headers=OPERATOR, timeout=TIMEOUT
        )
        assert response.status_code == 201, response.text
        added[name] = (response.json()["id"], response.json()["token"])
    return added


def write(
    base_url: str,
    index: int,
    learner_id: int,
    token: str,
    done: Acknowledged,
    start: threading.Barrier,
) -> None:
    """ROUNDS times: start a session, review a batch in it, and sometimes one more word."""
    rng = random.Random(index)
    with requests.Session() as http:
        http.headers.update(bearer(token))
        start.wait(timeout=TIMEOUT)
        for _ in range(ROUNDS):
            body = {"group_id": rng.randint(1, 7), "study_activity_id": rng.randint(1, 3)}
            created = http.post(f"{base_url}/api/study-sessions", json=body, timeout=TIMEOUT)
            if created.status_code != 201:
                done.refused("create", created)
                continue
            study_session_id = created.json()["id"]
            with done.lock:
                done.sessions[study_session_id] = learner_id
            words = rng.sample(WORDS, rng.randint(1, 4))
            if index % 2:
                words.reverse()
            reviews = [(word, rng.random() < 0.7) for word in words]
            batch = http.post(
                f"{base_url}/api/study-sessions/{study_session_id}/review",
                json={"reviews": [{"word_id": w, "is_correct": c} for w, c in reviews]},
                timeout=TIMEOUT,
            )
            if batch.status_code == 201:
                with done.lock:
                    done.reviews[study_session_id] += len(reviews)
                    done.correct[study_session_id] += sum(c for _, c in reviews)
                    done.words[learner_id].update(words)
            else:
                done.refused("batch", batch)
            if rng.random() < 0.5:
                word = rng.choice(WORDS)
                single = http.post(
                    f"{base_url}/api/study-sessions/{study_session_id}/words/{word}/review",
                    json={"correct": True},
                    timeout=TIMEOUT,
                )
                if single.status_code == 201:
                    with done.lock:
                        done.reviews[study_session_id] += 1
                        done.correct[study_session_id] += 1
                        done.words[learner_id].add(word)
                else:
                    done.refused("single", single)


def reset_repeatedly(
    base_url: str, token: str, done: Acknowledged, start: threading.Barrier
) -> None:
    """Start a session, review in it, reset: over and over, while the others write."""
    with requests.Session() as http:
        http.headers.update(bearer(token))
        start.wait(timeout=TIMEOUT)
        for _ in range(RESET_ROUNDS):
            created = http.post(
                f"{base_url}/api/study-sessions",
                json={"group_id": 1, "study_activity_id": 1},
                timeout=TIMEOUT,
            )
            if created.status_code != 201:
                done.refused("resetter create", created)
                continue
            batch = http.post(
                f"{base_url}/api/study-sessions/{created.json()['id']}/review",
                json={"reviews": [{"word_id": w, "is_correct": True} for w in WORDS[:3]]},
                timeout=TIMEOUT,
            )
            if batch.status_code != 201:
                done.refused("resetter batch", batch)
            reset = http.post(f"{base_url}/api/study-sessions/reset", json={}, timeout=TIMEOUT)
            if reset.status_code != 200:
                done.refused("reset", reset)


@pytest.mark.slow
def test_32_writers_over_8_learners_lose_nothing_and_count_right(live_server, engine):
    learners = add_learners(live_server, [f"Learner {n}" for n in range(LEARNERS)] + ["Resetter"])
    resetter_id, resetter_token = learners.pop("Resetter")
    writers = list(learners.values())
    done = Acknowledged()
    start = threading.Barrier(WRITERS + 1)
    threads = [
        threading.Thread(
            target=write,
            args=(live_server, index, *writers[index % LEARNERS], done, start),
            daemon=True,
        )
        for index in range(WRITERS)
    ]
    threads.append(
        threading.Thread(
            target=reset_repeatedly, args=(live_server, resetter_token, done, start), daemon=True
        )
    )
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)

    assert done.unexpected == []
    assert len(done.sessions) == WRITERS * ROUNDS
    with engine.connect() as connection:
        stored = {
            row.id: row
            for row in connection.execute(
                select(schema.study_sessions).where(
                    schema.study_sessions.c.learner_id != resetter_id
                )
            )
        }
        reviews_per_session = Counter(
            connection.execute(
                select(schema.word_review_items.c.study_session_id).where(
                    schema.word_review_items.c.study_session_id.in_(list(stored))
                )
            ).scalars()
        )
    # Every acknowledged session is stored, under its learner, with exactly the reviews
    # acknowledged in it, and there is no other session.
    assert set(stored) == set(done.sessions)
    for study_session_id, learner_id in done.sessions.items():
        row = stored[study_session_id]
        assert row.learner_id == learner_id
        assert reviews_per_session[study_session_id] == done.reviews[study_session_id]
        assert (row.review_items_count, row.correct_count) == (
            done.reviews[study_session_id],
            done.correct[study_session_id],
        )
    # Every counter of every learner equals a recomputation from their own rows.
    assert_counters_match_rows(engine)
    recomputed = recount(engine)
    for learner_id, _ in writers:
        own_sessions = [s for s, owner in done.sessions.items() if owner == learner_id]
        days = {
            key: value
            for key, value in recomputed["daily_activity"]["recomputed"].items()
            if key[0] == learner_id
        }
        assert sum(value[0] for value in days.values()) == len(own_sessions)
        assert sum(value[1] for value in days.values()) == sum(
            done.reviews[s] for s in own_sessions
        )
    # The API's figures agree, learner by learner.
    listed = requests.get(
        f"{live_server}/api/learners?per_page=100", headers=OPERATOR, timeout=TIMEOUT
    ).json()["items"]
    figures = {item["id"]: (item["total_sessions"], item["words_studied"]) for item in listed}
    for learner_id, token in writers:
        own = sum(1 for owner in done.sessions.values() if owner == learner_id)
        assert figures[learner_id] == (own, len(done.words[learner_id]))
        page = requests.get(
            f"{live_server}/api/study-sessions?per_page=100", headers=bearer(token), timeout=TIMEOUT
        ).json()
        assert page["total"] == own
        assert {item["id"] for item in page["items"]} == {
            s for s, owner in done.sessions.items() if owner == learner_id
        }


CARD_WRITERS = 16
CARD_ROUNDS = 8
CARD_SESSIONS = 4
# Every writer reviews these words, in its own random order, with repeats.
CARD_WORDS = list(range(1, 7))
RATING_NAMES = ["again", "hard", "good", "easy"]


@dataclass
class Reviewed:
    """The reviews the server acknowledged: (session, word, rating), and (session, word,
    rating, reviewed_at) for those sent with a reviewed_at."""

    reviews: Counter[tuple[int, int, int]] = field(default_factory=Counter)
    timed: Counter[tuple[int, int, int, datetime]] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledge(self, study_session_id: int, items: list[dict]) -> None:
        with self.lock:
            for item in items:
                rating = item["rating"]
                number = RATING_NAMES.index(rating) + 1 if isinstance(rating, str) else rating
                self.reviews[study_session_id, item["word_id"], number] += 1
                if "reviewed_at" in item:
                    answered = datetime.fromisoformat(item["reviewed_at"])
                    self.timed[study_session_id, item["word_id"], number, answered] += 1

    def refused(self, what: str, response: requests.Response) -> None:
        with self.lock:
            self.unexpected.append(f"{what}: {response.status_code} {response.text[:300]}")


def review_the_same_words(
    base_url: str,
    index: int,
    token: str,
    session: tuple[int, datetime],
    done: Reviewed,
    start: threading.Barrier,
) -> None:
    """CARD_ROUNDS times: review some of CARD_WORDS (in a random order, with repeats),
    answered now, a little ahead, or at any time since the session started (before
    reviews others have recorded); sometimes the first through the single-review route."""
    rng = random.Random(1000 + index)
    study_session_id, started = session
    with requests.Session() as http:
        http.headers.update(bearer(token))
        start.wait(timeout=TIMEOUT)
        for _ in range(CARD_ROUNDS):
            items = []
            for _ in range(rng.randint(1, 8)):
                rating = rng.randint(1, 4)
                item: dict = {
                    "word_id": rng.choice(CARD_WORDS),
                    "rating": rng.choice([rating, RATING_NAMES[rating - 1]]),
                }
                now, roll = datetime.now(UTC), rng.random()
                if roll < 0.2:
                    item["reviewed_at"] = (started + (now - started) * rng.random()).isoformat()
                elif roll < 0.3:
                    item["reviewed_at"] = (now + rng.random() * timedelta(seconds=2)).isoformat()
                items.append(item)
            if rng.random() < 0.3:
                single, *items = items
                word_id = single["word_id"]
                answer = http.post(
                    f"{base_url}/api/study-sessions/{study_session_id}/words/{word_id}/review",
                    json={key: value for key, value in single.items() if key != "word_id"},
                    timeout=TIMEOUT,
                )
                if answer.status_code == 201:
                    done.acknowledge(study_session_id, [single])
                else:
                    done.refused("single", answer)
            if not items:
                continue
            batch = http.post(
                f"{base_url}/api/study-sessions/{study_session_id}/review",
                json={"reviews": items},
                timeout=TIMEOUT,
            )
            if batch.status_code == 201 and batch.json()["reviews_created"] == len(items):
                done.acknowledge(study_session_id, items)
            else:
                done.refused("batch", batch)


@pytest.mark.slow
def test_16_writers_reviewing_the_same_words_leave_every_card_equal_to_its_log(live_server, engine):
    learner_id, token = add_learners(live_server, ["Card Racer"])["Card Racer"]
    sessions = []
    for number in range(CARD_SESSIONS):
        created = requests.post(
            f"{live_server}/api/study-sessions",
            json={"group_id": 1 + number % 2, "study_activity_id": 1},
            headers=bearer(token),
            timeout=TIMEOUT,
        )
        assert created.status_code == 201, created.text
        # Started two days ago, so that late reviews may be answered days apart.
        started = datetime.now(UTC) - timedelta(days=2, hours=number)
        backdate_session(engine, created.json()["id"], started)
        sessions.append((created.json()["id"], started))
    done = Reviewed()
    start = threading.Barrier(CARD_WRITERS)
    threads = [
        threading.Thread(
            target=review_the_same_words,
            args=(live_server, index, token, sessions[index % CARD_SESSIONS], done, start),
            daemon=True,
        )
        for index in range(CARD_WRITERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)

    assert done.unexpected == []
    items = schema.word_review_items
    with engine.connect() as connection:
        stored = connection.execute(
            select(items.c.id, items.c.study_session_id, items.c.word_id, items.c.rating)
            .add_columns(items.c.reviewed_at)
            .where(items.c.learner_id == learner_id)
            .order_by(items.c.id)
        ).all()
    # Every acknowledged review is stored, and nothing else.
    assert Counter((r.study_session_id, r.word_id, r.rating) for r in stored) == done.reviews
    assert done.timed <= Counter(
        (r.study_session_id, r.word_id, r.rating, r.reviewed_at) for r in stored
    )
    # Many reviews were recorded after a review of their word answered later than them:
    # their cards were replayed, while other writers continued them.
    latest: dict[int, tuple[datetime, int]] = {}
    late = 0
    for row in stored:
        order = (row.reviewed_at, row.id)
        late += row.word_id in latest and order < latest[row.word_id]
        latest[row.word_id] = max(latest.get(row.word_id, order), order)
    assert late >= 10, late
    # Every card equals its log replayed in (reviewed_at, id) order, every counter its rows.
    assert_counters_match_rows(engine)
    recomputed = recount(engine)["cards"]["recomputed"]
    assert {word for owner, word in recomputed if owner == learner_id} == set(CARD_WORDS)
    assert sum(card[8] for (owner, _), card in recomputed.items() if owner == learner_id) == len(
        stored
    )


NAME_RACERS = 8


def race(requests_to_send: list[tuple[str, dict, dict]]) -> list[requests.Response]:
    """Send POST requests (url, json, headers) all at once, one thread each."""
    start = threading.Barrier(len(requests_to_send))
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def send(url: str, body: dict, headers: dict) -> None:
        with requests.Session() as http:
            start.wait(timeout=TIMEOUT)
            response = http.post(url, json=body, headers=headers, timeout=TIMEOUT)
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=send, args=args, daemon=True) for args in requests_to_send]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT)
    return answers


def test_racing_requests_for_one_name_add_one_learner(live_server, engine):
    spellings = ["Yuki", "YUKI", "yuki", "yUKI", " Yuki", "Yuki ", "YuKi", "yuKI"]
    answers = race(
        [(f"{live_server}/api/learners", {"name": name}, OPERATOR) for name in spellings]
    )

    statuses = sorted(response.status_code for response in answers)
    assert statuses == [201] + [409] * (NAME_RACERS - 1), [r.text for r in answers]
    (created,) = [response.json() for response in answers if response.status_code == 201]
    with engine.connect() as connection:
        rows = connection.execute(
            select(schema.learners.c.id, schema.learners.c.name_key).where(
                schema.learners.c.name_key == "yuki"
            )
        ).all()
        tokens = (
            connection.execute(
                select(schema.learner_tokens.c.token_hash).where(
                    schema.learner_tokens.c.learner_id == created["id"]
                )
            )
            .scalars()
            .all()
        )
    assert [tuple(row) for row in rows] == [(created["id"], "yuki")]
    assert tokens == [token_digest(created["token"])]


ROTATION_ROUNDS = 5
TEACHERS = 6


def test_racing_rotations_of_one_token_leave_one_valid_token(live_server, engine):
    """Several teachers (and the operator) rotate one learner's token at the same moment,
    a few rounds over: after each round exactly one token of the learner works, and it
    is the only one stored. "Every earlier token stops working at once" must hold
    whichever rotation commits last."""
    aiko_id, aiko_token = add_learners(live_server, ["Aiko"])["Aiko"]
    teachers = []
    for n in range(TEACHERS):
        response = requests.post(
            f"{live_server}/api/learners",
            json={"name": f"Sensei {n}", "role": "teacher"},
            headers=OPERATOR,
            timeout=TIMEOUT,
        )
        assert response.status_code == 201
        teachers.append(bearer(response.json()["token"]))
    url = f"{live_server}/api/learners/{aiko_id}/token"
    known = [aiko_token]

    for round_number in range(ROTATION_ROUNDS):
        answers = race([(url, {}, headers) for headers in [OPERATOR, *teachers]])

        assert [response.status_code for response in answers] == [201] * (TEACHERS + 1)
        known += [response.json()["token"] for response in answers]
        working = [
            token
            for token in known
            if requests.get(
                f"{live_server}/api/me", headers=bearer(token), timeout=TIMEOUT
            ).status_code
            == 200
        ]
        with engine.connect() as connection:
            stored = (
                connection.execute(
                    select(schema.learner_tokens.c.token_hash).where(
                        schema.learner_tokens.c.learner_id == aiko_id
                    )
                )
                .scalars()
                .all()
            )
        assert len(stored) == 1, f"round {round_number}: {len(stored)} token rows for Aiko"
        assert len(working) == 1, f"round {round_number}: {len(working)} of Aiko's tokens work"
        assert stored == [token_digest(working[0])]
