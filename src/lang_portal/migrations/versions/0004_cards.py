"""cards: every review rated and timed, every word's card replayed from its log

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-19 08:30:00.000000

Spaced repetition (lang_portal.scheduling, FSRS) schedules each learner's card for
each word from that word's review log, so the log gains what FSRS reads:

- word_review_items: its index on ``word_id`` alone goes (no query reads by word
  alone), ``learner_id`` (the session's, repeated, so that one learner's
  log of one word is one range of the new (learner_id, word_id, reviewed_at, id)
  index), ``rating`` (1 again to 4 easy; an old review was right or wrong: good, 3,
  or again, 1), ``reviewed_at`` (when it was answered; an old review was answered
  when it was recorded, ``created_at``) and ``duration_ms`` (unknown for old
  reviews: NULL).
- word_progress: the card (state, step, stability, difficulty, due, last review,
  first review), its reps and lapses, and the due queue's indexes.
- daily_activity: per day, the reviews answered in the review state and how many of
  them were recalled (the dashboard's retention).

Every word_progress row (0003 made one for each word a learner reviewed) gets its
card the way the application rebuilds one: the word's reviews replayed in
(reviewed_at, id) order by lang_portal.scheduling (imported, not copied: a card must
be what the application's own replay gives), with the DESIRED_RETENTION setting of
the environment the migration runs in. The log is read as a stream (a database may
hold millions of reviews) and the cards are written in batches; progress is logged
every WORDS_PER_PROGRESS_LINE words.

On SQLite, word_review_items needs a NOT NULL foreign key column, which ALTER TABLE
cannot add; the table is rebuilt as 0003 rebuilt it (create under a temporary name,
copy, drop, rename), with its AUTOINCREMENT sequence restored so that an id a reset
deleted is never handed out again. No table refers to word_review_items, so its drop
deletes nothing else. PostgreSQL adds the columns in place (at the table's end).

Downgrading drops what was added: 0003's columns of every row are kept as they are
(a review's ``created_at`` stays when it was recorded), the ratings, answer times,
durations and cards are lost, and the day counters keep counting reviews on the day
they were answered.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

import lang_portal.scheduling
import lang_portal.schema
import lang_portal.settings

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = lang_portal.schema.UTCDateTime
NEW = "_new_"
GOOD, AGAIN = 3, 1  # the ratings of an old review: right or wrong
# word_review_items at 0003 and at 0004, each in its table's column order.
OLD_REVIEW_COLUMNS = ("id", "word_id", "study_session_id", "correct", "created_at")
REVIEW_COLUMNS = (
    "id",
    "learner_id",
    "word_id",
    "study_session_id",
    "correct",
    "rating",
    "reviewed_at",
    "duration_ms",
    "created_at",
)
SESSION_WORD_INDEX = ("ix_word_review_items_session_word", ["study_session_id", "word_id"])
# No query reads reviews by word alone, and keeping this index up to date made a
# 50-review batch write a page per word more at every commit (docs/performance.md).
WORD_INDEX = ("ix_word_review_items_word_id", ["word_id"])
LOG_INDEX = "ix_word_review_items_learner_id_word_id_reviewed_at"
LOG_ORDER = ["learner_id", "word_id", "reviewed_at", "id"]
LEARNER_KEY = "fk_word_review_items_learner_id_learners"
CARD_INDEXES = {
    "ix_word_progress_learner_id_due": ["learner_id", "due", "word_id"],
    "ix_word_progress_learner_id_first_reviewed_at": ["learner_id", "first_reviewed_at"],
}
RECALL_COUNTERS = ("recall_reviews_count", "recalled_count")
# Reviews fetched per round trip, cards written per statement, words per progress line.
REVIEWS_PER_FETCH = 10_000
CARDS_PER_WRITE = 1_000
WORDS_PER_PROGRESS_LINE = 10_000

log = logging.getLogger("alembic.runtime.migration")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _counter(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), server_default="0", nullable=False)


def _card_columns() -> list[sa.Column]:
    """word_progress's new columns, in the table's order."""
    return [
        sa.Column("state", sa.SmallInteger(), nullable=True),
        sa.Column("step", sa.SmallInteger(), nullable=True),
        sa.Column("stability", sa.Double(), nullable=True),
        sa.Column("difficulty", sa.Double(), nullable=True),
        sa.Column("due", Time(timezone=True), nullable=True),
        sa.Column("last_review_at", Time(timezone=True), nullable=True),
        sa.Column("last_review_id", Id, nullable=True),
        sa.Column("first_reviewed_at", Time(timezone=True), nullable=True),
        _counter("reps"),
        _counter("lapses"),
    ]


def upgrade() -> None:
    if _sqlite():
        _rebuild_word_review_items(rated=True)
    else:
        _rate_postgres_reviews()
        op.drop_index(WORD_INDEX[0], "word_review_items")
    op.create_index(LOG_INDEX, "word_review_items", LOG_ORDER)
    for column in _card_columns():
        op.add_column("word_progress", column)
    for name, columns in CARD_INDEXES.items():
        op.create_index(name, "word_progress", columns)
    for name in RECALL_COUNTERS:
        op.add_column("daily_activity", _counter(name))
    _replay_every_card()


def downgrade() -> None:
    for name in RECALL_COUNTERS:
        op.drop_column("daily_activity", name)
    for name in CARD_INDEXES:
        op.drop_index(name, "word_progress")
    for column in reversed(_card_columns()):
        op.drop_column("word_progress", column.name)
    if _sqlite():  # the old table's indexes go with it
        _rebuild_word_review_items(rated=False)
    else:
        op.drop_index(LOG_INDEX, "word_review_items")
        op.drop_constraint(LEARNER_KEY, "word_review_items", type_="foreignkey")
        for name in ("learner_id", "rating", "reviewed_at", "duration_ms"):
            op.drop_column("word_review_items", name)
        op.create_index(WORD_INDEX[0], "word_review_items", WORD_INDEX[1])


def _rate_postgres_reviews() -> None:
    """PostgreSQL: the new review columns in place, filled, then NOT NULL."""
    op.add_column("word_review_items", sa.Column("learner_id", Id, nullable=True))
    op.add_column("word_review_items", sa.Column("rating", sa.SmallInteger(), nullable=True))
    op.add_column("word_review_items", sa.Column("reviewed_at", Time(timezone=True), nullable=True))
    op.add_column("word_review_items", sa.Column("duration_ms", sa.Integer(), nullable=True))
    reviews = sa.table(
        "word_review_items",
        *map(sa.column, ("study_session_id", "correct", "learner_id", "rating")),
        sa.column("reviewed_at", Time()),
        sa.column("created_at", Time()),
    )
    op.execute(reviews.update().values(**_rated(reviews)))
    for name in ("learner_id", "rating", "reviewed_at"):
        op.alter_column("word_review_items", name, nullable=False)
    op.create_foreign_key(LEARNER_KEY, "word_review_items", "learners", ["learner_id"], ["id"])


def _rated(reviews: Any) -> dict[str, Any]:
    """The values of an old review's new columns, from its own row (``reviews``) and its
    session's."""
    sessions = sa.table("study_sessions", sa.column("id"), sa.column("learner_id"))
    # A scalar subquery, not a join: a review without its session (impossible with
    # foreign keys enforced) would stop the migration on NOT NULL, not disappear.
    learner = (
        sa.select(sessions.c.learner_id)
        .where(sessions.c.id == reviews.c.study_session_id)
        .scalar_subquery()
    )
    return {
        "learner_id": learner,
        "rating": sa.case((reviews.c.correct, GOOD), else_=AGAIN),
        "reviewed_at": reviews.c.created_at,
    }


