"""Fill a lang-portal database with a long study history, for the benchmark.

    python bench/generate.py --database-url sqlite:////tmp/lp-1m.db \\
        --sessions 1000000 --reviews-per-session 10 --seed 1

The database is migrated and seeded first (the same code as ``lang-portal init-db``),
then N study sessions spread over the last 365 days and N x K reviews are bulk-loaded.
Each session gets K reviews of words from its own group, recorded as one batch a few
minutes after it started, which is what POST /api/study-sessions/<id>/review does.

Every counter the API keeps (per word, session, group, activity and UTC day) is
computed here while the rows are generated and written at the end, so the database
is exactly what the API would have left behind; tests/test_counters.py checks that
against a recomputation from the raw rows. The same seed gives the same rows.

Sessions are written with executemany; their reviews are expanded by the database
itself (INSERT ... SELECT from per-group pools of random draws, see ReviewPools), so
10M review rows never pass through Python. Rows arrive in id order, so the indexes stay
in place: appending to them is cheaper than rebuilding them afterwards. SQLite is
loaded with ``synchronous=OFF`` and ``journal_mode=OFF`` (a crash during the load
leaves a broken file: run it again) and returned to WAL at the end; the service itself
never runs like that. PostgreSQL is loaded with COPY. The history must
be empty: run ``POST /api/study-sessions/reset`` or use a fresh database.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from sqlalchemy import Engine, func, select

from lang_portal import db, schema, settings
from lang_portal.cli import prepare_database

HISTORY = timedelta(days=365)
# Reviews are recorded this many seconds after their session started.
REVIEW_DELAY_SECONDS = (30, 900)
# Share of reviews answered correctly.
CORRECT_SHARE = 0.7
# Sessions generated and written per chunk (each chunk is one transaction).
CHUNK = 20_000


@dataclass
class Counters:
    """Every counter the API keeps, accumulated while rows are generated."""

    word_answers: Counter[tuple[int, int]] = field(default_factory=Counter)
    group_sessions: Counter[int] = field(default_factory=Counter)
    group_last_session: dict[int, str] = field(default_factory=dict)
    activity_sessions: Counter[int] = field(default_factory=Counter)
    day_sessions: Counter[str] = field(default_factory=Counter)
    day_reviews: Counter[str] = field(default_factory=Counter)
    day_correct: Counter[str] = field(default_factory=Counter)
    # (group, pool offset) -> how many sessions reviewed that slice of the group's pool.
    slices: Counter[tuple[int, int]] = field(default_factory=Counter)


_EPOCH = datetime(1970, 1, 1)
_DAY_US = 86_400_000_000


class Timestamps:
    """Formats microseconds since the epoch as SQLAlchemy stores DateTime in SQLite.

    ``YYYY-MM-DD HH:MM:SS.ffffff``, in UTC; PostgreSQL's COPY takes it with ``+00``.
    The date part is cached: a year of history has only 366 of them.
    """

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def __call__(self, microseconds: int) -> str:
        day, rest = divmod(microseconds, _DAY_US)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = self._days[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d ")
        seconds, micro = divmod(rest, 1_000_000)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}.{micro:06d}"


@dataclass
class ReviewPools:
    """Per group, a long random sequence of (word, answer) draws that sessions take slices of.

    Session ``id`` reviews the K draws starting at :meth:`offset`; the offset is a
    function of the id that SQL computes too, so the database can expand 10M review
    rows by itself (INSERT ... SELECT) while Python knows each session's counts.
    """

    size: int
    salt: int
    words: dict[int, list[int]]
    answers: dict[int, list[int]]

    MULTIPLIER = 40_503  # odd, so consecutive ids land far apart in the pool

    @classmethod
    def draw(
        cls, rng: random.Random, group_words: dict[int, list[int]], k: int, size: int = 4096
    ) -> ReviewPools:
        words = {g: rng.choices(ids, k=size + k) for g, ids in sorted(group_words.items())}
        answers = {
            g: [1 if rng.random() < CORRECT_SHARE else 0 for _ in range(size + k)] for g in words
        }
        return cls(size, rng.randrange(size), words, answers)

    def offset(self, study_session_id: int) -> int:
        return (study_session_id * self.MULTIPLIER + self.salt) % self.size


def generate_sessions(
    rng: random.Random,
    starts: list[int],
    now_us: int,
    group_ids: list[int],
    activity_ids: list[int],
    pools: ReviewPools,
    k: int,
    counters: Counters,
) -> Iterator[list[tuple[Any, ...]]]:
    """Yield study_sessions rows, CHUNK at a time, with their counters; update ``counters``.

    ``starts`` are the sessions' start times in microseconds since the epoch, sorted,
    so ids (from 1) grow with time as they do when the API creates sessions.
    """
    timestamp = Timestamps()
    low, high = (seconds * 1_000_000 for seconds in REVIEW_DELAY_SECONDS)
    for chunk_start in range(0, len(starts), CHUNK):
        rows: list[tuple[Any, ...]] = []
        for offset, start_us in enumerate(starts[chunk_start : chunk_start + CHUNK]):
            study_session_id = chunk_start + offset + 1
            group_id = rng.choice(group_ids)
            activity_id = rng.choice(activity_ids)
            started = timestamp(start_us)
            counters.group_sessions[group_id] += 1
            counters.group_last_session[group_id] = started  # starts are sorted
            counters.activity_sessions[activity_id] += 1
            counters.day_sessions[started[:10]] += 1
            if k == 0:
                rows.append((study_session_id, group_id, activity_id, started, 0, 0, 0, None))
                continue
            reviewed = timestamp(min(start_us + rng.randrange(low, high), now_us))
            at = pools.offset(study_session_id)
            counters.slices[group_id, at] += 1
            correct = sum(pools.answers[group_id][at : at + k])
            day = reviewed[:10]
            counters.day_reviews[day] += k
            counters.day_correct[day] += correct
            rows.append(
                (
                    study_session_id,
                    group_id,
                    activity_id,
                    started,
                    k,
                    correct,
                    k - correct,
                    reviewed,
                )
            )
        yield rows


def count_word_answers(pools: ReviewPools, k: int, counters: Counters) -> None:
    """Per (word, answer), how many reviews the sessions' pool slices add up to."""
    for (group_id, at), sessions in counters.slices.items():
        drawn = zip(
            pools.words[group_id][at : at + k], pools.answers[group_id][at : at + k], strict=True
        )
        for pair, n in Counter(drawn).items():
            counters.word_answers[pair] += n * sessions


