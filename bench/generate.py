"""Fill a lang-portal database with a long study history, for the benchmark.

    python bench/generate.py --database-url sqlite:////tmp/lp-1m.db \\
        --sessions 1000000 --reviews-per-session 10 --learners 1000 --seed 1

The database is migrated and seeded first (the same code as ``lang-portal init-db``),
then N study sessions spread over the last 365 days and N x K reviews are bulk-loaded.
Each session gets K reviews of words from its own group, recorded as one batch a few
minutes after it started, which is what POST /api/study-sessions/<id>/review does.

``--learners L`` spreads the sessions over L learners: the default learner (id 1, a
teacher, made by the migration) and learners 2..L, added here as ``learner-0002``, ...
with the role ``learner`` and no token. Each session's learner is drawn uniformly from
the seed; with L = 1 (the default) every session is the default learner's and the rows
are the same as before learners existed.

Every counter the API keeps (per session, and per learner: per word, group, activity
and UTC day, and the learner's last_active_at) is computed here while the rows are
generated and written at the end, so the database is exactly what the API would have
left behind; ``--check`` compares every counter table with a recomputation from the
raw rows in SQL, and tests/test_counters.py holds the generator to the same. The same
seed gives the same rows.

Sessions are written with executemany; their reviews are expanded by the database
itself (INSERT ... SELECT from per-group pools of random draws, see ReviewPools), so
10M review rows never pass through Python. Rows arrive in id order, so the indexes stay
in place: appending to them is cheaper than rebuilding them afterwards (the session
indexes, which start with the learner, grow at one end per learner: 1M sessions over
1,000 learners loaded in 42 s here, where the code before learners took 29 s). SQLite is
loaded with ``synchronous=OFF`` and ``journal_mode=OFF`` (a crash during the load
leaves a broken file: run it again) and returned to WAL at the end; the service itself
never runs like that. PostgreSQL is loaded with COPY. The history must
be empty and, with L > 1, the default learner the only one: use a fresh database.
"""

from __future__ import annotations

import random
import re
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
from lang_portal.queries.learners import DEFAULT_LEARNER_ID, name_key

HISTORY = timedelta(days=365)
# Reviews are recorded this many seconds after their session started.
REVIEW_DELAY_SECONDS = (30, 900)
# Share of reviews answered correctly.
CORRECT_SHARE = 0.7
# Sessions generated and written per chunk (each chunk is one transaction).
CHUNK = 20_000