def _rebuild_word_review_items(rated: bool) -> None:
    """SQLite: word_review_items with or without the rated log's columns, every row and
    the id sequence kept, and its indexes made again."""
    sequences = _sqlite_sequences()
    _create_word_review_items(NEW + "word_review_items", rated)
    reviews = sa.table(
        "word_review_items", *map(sa.column, OLD_REVIEW_COLUMNS if rated else REVIEW_COLUMNS)
    )
    values = {name: reviews.c[name] for name in OLD_REVIEW_COLUMNS}
    if rated:  # duration_ms stays NULL: nobody timed the old reviews
        values |= _rated(reviews)
    columns = [name for name in REVIEW_COLUMNS if name in values]
    target = sa.table(NEW + "word_review_items", *map(sa.column, columns))
    rows = sa.select(*(values[name] for name in columns))
    op.execute(target.insert().from_select(columns, rows))
    # No table refers to word_review_items: its drop deletes nothing elsewhere.
    op.drop_table("word_review_items")
    op.rename_table(NEW + "word_review_items", "word_review_items")
    _restore_sqlite_sequences(sequences)
    for name, index_columns in (SESSION_WORD_INDEX,) if rated else (SESSION_WORD_INDEX, WORD_INDEX):
        op.create_index(name, "word_review_items", index_columns)