SESSION_COLUMNS = (
    "id",
    "group_id",
    "study_activity_id",
    "created_at",
    "review_items_count",
    "correct_count",
    "wrong_count",
    "last_review_at",
)


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
        self.driver.execute(
            "SELECT setval(pg_get_serial_sequence('study_sessions', 'id'),"
            " (SELECT max(id) FROM study_sessions))"
        )
        self.driver.execute("VACUUM ANALYZE")  # what autovacuum would soon do
        self.raw.close()


def _answer(answer: int, dialect: str) -> int | bool:
    """A review's answer as the dialect's boolean column takes it."""
    return answer if dialect == "sqlite" else bool(answer)


def _utc(value: str | None, dialect: str) -> str | None:
    """A generated timestamp as the dialect's bulk writer takes it."""
    if value is None or dialect == "sqlite":
        return value
    return value + "+00"


def write_counters(sink: Any, counters: Counters, dialect: str) -> None:
    """Set every counter the API keeps from what was generated (the history was empty)."""
    sink.execute("UPDATE words SET correct_count = 0, wrong_count = 0")
    per_word: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for (word_id, correct), n in counters.word_answers.items():
        per_word[word_id][0 if correct else 1] += n
    sink.executemany(
        "UPDATE words SET correct_count = ?, wrong_count = ? WHERE id = ?",
        [(right, wrong, word_id) for word_id, (right, wrong) in per_word.items()],
    )
    sink.execute("UPDATE groups SET sessions_count = 0, last_session_at = NULL")
    sink.executemany(
        "UPDATE groups SET sessions_count = ?, last_session_at = ? WHERE id = ?",
        [
            (n, _utc(counters.group_last_session[group_id], dialect), group_id)
            for group_id, n in counters.group_sessions.items()
        ],
    )
    sink.execute("UPDATE study_activities SET sessions_count = 0")
    sink.executemany(
        "UPDATE study_activities SET sessions_count = ? WHERE id = ?",
        [(n, activity_id) for activity_id, n in counters.activity_sessions.items()],
    )
    sink.execute("DELETE FROM daily_activity")
    days = sorted(set(counters.day_sessions) | set(counters.day_reviews))
    sink.write(
        "daily_activity",
        ("day", "sessions_count", "reviews_count", "correct_count"),
        [
            (day, counters.day_sessions[day], counters.day_reviews[day], counters.day_correct[day])
            for day in days
        ],
    )


POOL_TABLE = (
    "CREATE TEMPORARY TABLE review_pool (group_id INTEGER NOT NULL, position INTEGER NOT NULL,"
    " word_id INTEGER NOT NULL, correct BOOLEAN NOT NULL, PRIMARY KEY (group_id, position))"
)