@dataclass
class Counters:
    """Every counter the API keeps, per learner, accumulated while rows are generated."""

    # learner -> {word_id * 2 + (0 if right else 1): answers}, from :func:`count_word_answers`.
    word_answers: dict[int, dict[int, int]] = field(default_factory=dict)
    # (learner, group) -> sessions, and when the newest started.
    group_sessions: Counter[tuple[int, int]] = field(default_factory=Counter)
    group_last_session: dict[tuple[int, int], str] = field(default_factory=dict)
    # (learner, activity) -> sessions.
    activity_sessions: Counter[tuple[int, int]] = field(default_factory=Counter)
    # (learner, UTC day) -> sessions started, reviews and right answers recorded that day.
    day_sessions: Counter[tuple[int, str]] = field(default_factory=Counter)
    day_reviews: Counter[tuple[int, str]] = field(default_factory=Counter)
    day_correct: Counter[tuple[int, str]] = field(default_factory=Counter)
    # learner -> the time of their last write (a new session or a review batch).
    last_active: dict[int, str] = field(default_factory=dict)
    # (learner, group, pool offset) -> how many of the learner's sessions reviewed that
    # slice of the group's pool.
    slices: Counter[tuple[int, int, int]] = field(default_factory=Counter)


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
    learners: int,
    group_ids: list[int],
    activity_ids: list[int],
    pools: ReviewPools,
    k: int,
    counters: Counters,
) -> Iterator[list[tuple[Any, ...]]]:
    """Yield study_sessions rows, CHUNK at a time, with their counters; update ``counters``.

    ``starts`` are the sessions' start times in microseconds since the epoch, sorted,
    so ids (from 1) grow with time as they do when the API creates sessions. Each
    session belongs to a learner drawn uniformly from 1..``learners``; with one learner
    nothing is drawn, so the rows are those of a database without learners.
    """
    timestamp = Timestamps()
    low, high = (seconds * 1_000_000 for seconds in REVIEW_DELAY_SECONDS)
    last_active = counters.last_active
    for chunk_start in range(0, len(starts), CHUNK):
        rows: list[tuple[Any, ...]] = []
        for offset, start_us in enumerate(starts[chunk_start : chunk_start + CHUNK]):
            study_session_id = chunk_start + offset + 1
            group_id = rng.choice(group_ids)
            activity_id = rng.choice(activity_ids)
            learner_id = rng.randrange(learners) + 1 if learners > 1 else 1
            started = timestamp(start_us)
            learner_group = (learner_id, group_id)
            counters.group_sessions[learner_group] += 1
            counters.group_last_session[learner_group] = started  # starts are sorted
            counters.activity_sessions[learner_id, activity_id] += 1
            counters.day_sessions[learner_id, started[:10]] += 1
            if k == 0:
                last_active[learner_id] = started  # starts are sorted
                rows.append(
                    (study_session_id, learner_id, group_id, activity_id, started, 0, 0, 0, None)
                )
                continue
            # Review times are not sorted: a batch comes 30 s to 15 min after its start.
            reviewed = timestamp(min(start_us + rng.randrange(low, high), now_us))
            if reviewed > last_active.get(learner_id, ""):
                last_active[learner_id] = reviewed
            at = pools.offset(study_session_id)
            counters.slices[learner_id, group_id, at] += 1
            correct = sum(pools.answers[group_id][at : at + k])
            learner_day = (learner_id, reviewed[:10])
            counters.day_reviews[learner_day] += k
            counters.day_correct[learner_day] += correct
            rows.append(
                (
                    study_session_id,
                    learner_id,
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
    """Per learner and (word, answer), how many reviews their sessions' pool slices add up to.

    A slice's answers are counted once per (group, offset) and then added, times the
    number of sessions, to each learner that reviewed it.
    """
    drawn_by_slice: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {}
    word_answers = counters.word_answers
    for (learner_id, group_id, at), sessions in counters.slices.items():
        drawn = drawn_by_slice.get((group_id, at))
        if drawn is None:
            pairs = zip(
                pools.words[group_id][at : at + k],
                pools.answers[group_id][at : at + k],
                strict=True,
            )
            drawn = drawn_by_slice[group_id, at] = tuple(
                (word_id * 2 + (0 if answer else 1), n)
                for (word_id, answer), n in Counter(pairs).items()
            )
        answers = word_answers.get(learner_id)
        if answers is None:
            answers = word_answers[learner_id] = defaultdict(int)
        for index, n in drawn:
            answers[index] += n * sessions


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
        for table in ("study_sessions", "learners"):
            self.driver.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608
                f" (SELECT max(id) FROM {table}))"
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


PROGRESS_TABLES = ("word_progress", "group_progress", "activity_progress", "daily_activity")


def write_counters(sink: Any, counters: Counters, dialect: str) -> None:
    """Write every counter the API keeps from what was generated (the history was empty).

    A learner has a row in a progress table only where they have activity, as the API
    leaves it: a word they reviewed, a group or activity they started a session with,
    a day they wrote on.
    """
    for table in PROGRESS_TABLES:
        sink.execute(f"DELETE FROM {table}")  # noqa: S608
    word_rows = []
    for learner_id, answers in sorted(counters.word_answers.items()):
        for word_id in sorted({index // 2 for index in answers}):
            word_rows.append(
                (learner_id, word_id, answers.get(word_id * 2, 0), answers.get(word_id * 2 + 1, 0))
            )
    sink.write(
        "word_progress", ("learner_id", "word_id", "correct_count", "wrong_count"), word_rows
    )
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
    days = sorted(set(counters.day_sessions) | set(counters.day_reviews))
    sink.write(
        "daily_activity",
        ("learner_id", "day", "sessions_count", "reviews_count", "correct_count"),
        [
            (*key, counters.day_sessions[key], counters.day_reviews[key], counters.day_correct[key])
            for key in days
        ],
    )
    sink.executemany(
        "UPDATE learners SET last_active_at = ? WHERE id = ?",
        [
            (_utc(at, dialect), learner_id)
            for learner_id, at in sorted(counters.last_active.items())
        ],
    )


def learner_rows(learners: int, created_at: str) -> list[tuple[Any, ...]]:
    """Rows of learners 2..``learners`` (1, the default learner, is the migration's)."""
    rows = []
    for learner_id in range(DEFAULT_LEARNER_ID + 1, learners + 1):
        name = f"learner-{learner_id:04d}"
        rows.append((learner_id, name, name_key(name), "learner", created_at))
    return rows


LEARNER_COLUMNS = ("id", "name", "name_key", "role", "created_at")


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
) -> dict[str, float]:
    """Migrate, seed and fill the database; returns what was written and how long it took.

    The sessions are spread over ``learners`` learners (see the module's docstring).
    Raises click.ClickException when the database already holds study sessions, or
    learners other than the default one while ``learners`` > 1.
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
    now_us = (datetime.now(UTC).replace(tzinfo=None) - _EPOCH) // timedelta(microseconds=1)
    span_us = HISTORY // timedelta(microseconds=1)
    starts = sorted(now_us - rng.randrange(span_us) for _ in range(sessions))

    dialect = engine.dialect.name
    engine.dispose()  # SQLite leaves WAL mode only when no other connection is open
    sink: Any = SqliteSink(engine) if dialect == "sqlite" else PostgresSink(engine)
    # The learners exist from the start of the history on.
    created_at = _utc(Timestamps()(now_us - span_us), dialect)
    sink.begin()
    sink.write("learners", LEARNER_COLUMNS, learner_rows(learners, created_at))
    sink.commit()
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
        rng, starts, now_us, learners, sorted(group_words), activity_ids, pools, k, counters
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
        "learners": learners,
        "load_seconds": round(loaded - began, 1),
        "counter_seconds": round(finished - loaded, 1),
        "total_seconds": round(finished - began, 1),
    }


# Per counter table: (its rows, the same rows recomputed from study_sessions and
# word_review_items). {right} and {wrong} are a review's 1/0 answer, {day:column} the
# dialect's UTC day of a timestamp column.
COUNTER_CHECKS = {
    "study_sessions": (
        "SELECT id, review_items_count, correct_count, wrong_count, last_review_at"
        " FROM study_sessions",
        "SELECT s.id, count(r.id), coalesce(sum({right}), 0), coalesce(sum({wrong}), 0),"
        " max(r.created_at) FROM study_sessions AS s"
        " LEFT JOIN word_review_items AS r ON r.study_session_id = s.id GROUP BY s.id",
    ),
    "word_progress": (
        "SELECT learner_id, word_id, correct_count, wrong_count FROM word_progress",
        "SELECT s.learner_id, r.word_id, sum({right}), sum({wrong}) FROM word_review_items AS r"
        " JOIN study_sessions AS s ON s.id = r.study_session_id GROUP BY s.learner_id, r.word_id",
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
    "daily_activity": (
        "SELECT learner_id, day, sessions_count, reviews_count, correct_count FROM daily_activity",
        "SELECT learner_id, day, sum(sessions), sum(reviews), sum(correct) FROM ("
        " SELECT learner_id, {day:created_at} AS day, 1 AS sessions, 0 AS reviews, 0 AS correct"
        " FROM study_sessions UNION ALL"
        " SELECT s.learner_id, {day:r.created_at}, 0, 1, {right} FROM word_review_items AS r"
        " JOIN study_sessions AS s ON s.id = r.study_session_id) AS e GROUP BY learner_id, day",
    ),
    # Every write sets the writer's last_active_at: a session's start, a batch's time.
    "learners.last_active_at": (
        "SELECT id, last_active_at FROM learners WHERE last_active_at IS NOT NULL",
        "SELECT learner_id, max(at) FROM (SELECT learner_id, created_at AS at"
        " FROM study_sessions UNION ALL SELECT learner_id, last_review_at FROM study_sessions"
        " WHERE last_review_at IS NOT NULL) AS e GROUP BY learner_id",
    ),
}


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
    "--check",
    is_flag=True,
    help="Afterwards, compare every counter table with a recomputation from the rows.",
)
def main(
    database_url: str,
    sessions: int,
    reviews_per_session: int,
    seed: int,
    learners: int,
    check: bool,
) -> None:
    """Migrate, seed and fill a lang-portal database with a long study history."""
    report = generate(database_url, sessions, reviews_per_session, seed, learners)
    click.echo(
        f"Loaded {report['sessions']} sessions and {report['reviews']} reviews of "
        f"{report['learners']} learners in {report['total_seconds']} s "
        f"(rows {report['load_seconds']} s, counters {report['counter_seconds']} s)."
    )
    if not check:
        return
    engine = db.create_engine_from_settings(settings.load({"DATABASE_URL": database_url}))
    try:
        results = check_counters(engine)
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
    if wrong:
        raise click.ClickException(f"counters differ from the rows: {', '.join(wrong)}")
    click.echo("Every counter equals its recomputation from the rows.")


if __name__ == "__main__":
    main()