def _sqlite_sequences() -> dict[str, int]:
    """The largest review id ever handed out, deleted reviews' included."""
    rows = op.get_bind().execute(
        sa.text("SELECT name, seq FROM sqlite_sequence WHERE name = 'word_review_items'")
    )
    return dict(rows.all())


def _restore_sqlite_sequences(sequences: dict[str, int]) -> None:
    """Give the rebuilt table the sequence of the old one: a copy only knows the ids
    still stored, and a reset may have deleted the largest (then it would be reused)."""
    for name, seq in sequences.items():
        values = {"name": name, "seq": seq}
        op.execute(
            sa.text(
                "UPDATE sqlite_sequence SET seq = :seq WHERE name = :name AND seq < :seq"
            ).bindparams(**values)
        )
        op.execute(
            sa.text(
                "INSERT INTO sqlite_sequence (name, seq) SELECT :name, :seq"
                " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = :name)"
            ).bindparams(**values)
        )


def _create_word_review_items(name: str, rated: bool) -> None:
    # The foreign keys are named for the final table, not for the copy being built.
    learner: tuple[sa.Column, ...] = ()
    rating: tuple[sa.Column, ...] = ()
    if rated:
        learner = (
            sa.Column(
                "learner_id", Id, sa.ForeignKey("learners.id", name=LEARNER_KEY), nullable=False
            ),
        )
        rating = (
            sa.Column("rating", sa.SmallInteger(), nullable=False),
            sa.Column("reviewed_at", Time(timezone=True), nullable=False),
            sa.Column("duration_ms", sa.Integer(), nullable=True),
        )
    op.create_table(
        name,
        sa.Column("id", Id, nullable=False),
        *learner,
        sa.Column(
            "word_id",
            Id,
            sa.ForeignKey("words.id", name=op.f("fk_word_review_items_word_id_words")),
            nullable=False,
        ),
        sa.Column(
            "study_session_id",
            Id,
            sa.ForeignKey(
                "study_sessions.id",
                ondelete="CASCADE",
                name=op.f("fk_word_review_items_study_session_id_study_sessions"),
            ),
            nullable=False,
        ),
        sa.Column("correct", sa.Boolean(), nullable=False),
        *rating,
        sa.Column("created_at", Time(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_word_review_items")),
        sqlite_autoincrement=True,
    )


class _Replay:
    """Rebuilds the cards from the log, word by word, and writes them in batches."""

    def __init__(self) -> None:
        self.connection = op.get_bind()
        retention = lang_portal.settings.load()["DESIRED_RETENTION"]
        self.schedule = lang_portal.scheduling.scheduler(retention)
        progress = sa.table(
            "word_progress",
            sa.column("learner_id"),
            sa.column("word_id"),
            *(sa.column(column.name, column.type) for column in _card_columns()),
        )
        self.write_card = (
            progress.update()
            .where(progress.c.learner_id == sa.bindparam("key_learner_id"))
            .where(progress.c.word_id == sa.bindparam("key_word_id"))
        )
        self.cards: list[dict[str, Any]] = []
        # This learner's (the log is in learner order) recall counters, by UTC day.
        self.days: defaultdict[date, dict[str, int]] = defaultdict(
            lambda: dict.fromkeys(RECALL_COUNTERS, 0)
        )
        self.learner_id: int | None = None
        self.words = 0
        self.reviews = 0

    def word(
        self, learner_id: int, word_id: int, reviews: list[lang_portal.scheduling.LoggedReview]
    ) -> None:
        """One learner's whole log of one word: its card, and its recalls counted."""
        if learner_id != self.learner_id:
            self.flush_days()
            self.learner_id = learner_id
        ordered = sorted(reviews, key=lambda review: review.order)
        applied = lang_portal.scheduling.replay(self.schedule, ordered)
        card = lang_portal.scheduling.to_row(applied.card)
        self.cards.append({"key_learner_id": learner_id, "key_word_id": word_id, **card})
        for review, state in zip(ordered, applied.states_before, strict=True):
            if state == lang_portal.scheduling.REVIEW:
                day = self.days[review.reviewed_at.astimezone(UTC).date()]
                day["recall_reviews_count"] += 1
                day["recalled_count"] += review.rating != lang_portal.scheduling.AGAIN
        if len(self.cards) >= CARDS_PER_WRITE:
            self.flush_cards()
        self.words += 1
        self.reviews += len(reviews)
        if self.words % WORDS_PER_PROGRESS_LINE == 0:
            log.info("0004: replayed %d cards (%d reviews) so far", self.words, self.reviews)

    def flush_cards(self) -> None:
        """Write the cards replayed so far into their word_progress rows."""
        if self.cards:
            self.connection.execute(self.write_card, self.cards)
            self.cards = []

    def flush_days(self) -> None:
        """Add the learner's recall counters to their days. 0003 made a row for every
        day with a review; a day without one all the same gets one that counts nothing
        else."""
        if self.learner_id is None or not self.days:
            return
        table = sa.table(
            "daily_activity",
            sa.column("learner_id"),
            sa.column("day", sa.Date()),
            *(sa.column(name, sa.Integer()) for name in RECALL_COUNTERS),
        )
        dialect = postgresql if self.connection.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(table)
        upsert = insert.on_conflict_do_update(
            index_elements=["learner_id", "day"],
            set_={name: table.c[name] + insert.excluded[name] for name in RECALL_COUNTERS},
        )
        rows = [
            {"learner_id": self.learner_id, "day": day, **counts}
            for day, counts in sorted(self.days.items())
        ]
        if rows:
            self.connection.execute(upsert, rows)
        self.days.clear()

    def finish(self) -> None:
        """Write what is left."""
        self.flush_cards()
        self.flush_days()


def _logs() -> Iterable[tuple[int, int, list[lang_portal.scheduling.LoggedReview]]]:
    """Each (learner_id, word_id, its reviews) of the whole log, read as a stream."""
    reviews = sa.table(
        "word_review_items",
        *map(sa.column, ("id", "learner_id", "word_id", "rating")),
        sa.column("reviewed_at", Time()),
    )
    rows = op.get_bind().execute(
        sa.select(*reviews.c).order_by(*(reviews.c[name] for name in LOG_ORDER)),
        execution_options={"yield_per": REVIEWS_PER_FETCH},
    )
    key: tuple[int, int] | None = None
    log_of_word: list[lang_portal.scheduling.LoggedReview] = []
    for row in rows:
        if (row.learner_id, row.word_id) != key:
            if key is not None:
                yield (*key, log_of_word)
            key, log_of_word = (row.learner_id, row.word_id), []
        log_of_word.append(lang_portal.scheduling.LoggedReview(row.id, row.reviewed_at, row.rating))
    if key is not None:
        yield (*key, log_of_word)


def _replay_every_card() -> None:
    """Each (learner, word) card replayed from its log, and the recalls counted by day."""
    replay: _Replay | None = None  # made at the first review: settings are read only then
    for learner_id, word_id, reviews in _logs():
        replay = replay or _Replay()
        replay.word(learner_id, word_id, reviews)
    if replay is not None:
        replay.finish()
        log.info("0004: replayed %d cards from %d reviews", replay.words, replay.reviews)