# Writes K reviews for each session with an id in [first, last] from its pool slice; every
# review of a session carries the session's last_review_at (one batch). Parameters:
# (multiplier, salt, size) twice for the slice's start, then K, first, last.
EXPAND_REVIEWS = (
    "INSERT INTO word_review_items (word_id, study_session_id, correct, created_at)"
    " SELECT p.word_id, s.id, p.correct, s.last_review_at"
    " FROM study_sessions AS s JOIN review_pool AS p ON p.group_id = s.group_id"
    " AND p.position >= (s.id * ? + ?) % ? AND p.position < (s.id * ? + ?) % ? + ?"
    " WHERE s.id BETWEEN ? AND ? ORDER BY s.id, p.position"
)


def _read_vocabulary(engine: Engine) -> tuple[dict[int, list[int]], list[int]]:
    """Each group's word ids and every activity id; refuses a database with history."""
    with db.reading(engine) as connection:
        existing = connection.execute(
            select(func.count()).select_from(schema.study_sessions)
        ).scalar()
        if existing:
            raise click.ClickException(
                f"the database already holds {existing} study sessions; use a fresh one"
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
    progress: bool = True,
) -> dict[str, float]:
    """Migrate, seed and fill the database; returns what was written and how long it took.

    Raises click.ClickException when the database already holds study sessions.
    """
    began = time.perf_counter()
    k = reviews_per_session
    engine = db.create_engine_from_settings(settings.load({"DATABASE_URL": database_url}))
    prepare_database(engine)
    group_words, activity_ids = _read_vocabulary(engine)

    rng = random.Random(seed)
    pools = ReviewPools.draw(rng, group_words, k)
    now_us = (datetime.now(UTC).replace(tzinfo=None) - _EPOCH) // timedelta(microseconds=1)
    span_us = HISTORY // timedelta(microseconds=1)
    starts = sorted(now_us - rng.randrange(span_us) for _ in range(sessions))

    dialect = engine.dialect.name
    engine.dispose()  # SQLite leaves WAL mode only when no other connection is open
    sink: Any = SqliteSink(engine) if dialect == "sqlite" else PostgresSink(engine)
    sink.execute(POOL_TABLE)
    sink.write(
        "review_pool",
        ("group_id", "position", "word_id", "correct"),
        [
            (group_id, position, word_id, _answer(answer, dialect))
            for group_id, drawn in pools.words.items()
            for position, (word_id, answer) in enumerate(
                zip(drawn, pools.answers[group_id], strict=True)
            )
        ],
    )
    slice_start = (ReviewPools.MULTIPLIER, pools.salt, pools.size)
    counters = Counters()
    chunks = generate_sessions(
        rng, starts, now_us, sorted(group_words), activity_ids, pools, k, counters
    )
    with click.progressbar(
        length=sessions,
        label=f"Loading {sessions} sessions and {sessions * k} reviews",
        file=sys.stderr if progress else None,
    ) as bar:
        for rows in chunks:
            if dialect != "sqlite":
                rows = [(*r[:3], _utc(r[3], dialect), *r[4:7], _utc(r[7], dialect)) for r in rows]
            sink.begin()
            sink.write("study_sessions", SESSION_COLUMNS, rows)
            if k:
                sink.execute(EXPAND_REVIEWS, (*slice_start * 2, k, rows[0][0], rows[-1][0]))
            sink.commit()
            bar.update(len(rows))
    loaded = time.perf_counter()
    count_word_answers(pools, k, counters)
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
        "load_seconds": round(loaded - began, 1),
        "counter_seconds": round(finished - loaded, 1),
        "total_seconds": round(finished - began, 1),
    }


@click.command()
@click.option("--database-url", required=True, help="SQLAlchemy URL (sqlite or postgresql).")
@click.option("--sessions", type=click.IntRange(0), required=True, help="Study sessions to add.")
@click.option(
    "--reviews-per-session", type=click.IntRange(0, 500), required=True, help="Reviews each."
)
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
def main(database_url: str, sessions: int, reviews_per_session: int, seed: int) -> None:
    """Migrate, seed and fill a lang-portal database with a long study history."""
    report = generate(database_url, sessions, reviews_per_session, seed)
    click.echo(
        f"Loaded {report['sessions']} sessions and {report['reviews']} reviews in "
        f"{report['total_seconds']} s (rows {report['load_seconds']} s, "
        f"counters {report['counter_seconds']} s)."
    )


if __name__ == "__main__":
    main()
