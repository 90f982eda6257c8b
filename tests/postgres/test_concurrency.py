"""Many writers on several server processes sharing one PostgreSQL database.

Two gunicorn masters with two workers each (four server processes, as two hosts
would run them) take 32 concurrent writers for a bounded time. Every write must
succeed, and every row and counter must match the 201s exactly. Then 20 clients
send one request with one Idempotency-Key at the same moment, spread over both
servers: exactly one row may come of it.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, Integer, Table, cast, create_engine, func, select, text

from lang_portal import schema
from lang_portal.queries.learners import DEFAULT_LEARNER_ID
from tests.conftest import count_rows
from tests.postgres.conftest import new_database
from tests.servers import Gunicorn

pytestmark = pytest.mark.slow

WRITERS = 32
LOAD_SECONDS = 8.0
RESET_RACE_SECONDS = 3.0
POOL_SIZE = 2
SERVERS, WORKERS_EACH = 2, 2
SESSIONS = "/api/study-sessions"
# Writers that send two-word batches use the same two words in opposite orders, so a
# server that locked rows in request order would deadlock.
PAIR = (1, 9)


@dataclass
class Tally:
    """What the writers were told: statuses, and what the 201s said was created."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    sessions: int = 0
    reviews: int = 0
    correct: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(
        self, kind: str, response: requests.Response, expected: tuple[int, ...] = (201,)
    ) -> None:
        with self.lock:
            self.statuses[kind, response.status_code] += 1
            if response.status_code not in expected:
                self.unexpected.append(f"{kind} {response.status_code} {response.text[:300]}")


@pytest.fixture(scope="module")
def shared_url(postgres_template: tuple[Any, str]) -> Iterator[str]:
    """One seeded database for the servers of this module (each test starts with a reset)."""
    server_url, template = postgres_template
    yield from new_database(server_url, template)


@pytest.fixture(scope="module")
def engine(shared_url: str) -> Iterator[Engine]:
    checker = create_engine(shared_url)
    yield checker
    checker.dispose()


@pytest.fixture(scope="module")
def servers(shared_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Gunicorn]]:
    """Two gunicorn masters on the same database, started side by side."""
    logs = tmp_path_factory.mktemp("servers")
    running = [
        Gunicorn(
            shared_url,
            logs / f"host{i}.log",
            workers=WORKERS_EACH,
            settings={"DB_POOL_SIZE": str(POOL_SIZE)},
        )
        for i in range(SERVERS)
    ]
    with ThreadPoolExecutor(SERVERS) as pool:
        list(pool.map(Gunicorn.start, running))
    try:
        yield running
    finally:
        with ThreadPoolExecutor(SERVERS) as pool:
            list(pool.map(Gunicorn.stop, running))


@pytest.fixture
def urls(servers: list[Gunicorn], engine: Engine) -> list[str]:
    """The servers' base URLs, after a reset that empties the history."""
    reset = requests.post(servers[0].url + SESSIONS + "/reset", json={}, timeout=30)
    assert reset.status_code == 200
    assert count_rows(engine, "study_sessions") == count_rows(engine, "idempotency_keys") == 0
    return [server.url for server in servers]


def write_for_a_while(
    index: int, urls: list[str], deadline: float, tally: Tally, resets: bool = False
) -> None:
    """Start sessions and review in them, alternating servers, until the deadline.

    With ``resets`` a session may be gone before its review (404).
    """
    rng = random.Random(index)
    turn = index
    while time.monotonic() < deadline:
        turn += 1
        body = {"group_id": rng.randint(1, 7), "study_activity_id": rng.randint(1, 3)}
        try:
            created = requests.post(urls[turn % 2] + SESSIONS, json=body, timeout=30)
        except requests.RequestException as error:
            tally.unexpected.append(f"session: {error!r}")
            return
        tally.record("session", created)
        if created.status_code != 201:
            continue
        with tally.lock:
            tally.sessions += 1
        if index % 4 == 0:  # two words, in an order that flips every time
            pair = PAIR if turn % 2 else PAIR[::-1]
            reviews = [{"word_id": w, "is_correct": rng.random() < 0.5} for w in pair]
        else:
            reviews = [{"word_id": rng.randint(1, 263), "is_correct": rng.random() < 0.7}]
        path = f"{SESSIONS}/{created.json()['id']}/review"
        try:
            reviewed = requests.post(
                urls[(turn + 1) % 2] + path, json={"reviews": reviews}, timeout=30
            )
        except requests.RequestException as error:
            tally.unexpected.append(f"review: {error!r}")
            return
        tally.record("review", reviewed, (201, 404) if resets else (201,))
        if reviewed.status_code == 201:
            with tally.lock:
                tally.reviews += len(reviews)
                tally.correct += sum(review["is_correct"] for review in reviews)


