"""Many learners writing at once, on SQLite and on PostgreSQL, in the ``accounts`` mode.

32 writers spread over 8 learners (4 each, so every learner's own writes race each
other) start sessions and review in them through a real threaded HTTP server, while a
ninth learner keeps resetting their own history. Afterwards every acknowledged write
is in the database, under the right learner, and every learner's counters equal a
recomputation from their own rows.

Also here: racing requests for one learner name, and racing rotations of one
learner's token.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from lang_portal import schema
from tests.accounts import (
    OPERATOR,
    accounts_app,
    assert_counters_match_rows,
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
