"""Fill a lang-portal database with a long study history, for the benchmark.

    python bench/generate.py --database-url sqlite:////tmp/lp-1m.db \\
        --sessions 1000000 --reviews-per-session 10 --learners 1000 --seed 1

The database is migrated and seeded first (the same code as ``lang-portal init-db``),
then N study sessions spread over the last 365 days and N x K reviews are bulk-loaded.
Each session gets K reviews of words from its own group, answered one after the other
from its start (a few seconds each: ``reviewed_at`` grows within the session, and each
review has a ``duration_ms``) and recorded as one batch up to a minute after the last
answer, which is what POST /api/study-sessions/<id>/review does. Ratings are drawn
again 15 %, hard 10 %, good 65 %, easy 10 % (``correct`` is any rating but again).

``--learners L`` spreads the sessions over L learners: the default learner (id 1, a
teacher, made by the migration) and learners 2..L, added here as ``learner-0002``, ...
with the role ``learner`` and no token. Each session's learner is drawn uniformly from
the seed; with L = 1 (the default) every session is the default learner's.

Every counter the API keeps (per session, and per learner: per word, group, activity
and UTC day, and the learner's last_active_at) and every card is computed here and
written at the end, so the database is exactly what the API would have left behind.
A card is what the API's own code (lang_portal.scheduling, FSRS at a desired retention
of 0.9, the default) gives when it replays that learner's reviews of that word in
``(reviewed_at, id)`` order; the daily recall counters count the reviews answered while
the card was in the review state. ``--check`` compares every counter table with a
recomputation from the raw rows in SQL, replays a random sample of (learner, word) logs
from the database and compares each with its stored card, and recounts a few learners'
recall counters from their replayed logs. tests/test_counters.py holds the generator to
the same. The same seed gives the same rows.

Sessions are written with executemany; their reviews are expanded by the database
itself (INSERT ... SELECT from per-group pools of random draws, see ReviewPools), so
10M review rows never pass through the driver. Rows arrive in id order, so the indexes
stay in place: appending to them is cheaper than rebuilding them afterwards. The cards
are then computed in Python, one learner at a time (their reviews are derived from the
same pools, never read back nor all held at once), in ``--jobs`` processes: FSRS costs
7 to 25 us a review here, which makes the cards the larger part of the time at 10M
reviews. SQLite is loaded with ``synchronous=OFF`` and ``journal_mode=OFF`` (a crash
during the load leaves a broken file: run it again) and returned to WAL at the end; the
service itself never runs like that. PostgreSQL is loaded with COPY. The history must
be empty and, with L > 1, the default learner the only one: use a fresh database.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import re
import sys
import time
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from sqlalchemy import Engine, bindparam, func, select

from lang_portal import db, scheduling, schema, settings
from lang_portal.cli import prepare_database
from lang_portal.queries.learners import DEFAULT_LEARNER_ID, name_key

HISTORY = timedelta(days=365)
# The ratings reviews are drawn with, and their weights: again, hard, good, easy.
RATING_WEIGHTS = {1: 15, 2: 10, 3: 65, 4: 10}
# How long an answer takes (duration_ms), and the seconds of thought before the next
# card: answers come ceil(duration) + think seconds apart.
DURATION_MS = (1_500, 8_000)
THINK_SECONDS = (1, 4)
# Longest time from a session's start to its last answer, per review.
SECONDS_PER_REVIEW = -(-DURATION_MS[1] // 1000) + THINK_SECONDS[1]
# A session's batch is recorded 1 to this many seconds after its last answer (by id).
RECORD_DELAY_SECONDS = 60
# The desired retention the cards are scheduled with: the DESIRED_RETENTION default.
DESIRED_RETENTION = 0.9
# Sessions generated and written per chunk (each chunk is one transaction).
CHUNK = 20_000
# Cards written per transaction.
CARD_CHUNK = 50_000
# At most about this many reviews in one task of pass 2 (one learner's words, or a share
# of them): a learner with more is split by word id, so that no process holds one
# learner's whole history of millions of reviews.
TASK_REVIEWS = 500_000


_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = _EPOCH.replace(tzinfo=UTC)
_DAY_US = 86_400_000_000
_SECOND_US = 1_000_000
_ONE_US = timedelta(microseconds=1)


class Timestamps:
    """Formats microseconds since the epoch as SQLAlchemy stores DateTime in SQLite.

    ``YYYY-MM-DD HH:MM:SS.ffffff``, in UTC; PostgreSQL's COPY takes it with ``+00``.
    The date part is cached: a year of history has only 366 of them.
    """

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def day(self, day: int) -> str:
        """``YYYY-MM-DD`` of a day counted from the epoch."""
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
        return text

    def __call__(self, microseconds: int) -> str:
        day, rest = divmod(microseconds, _DAY_US)
        seconds, micro = divmod(rest, 1_000_000)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        return f"{self.day(day)} {hours:02d}:{minutes:02d}:{seconds:02d}.{micro:06d}"


def microseconds(moment: datetime) -> int:
    """An aware datetime as microseconds since the epoch."""
    return (moment - _EPOCH_UTC) // _ONE_US


def moment(microseconds: int) -> datetime:
    """Microseconds since the epoch as an aware UTC datetime."""
    return _EPOCH_UTC + timedelta(microseconds=microseconds)


@dataclass
class ReviewPools:
    """Per group, a long random sequence of review draws that sessions take slices of.

    A draw is a word, a rating, a duration and the seconds since the pool's start at
    which it is answered (``elapsed``; ``base`` is the same before the draw's own
    answer). Session ``id`` reviews the K draws starting at :meth:`offset`, the first
    answered ``elapsed - base`` seconds after the session started, the next ones as many
    seconds after it as their own draws took. The offset is a function of the id that
    SQL computes too, so the database can expand 10M review rows by itself
    (INSERT ... SELECT) while Python derives each learner's reviews from the same draws.
    """

    size: int
    salt: int
    k: int
    words: dict[int, list[int]]
    ratings: dict[int, list[int]]
    durations: dict[int, list[int]]
    elapsed: dict[int, list[int]]
    base: dict[int, list[int]]
    # Right answers among the first n draws, n = 0 .. size + k.
    right_before: dict[int, list[int]]
    _slices: dict[tuple[int, int], tuple[tuple[int, int, int, int], ...]] = field(
        default_factory=dict, repr=False
    )

    MULTIPLIER = 40_503  # odd, so consecutive ids land far apart in the pool

    @classmethod
    def draw(
        cls, rng: random.Random, group_words: dict[int, list[int]], k: int, size: int = 4096
    ) -> ReviewPools:
        n = size + k
        ratings_, weights = list(RATING_WEIGHTS), list(RATING_WEIGHTS.values())
        words, ratings, durations, elapsed, base, right_before = ({} for _ in range(6))
        for g, ids in sorted(group_words.items()):
            words[g] = rng.choices(ids, k=n)
            ratings[g] = rng.choices(ratings_, weights, k=n)
            durations[g] = [rng.randint(*DURATION_MS) for _ in range(n)]
            thinking = [rng.randint(*THINK_SECONDS) for _ in range(n)]
            elapsed[g], base[g], right_before[g] = [], [], [0]
            at = 0
            for rating, duration, think in zip(ratings[g], durations[g], thinking, strict=True):
                base[g].append(at)
                at += -(-duration // 1000) + think
                elapsed[g].append(at)
                right_before[g].append(right_before[g][-1] + scheduling.is_correct(rating))
        return cls(
            size, rng.randrange(size), k, words, ratings, durations, elapsed, base, right_before
        )

    def offset(self, study_session_id: int) -> int:
        return (study_session_id * self.MULTIPLIER + self.salt) % self.size

    def right(self, group_id: int, at: int) -> int:
        """Right answers in the session slice that starts at ``at``."""
        right_before = self.right_before[group_id]
        return right_before[at + self.k] - right_before[at]

    def last_answer_us(self, group_id: int, at: int) -> int:
        """Microseconds from a session's start to its last answer (k > 0)."""
        return (self.elapsed[group_id][at + self.k - 1] - self.base[group_id][at]) * _SECOND_US

    def slice(self, group_id: int, at: int) -> tuple[tuple[int, int, int, int], ...]:
        """(index in the session, word, rating, microseconds after the session's start)
        of each review of a slice."""
        drawn = self._slices.get((group_id, at))
        if drawn is None:
            words, ratings = self.words[group_id], self.ratings[group_id]
            elapsed, base = self.elapsed[group_id], self.base[group_id][at]
            drawn = self._slices[group_id, at] = tuple(
                (j, words[p], ratings[p], (elapsed[p] - base) * _SECOND_US)
                for j, p in enumerate(range(at, at + self.k))
            )
        return drawn

    def rows(self, dialect: str) -> Iterator[tuple[Any, ...]]:
        """The rows of the review_pool table (see POOL_TABLE)."""
        for g, words in self.words.items():
            for position, word_id in enumerate(words):
                rating = self.ratings[g][position]
                yield (
                    g,
                    position,
                    word_id,
                    _answer(scheduling.is_correct(rating), dialect),
                    rating,
                    self.durations[g][position],
                    self.elapsed[g][position],
                    self.base[g][position],
                )