def sample_connections(engine: Engine, database: str, stop: threading.Event) -> list[int]:
    """How many lang-portal connections the database had, sampled until ``stop``."""
    samples = []
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = :database AND application_name = 'lang-portal'"
    )
    while not stop.wait(0.25):
        with engine.connect() as connection:
            samples.append(connection.execute(query, {"database": database}).scalar_one())
    return samples


def scalar(engine: Engine, statement) -> int:
    with engine.connect() as connection:
        return int(connection.execute(statement).scalar_one() or 0)


def learner_sum(engine: Engine, table: Table, column: Any) -> int:
    """The sum of ``column`` over the default learner's rows of ``table`` (every row of a
    table that is not per learner): in the open mode every write is theirs."""
    statement = select(func.sum(column)).select_from(table)
    if "learner_id" in table.c:
        statement = statement.where(table.c.learner_id == DEFAULT_LEARNER_ID)
    return scalar(engine, statement)


def test_32_writers_on_4_processes_leave_exact_rows_and_counters(servers, urls, engine):
    assert sum(len(server.worker_pids()) for server in servers) == SERVERS * WORKERS_EACH
    tally = Tally()
    stop = threading.Event()
    with ThreadPoolExecutor(1) as sampler:
        connections = sampler.submit(sample_connections, engine, engine.url.database, stop)
        deadline = time.monotonic() + LOAD_SECONDS
        with ThreadPoolExecutor(WRITERS) as pool:
            futures = [
                pool.submit(write_for_a_while, i, urls, deadline, tally) for i in range(WRITERS)
            ]
            for future in futures:
                future.result()
        stop.set()
        samples = connections.result()

    assert tally.unexpected == [], tally.unexpected[:10]
    assert tally.sessions >= WRITERS, tally.statuses  # every writer got through at least once
    # No worker goes past its pool: DB_POOL_SIZE kept open, as many again in overflow.
    assert 0 < max(samples) <= SERVERS * WORKERS_EACH * 2 * POOL_SIZE, samples

    sessions, reviews, correct = tally.sessions, tally.reviews, tally.correct
    assert count_rows(engine, "study_sessions") == sessions
    assert count_rows(engine, "word_review_items") == reviews
    totals = [  # (name, table, sum over it)
        (
            "sessions.review_items_count",
            schema.study_sessions,
            schema.study_sessions.c.review_items_count,
        ),
        ("sessions.correct_count", schema.study_sessions, schema.study_sessions.c.correct_count),
        ("words.correct_count", schema.word_progress, schema.word_progress.c.correct_count),
        ("words.wrong_count", schema.word_progress, schema.word_progress.c.wrong_count),
        ("daily.sessions_count", schema.daily_activity, schema.daily_activity.c.sessions_count),
        ("daily.reviews_count", schema.daily_activity, schema.daily_activity.c.reviews_count),
        ("daily.correct_count", schema.daily_activity, schema.daily_activity.c.correct_count),
        ("groups.sessions_count", schema.group_progress, schema.group_progress.c.sessions_count),
        (
            "activities.sessions_count",
            schema.activity_progress,
            schema.activity_progress.c.sessions_count,
        ),
        (
            "reviews marked correct",
            schema.word_review_items,
            cast(schema.word_review_items.c.correct, Integer),
        ),
    ]
    found = {name: learner_sum(engine, table, column) for name, table, column in totals}
    assert found == {
        "sessions.review_items_count": reviews,
        "sessions.correct_count": correct,
        "words.correct_count": correct,
        "words.wrong_count": reviews - correct,
        "daily.sessions_count": sessions,
        "daily.reviews_count": reviews,
        "daily.correct_count": correct,
        "groups.sessions_count": sessions,
        "activities.sessions_count": sessions,
        "reviews marked correct": correct,
    }
    # Row by row too: each session's counter equals its own reviews.
    per_session = (
        select(func.count())
        .select_from(schema.study_sessions)
        .where(
            schema.study_sessions.c.review_items_count
            != select(func.count())
            .where(schema.word_review_items.c.study_session_id == schema.study_sessions.c.id)
            .scalar_subquery()
        )
    )
    assert scalar(engine, per_session) == 0

    # Then 20 clients race one Idempotency-Key over both servers: exactly one row.
    check_idempotent_races(urls, engine, sessions, reviews)


def race(urls: list[str], path: str, body: dict, key: str) -> list[requests.Response]:
    """20 clients send the same request with the same key at once, over every server."""
    start = threading.Barrier(20)

    def send(index: int) -> requests.Response:
        start.wait(timeout=10)
        return requests.post(
            urls[index % len(urls)] + path, json=body, headers={"Idempotency-Key": key}, timeout=30
        )

    with ThreadPoolExecutor(20) as pool:
        return list(pool.map(send, range(20)))


def check_idempotent_races(urls: list[str], engine: Engine, sessions: int, reviews: int):
    """A session and a review batch, each sent by 20 clients at once with one key."""
    body = {"group_id": 2, "study_activity_id": 2}
    responses = race(urls, SESSIONS, body, "scale-out-race")
    statuses = Counter(response.status_code for response in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = [response.json() for response in responses if response.status_code == 201]
    assert len({item["id"] for item in created}) == 1
    assert (
        sum("Idempotent-Replayed" not in r.headers for r in responses if r.status_code == 201) == 1
    )
    for response in responses:
        if response.status_code == 409:
            assert response.headers["Retry-After"] == "1"
    assert count_rows(engine, "study_sessions") == sessions + 1
    progress = schema.group_progress
    assert learner_sum(engine, progress, progress.c.sessions_count) == sessions + 1

    # The same for a review batch: one key, twenty racing clients, one review row.
    path = f"{SESSIONS}/{created[0]['id']}/review"
    batch = {"reviews": [{"word_id": 5, "is_correct": True}]}
    responses = race(urls, path, batch, "scale-out-review-race")
    assert {response.status_code for response in responses} <= {201, 409}
    assert count_rows(engine, "word_review_items") == reviews + 1
    sessions_table = schema.study_sessions
    assert learner_sum(engine, sessions_table, sessions_table.c.review_items_count) == reviews + 1
    with engine.connect() as connection:
        keys = connection.execute(
            select(schema.idempotency_keys.c.key, schema.idempotency_keys.c.status_code).order_by(
                "key"
            )
        ).all()
    assert keys == [("scale-out-race", 201), ("scale-out-review-race", 201)]


def test_resets_during_writes_leave_counters_equal_to_the_rows(urls, engine):
    """Resets racing sessions and reviews: no deadlock (503), and every counter agrees."""
    tally = Tally()
    deadline = time.monotonic() + RESET_RACE_SECONDS

    def reset_for_a_while(index: int) -> None:
        while time.monotonic() < deadline:
            reset = requests.post(urls[index % 2] + SESSIONS + "/reset", json={}, timeout=30)
            tally.record("reset", reset, (200,))
            time.sleep(0.1)

    with ThreadPoolExecutor(10) as pool:
        futures = [pool.submit(write_for_a_while, i, urls, deadline, tally, True) for i in range(8)]
        futures += [pool.submit(reset_for_a_while, i) for i in range(2)]
        for future in futures:
            future.result()
    assert tally.unexpected == [], tally.unexpected[:10]
    assert tally.statuses["reset", 200] >= 2 and tally.sessions > 0, tally.statuses

    sessions = count_rows(engine, "study_sessions")
    reviews = count_rows(engine, "word_review_items")
    correct = scalar(
        engine, select(func.count()).where(schema.word_review_items.c.correct.is_(True))
    )
    sums = {
        "groups.sessions_count": (schema.group_progress.c.sessions_count, sessions),
        "activities.sessions_count": (schema.activity_progress.c.sessions_count, sessions),
        "daily.sessions_count": (schema.daily_activity.c.sessions_count, sessions),
        "sessions.review_items_count": (schema.study_sessions.c.review_items_count, reviews),
        "daily.reviews_count": (schema.daily_activity.c.reviews_count, reviews),
        "words.correct_count": (schema.word_progress.c.correct_count, correct),
        "words.wrong_count": (schema.word_progress.c.wrong_count, reviews - correct),
        "daily.correct_count": (schema.daily_activity.c.correct_count, correct),
    }
    found = {name: learner_sum(engine, column.table, column) for name, (column, _) in sums.items()}
    assert found == {name: expected for name, (_, expected) in sums.items()}