@dataclass
class History:
    """What pass 1 drew, per session (index id - 1), and what the cards need from it."""

    k: int
    pools: ReviewPools
    starts: array[int]  # microseconds since the epoch, sorted
    groups: array[int] = field(default_factory=lambda: array("i"))
    sessions_of: dict[int, array[int]] = field(default_factory=dict)


@dataclass
class Counters:
    """The counters known once the sessions are drawn, per learner."""

    # (learner, group) -> sessions, and when the newest started.
    group_sessions: Counter[tuple[int, int]] = field(default_factory=Counter)
    group_last_session: dict[tuple[int, int], str] = field(default_factory=dict)
    # (learner, activity) -> sessions.
    activity_sessions: Counter[tuple[int, int]] = field(default_factory=Counter)
    # learner -> {epoch day: sessions started that day}.
    day_sessions: dict[int, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    # learner -> microseconds of their last write (a new session or a recorded batch).
    last_active: dict[int, int] = field(default_factory=dict)


def generate_sessions(
    rng: random.Random,
    history: History,
    now_us: int,
    learners: int,
    group_ids: list[int],
    activity_ids: list[int],
    counters: Counters,
) -> Iterator[list[tuple[Any, ...]]]:
    """Yield study_sessions rows, CHUNK at a time, with their counters; fill in
    ``history`` and ``counters``.

    ``history.starts`` are the sessions' start times, sorted, so ids (from 1) grow with
    time as they do when the API creates sessions. Each session belongs to a learner
    drawn uniformly from 1..``learners``; with one learner nothing is drawn.
    """
    timestamp = Timestamps()
    pools, k, starts = history.pools, history.k, history.starts
    last_active = counters.last_active
    for chunk_start in range(0, len(starts), CHUNK):
        rows: list[tuple[Any, ...]] = []
        for offset, start_us in enumerate(starts[chunk_start : chunk_start + CHUNK]):
            study_session_id = chunk_start + offset + 1
            group_id = rng.choice(group_ids)
            activity_id = rng.choice(activity_ids)
            learner_id = rng.randrange(learners) + 1 if learners > 1 else 1
            history.groups.append(group_id)
            mine = history.sessions_of.get(learner_id)
            if mine is None:
                mine = history.sessions_of[learner_id] = array("i")
            mine.append(study_session_id)
            started = timestamp(start_us)
            learner_group = (learner_id, group_id)
            counters.group_sessions[learner_group] += 1
            counters.group_last_session[learner_group] = started  # starts are sorted
            counters.activity_sessions[learner_id, activity_id] += 1
            counters.day_sessions[learner_id][start_us // _DAY_US] += 1
            if k == 0:
                last_active[learner_id] = start_us  # starts are sorted
                rows.append(
                    (study_session_id, learner_id, group_id, activity_id, started, 0, 0, 0, None)
                )
                continue
            at = pools.offset(study_session_id)
            last_answer = start_us + pools.last_answer_us(group_id, at)
            recorded = last_answer + record_delay_us(study_session_id)
            if recorded > last_active.get(learner_id, 0):
                last_active[learner_id] = recorded
            right = pools.right(group_id, at)
            rows.append(
                (
                    study_session_id,
                    learner_id,
                    group_id,
                    activity_id,
                    started,
                    k,
                    right,
                    k - right,
                    timestamp(last_answer),
                )
            )
        yield rows


def record_delay_us(study_session_id: int) -> int:
    """How long after its last answer a session's batch was recorded (SQL: RECORDED_AT)."""
    return (study_session_id % RECORD_DELAY_SECONDS + 1) * _SECOND_US


# The history pass 2's worker processes read (inherited by fork), and its dialect.
_HISTORY: History | None = None
_DIALECT = "sqlite"


@dataclass(frozen=True)
class Task:
    """Pass 2's unit of work: the words of one learner with ``word_id % parts == part``."""

    learner_id: int
    part: int = 0
    parts: int = 1


@dataclass
class LearnerCards:
    """One learner's word_progress rows and the review counts of their days (of the
    words of one task)."""

    task: Task
    word_rows: list[tuple[Any, ...]]
    # epoch day -> [reviews, right, recall reviews (in the review state), recalled].
    days: dict[int, list[int]]


def learner_logs(history: History, task: Task) -> dict[int, list[tuple[int, int, int]]]:
    """The task's reviews by word: (reviewed_at in microseconds, id, rating) in
    ``(reviewed_at, id)`` order, derived from the pools as the database expanded them."""
    pools, k, starts, groups = history.pools, history.k, history.starts, history.groups
    logs: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    part, parts = task.part, task.parts
    for study_session_id in history.sessions_of.get(task.learner_id, ()):
        start_us = starts[study_session_id - 1]
        first_id = (study_session_id - 1) * k + 1
        at = pools.offset(study_session_id)
        for j, word_id, rating, after_us in pools.slice(groups[study_session_id - 1], at):
            if parts == 1 or word_id % parts == part:
                logs[word_id].append((start_us + after_us, first_id + j, rating))
    for log in logs.values():
        log.sort()
    return logs


def schedule_learner(task: Task) -> LearnerCards:
    """Replay each of the task's words' logs (see the module's docstring)."""
    history, dialect = _HISTORY, _DIALECT
    learner_id = task.learner_id
    assert history is not None
    schedule = scheduling.scheduler(DESIRED_RETENTION)
    timestamp = Timestamps()

    def stamp(at: datetime) -> str | None:
        return _utc(timestamp(microseconds(at)), dialect)

    word_rows = []
    days: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for word_id, log in sorted(learner_logs(history, task).items()):
        applied = scheduling.replay(
            schedule,
            [scheduling.LoggedReview(id_, moment(at), rating) for at, id_, rating in log],
        )
        right = 0
        for (at, _, rating), state in zip(log, applied.states_before, strict=True):
            counts = days[at // _DAY_US]
            correct = rating != scheduling.AGAIN
            right += correct
            counts[0] += 1
            counts[1] += correct
            if state == scheduling.REVIEW:
                counts[2] += 1
                counts[3] += correct
        card = applied.card
        word_rows.append(
            (
                learner_id,
                word_id,
                right,
                len(log) - right,
                card.state,
                card.step,
                card.stability,
                card.difficulty,
                stamp(card.due),
                stamp(card.last_review_at),
                card.last_review_id,
                stamp(card.first_reviewed_at),
                card.reps,
                card.lapses,
            )
        )
    return LearnerCards(task, word_rows, dict(days))


def tasks(history: History) -> list[Task]:
    """Pass 2's tasks, learner by learner in id order, a learner's parts in a row."""
    planned = []
    for learner_id, sessions in sorted(history.sessions_of.items()):
        parts = max(1, -(-len(sessions) * history.k // TASK_REVIEWS))
        planned += [Task(learner_id, part, parts) for part in range(parts)]
    return planned


def schedule_learners(history: History, dialect: str, jobs: int) -> Iterator[LearnerCards]:
    """:func:`schedule_learner` of every task, in order, in ``jobs`` processes (forked:
    they inherit ``history``)."""
    global _HISTORY, _DIALECT  # the forked workers' input
    _HISTORY, _DIALECT = history, dialect
    planned = tasks(history)
    try:
        if jobs <= 1 or len(planned) < 2:
            yield from map(schedule_learner, planned)
            return
        with multiprocessing.get_context("fork").Pool(jobs) as workers:
            yield from workers.imap(schedule_learner, planned, chunksize=1)
    finally:
        _HISTORY = None


class SqliteSink:
    """Bulk writes through the sqlite3 driver: executemany, no fsync, no journal."""

    def __init__(self, engine: Engine) -> None:
        self.raw = engine.raw_connection()
        self.driver = self.raw.driver_connection
        self.driver.isolation_level = None
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "cache_size=-1048576",
            "temp_store=MEMORY",
        ):
            self.driver.execute(f"PRAGMA {pragma}").fetchall()

    def write(self, table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" * len(columns))
        self.driver.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
            rows,
        )

    def execute(self, sql: str, parameters: Iterable[Any] = ()) -> None:
        self.driver.execute(sql, tuple(parameters)).fetchall()

    def executemany(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        self.driver.executemany(sql, rows)

    def begin(self) -> None:
        self.driver.execute("BEGIN")

    def commit(self) -> None:
        self.driver.execute("COMMIT")

    def finish(self) -> None:
        self.driver.execute("PRAGMA journal_mode=WAL").fetchall()
        self.raw.close()


class PostgresSink:
    """Bulk writes through psycopg: COPY for rows, explicit transactions."""

    def __init__(self, engine: Engine) -> None:
        self.raw = engine.raw_connection()
        self.driver = self.raw.driver_connection
        self.driver.autocommit = True
        self.driver.execute("SET statement_timeout = 0")

    def write(self, table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
        with (
            self.driver.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    @staticmethod
    def _format(sql: str) -> str:
        """qmark placeholders in psycopg's format style."""
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, parameters: Iterable[Any] = ()) -> None:
        self.driver.execute(self._format(sql), tuple(parameters))

    def executemany(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        with self.driver.cursor() as cursor:
            cursor.executemany(self._format(sql), list(rows))

    def begin(self) -> None:
        self.driver.execute("BEGIN")

    def commit(self) -> None:
        self.driver.execute("COMMIT")

    def finish(self) -> None:
        for table in ("study_sessions", "word_review_items", "learners"):
            self.driver.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608
                f" (SELECT max(id) FROM {table}))"
            )
        self.driver.execute("VACUUM ANALYZE")  # what autovacuum would soon do
        self.raw.close()


def _answer(answer: int, dialect: str) -> int | bool:
    """A review's answer as the dialect's boolean column takes it."""
    return int(answer) if dialect == "sqlite" else bool(answer)


def _utc(value: str | None, dialect: str) -> str | None:
    """A generated timestamp as the dialect's bulk writer takes it."""
    if value is None or dialect == "sqlite":
        return value
    return value + "+00"


SESSION_COLUMNS = (
    "id",
    "learner_id",
    "group_id",
    "study_activity_id",
    "created_at",
    "review_items_count",
    "correct_count",
    "wrong_count",
    "last_review_at",
)
WORD_PROGRESS_COLUMNS = (
    "learner_id",
    "word_id",
    "correct_count",
    "wrong_count",
    *scheduling.CARD_FIELDS,
)
DAY_COLUMNS = (
    "learner_id",
    "day",
    "sessions_count",
    "reviews_count",
    "correct_count",
    "recall_reviews_count",
    "recalled_count",
)
PROGRESS_TABLES = ("word_progress", "group_progress", "activity_progress", "daily_activity")


def day_rows(
    learner_id: int,
    sessions: Counter[int],
    reviews: dict[int, list[int]],
    timestamp: Timestamps,
) -> list[tuple[Any, ...]]:
    """The learner's daily_activity rows: every day they started a session or answered."""
    rows = []
    for day in sorted(sessions.keys() | reviews.keys()):
        counts = reviews.get(day, (0, 0, 0, 0))
        rows.append((learner_id, timestamp.day(day), sessions[day], *counts))
    return rows


def write_cards(
    sink: Any,
    history: History,
    counters: Counters,
    dialect: str,
    jobs: int,
    progress: bool,
) -> None:
    """Compute every learner's cards and day counters, and write them with their
    word_progress and daily_activity rows (a row only where the learner has activity,
    as the API leaves it)."""
    timestamp = Timestamps()
    word_rows: list[tuple[Any, ...]] = []
    days: list[tuple[Any, ...]] = []

    def flush() -> None:
        sink.begin()
        sink.write("word_progress", WORD_PROGRESS_COLUMNS, word_rows)
        sink.write("daily_activity", DAY_COLUMNS, days)
        sink.commit()
        word_rows.clear()
        days.clear()

    with click.progressbar(
        length=len(history.sessions_of),
        label=f"Scheduling the cards of {len(history.sessions_of)} learners",
        file=sys.stderr if progress else None,
    ) as bar:
        # A learner's review days, summed over the parts of the learner seen so far.
        reviews: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for cards in schedule_learners(history, dialect, jobs):
            task = cards.task
            word_rows += cards.word_rows
            for day, counts in cards.days.items():
                reviews[day] = [a + b for a, b in zip(reviews[day], counts, strict=True)]
            if task.part + 1 < task.parts:
                continue
            days += day_rows(
                task.learner_id, counters.day_sessions[task.learner_id], reviews, timestamp
            )
            reviews.clear()
            if len(word_rows) >= CARD_CHUNK:
                flush()
            bar.update(1)
    flush()


def write_counters(sink: Any, counters: Counters, dialect: str) -> None:
    """Write the counters of sessions: per group, per activity, the last write."""
    timestamp = Timestamps()
    sink.write(
        "group_progress",
        ("learner_id", "group_id", "sessions_count", "last_session_at"),
        [
            (*key, n, _utc(counters.group_last_session[key], dialect))
            for key, n in sorted(counters.group_sessions.items())
        ],
    )
    sink.write(
        "activity_progress",
        ("learner_id", "study_activity_id", "sessions_count"),
        [(*key, n) for key, n in sorted(counters.activity_sessions.items())],
    )
    sink.executemany(
        "UPDATE learners SET last_active_at = ? WHERE id = ?",
        [
            (_utc(timestamp(at), dialect), learner_id)
            for learner_id, at in sorted(counters.last_active.items())
        ],
    )


def learner_rows(learners: int, created_at: str | None) -> list[tuple[Any, ...]]:
    """Rows of learners 2..``learners`` (1, the default learner, is the migration's)."""
    rows = []
    for learner_id in range(DEFAULT_LEARNER_ID + 1, learners + 1):
        name = f"learner-{learner_id:04d}"
        rows.append((learner_id, name, name_key(name), "learner", created_at))
    return rows


LEARNER_COLUMNS = ("id", "name", "name_key", "role", "created_at")


POOL_COLUMNS = (
    "group_id",
    "position",
    "word_id",
    "correct",
    "rating",
    "duration_ms",
    "elapsed",
    "base",
)
POOL_TABLE = (
    "CREATE TEMPORARY TABLE review_pool (group_id INTEGER NOT NULL, position INTEGER NOT NULL,"
    " word_id INTEGER NOT NULL, correct BOOLEAN NOT NULL, rating SMALLINT NOT NULL,"
    " duration_ms INTEGER NOT NULL, elapsed INTEGER NOT NULL, base INTEGER NOT NULL,"
    " PRIMARY KEY (group_id, position))"
)


# Writes K reviews for each session with an id in [first, last], from its pool slice
# (f is the slice's first draw, p each draw of it). A review's id follows from its
# session's and its index, as the rows are inserted in that order; it is answered
# p.elapsed - f.base seconds after the session started ({after:...}), and recorded
# (created_at) a few seconds after the session's last answer (record_delay_us).
# Parameters: K, RECORD_DELAY_SECONDS, then (multiplier, salt, size) for the slice's
# start, then K, first, last.
EXPAND_REVIEWS = (
    "INSERT INTO word_review_items (id, learner_id, word_id, study_session_id, correct,"
    " rating, reviewed_at, duration_ms, created_at)"
    " SELECT (s.id - 1) * ? + p.position - f.position + 1, s.learner_id, p.word_id, s.id,"
    " p.correct, p.rating, {after:s.created_at:p.elapsed - f.base}, p.duration_ms,"
    " {after:s.last_review_at:s.id % ? + 1}"
    " FROM study_sessions AS s"
    " JOIN review_pool AS f ON f.group_id = s.group_id AND f.position = (s.id * ? + ?) % ?"
    " JOIN review_pool AS p ON p.group_id = s.group_id"
    " AND p.position >= f.position AND p.position < f.position + ?"
    " WHERE s.id BETWEEN ? AND ? ORDER BY s.id, p.position"
)


def _after_sql(sql: str, dialect: str) -> str:
    """``{after:TIME:SECONDS}``: the timestamp TIME plus a whole number of SECONDS.

    SQLite keeps timestamps as text (Timestamps' format): the date function adds the
    seconds to the whole seconds, and the microseconds are copied after them (given the
    fraction, SQLite would round it to milliseconds, .9996 up to the next second).
    """

    def replace(match: re.Match[str]) -> str:
        at, seconds = match.group(1), match.group(2)
        if dialect == "sqlite":
            return (
                f"strftime('%Y-%m-%d %H:%M:%S', substr({at}, 1, 19),"
                f" '+' || ({seconds}) || ' seconds')"
                f" || substr({at}, 20)"
            )
        return f"{at} + make_interval(secs => {seconds})"

    return re.sub(r"\{after:([\w.]+):([^}]+)\}", replace, sql)


def _read_vocabulary(engine: Engine, learners: int) -> tuple[dict[int, list[int]], list[int]]:
    """Each group's word ids and every activity id.

    Refuses a database with history, and one with learners besides the default
    learner when more are to be added.
    """
    with db.reading(engine) as connection:
        existing = connection.execute(
            select(func.count()).select_from(schema.study_sessions)
        ).scalar()
        if existing:
            raise click.ClickException(
                f"the database already holds {existing} study sessions; use a fresh one"
            )
        ids = connection.execute(select(schema.learners.c.id)).scalars().all()
        if DEFAULT_LEARNER_ID not in ids:
            raise click.ClickException("the default learner (id 1) is missing")
        if learners > 1 and len(ids) > 1:
            raise click.ClickException(
                f"the database already has {len(ids)} learners; use a fresh one"
            )
        group_words: dict[int, list[int]] = defaultdict(list)
        for group_id, word_id in connection.execute(
            select(schema.word_groups.c.group_id, schema.word_groups.c.word_id).order_by(
                schema.word_groups.c.group_id, schema.word_groups.c.word_id
            )
        ):
            group_words[group_id].append(word_id)
        activity_ids = list(
            connection.execute(
                select(schema.study_activities.c.id).order_by(schema.study_activities.c.id)
            )
            .scalars()
            .all()
        )
    if not group_words or not activity_ids:
        raise click.ClickException("the seed data has no grouped words or no study activities")
    return dict(group_words), activity_ids


def generate(
    database_url: str,
    sessions: int,
    reviews_per_session: int,
    seed: int,
    learners: int = 1,
    progress: bool = True,
    jobs: int = 1,
) -> dict[str, float]:
    """Migrate, seed and fill the database; returns what was written and how long it took.

    The sessions are spread over ``learners`` learners (see the module's docstring);
    the cards are computed in ``jobs`` processes. Raises click.ClickException when the
    database already holds study sessions, or learners other than the default one
    while ``learners`` > 1.
    """
    if learners < 1:
        raise click.ClickException("there is at least one learner, the default one")
    began = time.perf_counter()
    k = reviews_per_session
    engine = db.create_engine_from_settings(settings.load({"DATABASE_URL": database_url}))
    prepare_database(engine)
    group_words, activity_ids = _read_vocabulary(engine, learners)

    rng = random.Random(seed)
    pools = ReviewPools.draw(rng, group_words, k)
    now_us = microseconds(datetime.now(UTC))
    span_us = HISTORY // _ONE_US
    # Every session's batch is answered and recorded by now.
    tail_us = (k * SECONDS_PER_REVIEW + RECORD_DELAY_SECONDS + 1) * _SECOND_US
    starts = array(
        "q", sorted(now_us - tail_us - rng.randrange(span_us - tail_us) for _ in range(sessions))
    )
    history = History(k, pools, starts)

    dialect = engine.dialect.name
    engine.dispose()  # SQLite leaves WAL mode only when no other connection is open
    sink: Any = SqliteSink(engine) if dialect == "sqlite" else PostgresSink(engine)
    # The learners exist from the start of the history on.
    created_at = _utc(Timestamps()(now_us - span_us), dialect)
    sink.begin()
    sink.write("learners", LEARNER_COLUMNS, learner_rows(learners, created_at))
    sink.commit()
    sink.execute(POOL_TABLE)
    sink.write("review_pool", POOL_COLUMNS, pools.rows(dialect))
    expand = _after_sql(EXPAND_REVIEWS, dialect)
    slice_start = (ReviewPools.MULTIPLIER, pools.salt, pools.size)
    counters = Counters()
    chunks = generate_sessions(
        rng, history, now_us, learners, sorted(group_words), activity_ids, counters
    )
    with click.progressbar(
        length=sessions,
        label=f"Loading {sessions} sessions and {sessions * k} reviews of {learners} learners",
        file=sys.stderr if progress else None,
    ) as bar:
        for rows in chunks:
            if dialect != "sqlite":
                rows = [(*r[:4], _utc(r[4], dialect), *r[5:8], _utc(r[8], dialect)) for r in rows]
            sink.begin()
            sink.write("study_sessions", SESSION_COLUMNS, rows)
            if k:
                sink.execute(
                    expand,
                    (k, RECORD_DELAY_SECONDS, *slice_start, k, rows[0][0], rows[-1][0]),
                )
            sink.commit()
            bar.update(len(rows))
    loaded = time.perf_counter()
    for table in PROGRESS_TABLES:
        sink.execute(f"DELETE FROM {table}")  # noqa: S608
    write_cards(sink, history, counters, dialect, jobs, progress)
    scheduled = time.perf_counter()
    sink.begin()
    write_counters(sink, counters, dialect)
    sink.execute("DROP TABLE review_pool")
    sink.commit()
    sink.finish()
    engine.dispose()
    finished = time.perf_counter()
    return {
        "sessions": sessions,
        "reviews": sessions * k,
        "learners": learners,
        "load_seconds": round(loaded - began, 1),
        "card_seconds": round(scheduled - loaded, 1),
        "counter_seconds": round(finished - scheduled, 1),
        "total_seconds": round(finished - began, 1),
    }


# Per counter table: (its rows, the same rows recomputed from study_sessions and
# word_review_items). {right} and {wrong} are a review's 1/0 answer, {day:column} the
# dialect's UTC day of a timestamp column. The cards' FSRS fields and the recall
# counters need a replay: check_cards.
COUNTER_CHECKS = {
    "study_sessions": (
        "SELECT id, review_items_count, correct_count, wrong_count, last_review_at"
        " FROM study_sessions",
        "SELECT s.id, count(r.id), coalesce(sum({right}), 0), coalesce(sum({wrong}), 0),"
        " max(r.reviewed_at) FROM study_sessions AS s"
        " LEFT JOIN word_review_items AS r ON r.study_session_id = s.id GROUP BY s.id",
    ),
    "word_progress": (
        "SELECT learner_id, word_id, correct_count, wrong_count, reps, first_reviewed_at,"
        " last_review_at FROM word_progress",
        "SELECT r.learner_id, r.word_id, sum({right}), sum({wrong}), count(*),"
        " min(r.reviewed_at), max(r.reviewed_at) FROM word_review_items AS r"
        " GROUP BY r.learner_id, r.word_id",
    ),
    "group_progress": (
        "SELECT learner_id, group_id, sessions_count, last_session_at FROM group_progress",
        "SELECT learner_id, group_id, count(*), max(created_at) FROM study_sessions"
        " GROUP BY learner_id, group_id",
    ),
    "activity_progress": (
        "SELECT learner_id, study_activity_id, sessions_count FROM activity_progress",
        "SELECT learner_id, study_activity_id, count(*) FROM study_sessions"
        " GROUP BY learner_id, study_activity_id",
    ),
    # Reviews count on the day they were answered.
    "daily_activity": (
        "SELECT learner_id, day, sessions_count, reviews_count, correct_count FROM daily_activity",
        "SELECT learner_id, day, sum(sessions), sum(reviews), sum(correct) FROM ("
        " SELECT learner_id, {day:created_at} AS day, 1 AS sessions, 0 AS reviews, 0 AS correct"
        " FROM study_sessions UNION ALL"
        " SELECT r.learner_id, {day:r.reviewed_at}, 0, 1, {right} FROM word_review_items AS r"
        ") AS e GROUP BY learner_id, day",
    ),
    # Every write sets the writer's last_active_at: a session's start, a batch's record.
    "learners.last_active_at": (
        "SELECT id, last_active_at FROM learners WHERE last_active_at IS NOT NULL",
        "SELECT learner_id, max(at) FROM (SELECT learner_id, created_at AS at"
        " FROM study_sessions UNION ALL SELECT learner_id, created_at FROM word_review_items"
        ") AS e GROUP BY learner_id",
    ),
}
# Reviews that break what the API guarantees of a row: the session's learner, answered
# not before the session started nor after it was recorded, correct exactly when the
# rating is not again, a rating of 1 to 4, a duration of 0 to an hour.
LOG_CHECK = (
    "SELECT r.id FROM word_review_items AS r JOIN study_sessions AS s"
    " ON s.id = r.study_session_id WHERE r.learner_id <> s.learner_id"
    " OR r.reviewed_at < s.created_at OR r.reviewed_at > r.created_at"
    " OR {right} <> CASE WHEN r.rating <> 1 THEN 1 ELSE 0 END"
    " OR r.rating NOT BETWEEN 1 AND 4 OR r.duration_ms NOT BETWEEN 0 AND 3600000"
)


def _dialect_sql(sql: str, dialect: str) -> str:
    """A COUNTER_CHECKS statement with its placeholders filled in for the dialect."""
    sql = sql.replace("{right}", "CASE WHEN r.correct THEN 1 ELSE 0 END")
    sql = sql.replace("{wrong}", "CASE WHEN NOT r.correct THEN 1 ELSE 0 END")
    if dialect == "sqlite":
        return re.sub(r"\{day:([\w.]+)\}", r"date(\1)", sql)
    return re.sub(r"\{day:([\w.]+)\}", r"CAST((\1 AT TIME ZONE 'UTC') AS date)", sql)


def check_counters(engine: Engine) -> dict[str, dict[str, int]]:
    """Compare every counter table with a recomputation from the raw rows, in SQL.

    Returns, per table, its rows, the rows recomputed, and how many of each have no
    equal in the other (``missing``: recomputed but not in the table; ``extra``: in
    the table but not recomputed). Exact when both are 0 and the row counts agree.
    ``word_review_items`` reports the reviews that break LOG_CHECK as ``extra``.
    Meant for a database the generator filled (no resets, no idempotency replays).
    """
    dialect = engine.dialect.name
    report = {}
    with db.reading(engine) as connection:

        def count(sql: str) -> int:
            statement = f"SELECT count(*) FROM ({sql}) AS c"  # noqa: S608 (constants only)
            return connection.exec_driver_sql(statement).scalar_one()

        for name, (stored, recomputed) in COUNTER_CHECKS.items():
            stored, recomputed = (_dialect_sql(sql, dialect) for sql in (stored, recomputed))
            report[name] = {
                "rows": count(stored),
                "recomputed": count(recomputed),
                "missing": count(f"{recomputed} EXCEPT {stored}"),
                "extra": count(f"{stored} EXCEPT {recomputed}"),
            }
        reviews = count("SELECT id FROM word_review_items")
        report["word_review_items"] = {
            "rows": reviews,
            "recomputed": reviews,
            "missing": 0,
            "extra": count(_dialect_sql(LOG_CHECK, dialect)),
        }
    return report


_progress = schema.word_progress
_log = schema.word_review_items
_WORD_LOG = (
    select(_log.c.word_id, _log.c.id, _log.c.reviewed_at, _log.c.rating)
    .where(_log.c.learner_id == bindparam("learner_id"))
    .order_by(_log.c.word_id, _log.c.reviewed_at, _log.c.id)
)


def check_cards(
    engine: Engine, pairs: int = 1_000, learners: int = 3, seed: int = 1
) -> dict[str, Any]:
    """Replay (learner, word) logs as the database holds them and compare each card
    with the stored one, field by field; recount the recall counters of whole learners.

    ``pairs`` (learner, word) pairs are drawn at random from word_progress, plus every
    word of ``learners`` learners drawn at random, whose daily_activity recall counters
    (reviews answered in the review state, and those not answered again) are recounted
    from the replays. Returns how many were compared and what differs (up to 5 examples).
    """
    schedule = scheduling.scheduler(DESIRED_RETENTION)
    rng = random.Random(seed)
    differences: list[str] = []
    report: dict[str, Any] = {"cards": 0, "cards_differ": 0, "days": 0, "days_differ": 0}
    with db.reading(engine) as connection:
        keys = sorted(
            (learner_id, word_id)
            for learner_id, word_id in connection.execute(
                select(_progress.c.learner_id, _progress.c.word_id)
            )
        )
        everyone = sorted({learner_id for learner_id, _ in keys})
        whole = sorted(rng.sample(everyone, min(learners, len(everyone))))
        sampled = rng.sample(keys, min(pairs, len(keys)))
        wanted: dict[int, set[int] | None] = {learner_id: None for learner_id in whole}
        for learner_id, word_id in sampled:
            words = wanted.setdefault(learner_id, set())
            if words is not None:
                words.add(word_id)
        report["learners"] = whole
        for learner_id, words in sorted(wanted.items()):
            cards = {
                row.word_id: scheduling.from_row(row)
                for row in connection.execute(
                    select(_progress).where(_progress.c.learner_id == learner_id)
                )
            }
            logs: dict[int, list[scheduling.LoggedReview]] = defaultdict(list)
            if words is None:
                rows = connection.execute(_WORD_LOG, {"learner_id": learner_id})
            else:
                rows = connection.execute(
                    _WORD_LOG.where(_log.c.word_id.in_(sorted(words))), {"learner_id": learner_id}
                )
            for word_id, id_, reviewed_at, rating in rows:
                logs[word_id].append(scheduling.LoggedReview(id_, reviewed_at, rating))
            recalls: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
            for word_id in sorted(words if words is not None else cards.keys() | logs.keys()):
                log = logs.get(word_id, [])
                applied = scheduling.replay(schedule, log) if log else None
                report["cards"] += 1
                if (applied and applied.card) != cards.get(word_id):
                    report["cards_differ"] += 1
                    differences.append(
                        f"learner {learner_id}, word {word_id}: stored {cards.get(word_id)},"
                        f" replayed {applied and applied.card}"
                    )
                if words is None and applied:
                    for review, state in zip(log, applied.states_before, strict=True):
                        if state == scheduling.REVIEW:
                            counts = recalls[review.reviewed_at.astimezone(UTC).date()]
                            counts[0] += 1
                            counts[1] += scheduling.is_correct(review.rating)
            if words is not None:
                continue
            days = schema.daily_activity
            stored = {
                row.day: [row.recall_reviews_count, row.recalled_count]
                for row in connection.execute(
                    select(days.c.day, days.c.recall_reviews_count, days.c.recalled_count).where(
                        days.c.learner_id == learner_id
                    )
                )
            }
            for day in sorted(stored.keys() | recalls.keys()):
                report["days"] += 1
                if stored.get(day) != recalls.get(day, [0, 0]):
                    report["days_differ"] += 1
                    differences.append(
                        f"learner {learner_id}, {day}: stored recalls {stored.get(day)},"
                        f" replayed {recalls.get(day, [0, 0])}"
                    )
    report["examples"] = differences[:5]
    return report


@click.command()
@click.option("--database-url", required=True, help="SQLAlchemy URL (sqlite or postgresql).")
@click.option("--sessions", type=click.IntRange(0), required=True, help="Study sessions to add.")
@click.option(
    "--reviews-per-session", type=click.IntRange(0, 500), required=True, help="Reviews each."
)
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
@click.option(
    "--learners",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Learners to spread the sessions over (1: the default learner only).",
)
@click.option(
    "--jobs",
    type=click.IntRange(1),
    default=os.cpu_count() or 1,
    show_default="the CPUs",
    help="Processes that compute the cards.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Afterwards, compare every counter table with a recomputation from the rows, and"
    " a sample of cards with a replay of their logs.",
)
@click.option(
    "--check-pairs",
    type=click.IntRange(0),
    default=1_000,
    show_default=True,
    help="(learner, word) cards --check replays, drawn at random.",
)
@click.option(
    "--check-learners",
    type=click.IntRange(0),
    default=3,
    show_default=True,
    help="Learners whose every card and recall counter --check replays, drawn at random.",
)
def main(
    database_url: str,
    sessions: int,
    reviews_per_session: int,
    seed: int,
    learners: int,
    jobs: int,
    check: bool,
    check_pairs: int,
    check_learners: int,
) -> None:
    """Migrate, seed and fill a lang-portal database with a long study history."""
    report = generate(database_url, sessions, reviews_per_session, seed, learners, jobs=jobs)
    click.echo(
        f"Loaded {report['sessions']} sessions and {report['reviews']} reviews of "
        f"{report['learners']} learners in {report['total_seconds']} s "
        f"(rows {report['load_seconds']} s, cards {report['card_seconds']} s, "
        f"counters {report['counter_seconds']} s)."
    )
    if not check:
        return
    engine = db.create_engine_from_settings(settings.load({"DATABASE_URL": database_url}))
    try:
        results = check_counters(engine)
        cards = check_cards(engine, check_pairs, check_learners, seed)
    finally:
        engine.dispose()
    wrong = []
    for name, result in results.items():
        click.echo(
            f"  {name}: {result['rows']} rows, {result['recomputed']} recomputed, "
            f"{result['missing']} missing, {result['extra']} extra"
        )
        if result["missing"] or result["extra"] or result["rows"] != result["recomputed"]:
            wrong.append(name)
    click.echo(
        f"  cards: {cards['cards']} replayed, {cards['cards_differ']} differ; recall counters"
        f" of learners {cards['learners']}: {cards['days']} days, {cards['days_differ']} differ"
    )
    for example in cards["examples"]:
        click.echo(f"    {example}")
    if cards["cards_differ"]:
        wrong.append("cards")
    if cards["days_differ"]:
        wrong.append("daily_activity recall counters")
    if wrong:
        raise click.ClickException(f"counters differ from the rows: {', '.join(wrong)}")
    click.echo("Every counter and every card checked equals its recomputation from the rows.")


if __name__ == "__main__":
    main()
