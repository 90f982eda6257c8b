"""learners: one study history per learner

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 06:10:00.000000

Adds the learners and their token digests, and makes every piece of study history
belong to a learner: study sessions carry ``learner_id``, and the counters that were
global (each word's right and wrong answers, each group's and activity's sessions,
the days in ``daily_activity``, the Idempotency-Keys) move into per-learner rows.

An existing history becomes the default learner's (id 1, created here), with every
counter kept, so every answer in the open mode is the same before and after.

On SQLite, study_sessions needs a new NOT NULL foreign key column, which ALTER TABLE
cannot add while foreign keys are enforced; it is rebuilt as 0002 rebuilt it
(create, copy, drop the child before its parent, rename), so no drop deletes through
a foreign key. daily_activity and idempotency_keys change their primary key and are
rebuilt on SQLite too; PostgreSQL alters all three in place.

Downgrading sums every learner's counters back into the global ones and keeps only
the default learner's Idempotency-Keys (a key may be in use by several learners).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import lang_portal.schema

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = lang_portal.schema.UTCDateTime
DEFAULT_LEARNER_ID = 1
OLD = "_old_"
NEW = "_new_"
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
REVIEW_COLUMNS = ("id", "word_id", "study_session_id", "correct", "created_at")
DAY_COUNTERS = ("sessions_count", "reviews_count", "correct_count")
KEY_COLUMNS = (
    "key",
    "fingerprint",
    "status_code",
    "response_body",
    "location",
    "created_at",
    "locked_at",
)


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _counter(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), server_default="0", nullable=False)


def _learner_key(ondelete: str | None = "CASCADE", name: str | None = None) -> sa.Column:
    learners = sa.ForeignKey("learners.id", ondelete=ondelete, name=name)
    return sa.Column("learner_id", Id, learners, nullable=False)


def _modern_sqlite_renames() -> None:
    """Renaming a table rewrites the foreign keys that point at it only with the modern
    ALTER TABLE (the default since SQLite 3.26); make sure it is in force."""
    if _sqlite():
        op.execute("PRAGMA legacy_alter_table = OFF")


def upgrade() -> None:
    _modern_sqlite_renames()
    _create_learners()
    _create_progress_tables()
    _move_counters_to_the_default_learner()
    _drop_global_counters()
    if _sqlite():
        _rebuild_daily_activity(per_learner=True)
        _rebuild_idempotency_keys(per_learner=True)
        _rebuild_sessions_and_reviews(per_learner=True)
    else:
        _add_learner_to_postgres_tables()
    _swap_session_indexes(per_learner=True)


def downgrade() -> None:
    _modern_sqlite_renames()
    if _sqlite():
        _rebuild_sessions_and_reviews(per_learner=False)
        _rebuild_idempotency_keys(per_learner=False)
        _rebuild_daily_activity(per_learner=False)
        _swap_session_indexes(per_learner=False)
    else:
        _swap_session_indexes(per_learner=False)
        _remove_learner_from_postgres_tables()
    _restore_global_counters()
    op.drop_table("activity_progress")
    op.drop_table("group_progress")
    op.drop_table("word_progress")
    op.drop_table("learner_tokens")
    op.drop_table("learners")


def _create_learners() -> None:
    op.create_table(
        "learners",
        sa.Column("id", Id, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_at", Time(timezone=True), nullable=False),
        sa.Column("last_active_at", Time(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learners")),
        sa.UniqueConstraint("name_key", name=op.f("uq_learners_name_key")),
    )
    op.create_table(
        "learner_tokens",
        sa.Column("id", Id, nullable=False),
        _learner_key(),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", Time(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learner_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_learner_tokens_token_hash")),
    )
    op.create_index("ix_learner_tokens_learner_id", "learner_tokens", ["learner_id"])
    # The first row of a new table: id 1 on both engines, and the sequence moves past it.
    learners = sa.table(
        "learners",
        sa.column("name"),
        sa.column("name_key"),
        sa.column("role"),
        sa.column("created_at", Time()),
    )
    op.execute(
        learners.insert().values(
            name="default", name_key="default", role="teacher", created_at=datetime.now(UTC)
        )
    )


def _create_progress_tables() -> None:
    op.create_table(
        "word_progress",
        _learner_key(),
        sa.Column("word_id", Id, sa.ForeignKey("words.id", ondelete="CASCADE"), nullable=False),
        _counter("correct_count"),
        _counter("wrong_count"),
        sa.PrimaryKeyConstraint("learner_id", "word_id", name=op.f("pk_word_progress")),
    )
    op.create_index("ix_word_progress_word_id", "word_progress", ["word_id"])
    op.create_table(
        "group_progress",
        _learner_key(),
        sa.Column("group_id", Id, sa.ForeignKey("groups.id", ondelete="CASCADE"), nullable=False),
        _counter("sessions_count"),
        sa.Column("last_session_at", Time(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("learner_id", "group_id", name=op.f("pk_group_progress")),
    )
    op.create_index("ix_group_progress_group_id", "group_progress", ["group_id"])
    op.create_table(
        "activity_progress",
        _learner_key(),
        sa.Column(
            "study_activity_id",
            Id,
            sa.ForeignKey("study_activities.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _counter("sessions_count"),
        sa.PrimaryKeyConstraint(
            "learner_id", "study_activity_id", name=op.f("pk_activity_progress")
        ),
    )
    op.create_index(
        "ix_activity_progress_study_activity_id", "activity_progress", ["study_activity_id"]
    )


def _move_counters_to_the_default_learner() -> None:
    learner = sa.literal(DEFAULT_LEARNER_ID)
    words = sa.table("words", sa.column("id"), sa.column("correct_count"), sa.column("wrong_count"))
    groups = sa.table(
        "groups", sa.column("id"), sa.column("sessions_count"), sa.column("last_session_at")
    )
    activities = sa.table("study_activities", sa.column("id"), sa.column("sessions_count"))
    moves = (
        (
            "word_progress",
            ("learner_id", "word_id", "correct_count", "wrong_count"),
            sa.select(learner, words.c.id, words.c.correct_count, words.c.wrong_count).where(
                words.c.correct_count + words.c.wrong_count > 0
            ),
        ),
        (
            "group_progress",
            ("learner_id", "group_id", "sessions_count", "last_session_at"),
            sa.select(
                learner, groups.c.id, groups.c.sessions_count, groups.c.last_session_at
            ).where(groups.c.sessions_count > 0),
        ),
        (
            "activity_progress",
            ("learner_id", "study_activity_id", "sessions_count"),
            sa.select(learner, activities.c.id, activities.c.sessions_count).where(
                activities.c.sessions_count > 0
            ),
        ),
    )
    for table, columns, rows in moves:
        target = sa.table(table, *(sa.column(name) for name in columns))
        op.execute(target.insert().from_select(list(columns), rows))


def _drop_global_counters() -> None:
    op.drop_index("ix_words_correct_count", "words")
    op.drop_index("ix_words_wrong_count", "words")
    op.drop_column("words", "correct_count")
    op.drop_column("words", "wrong_count")
    op.drop_column("groups", "sessions_count")
    op.drop_column("groups", "last_session_at")
    op.drop_column("study_activities", "sessions_count")


def _restore_global_counters() -> None:
    op.add_column("words", _counter("correct_count"))
    op.add_column("words", _counter("wrong_count"))
    op.create_index("ix_words_correct_count", "words", ["correct_count"])
    op.create_index("ix_words_wrong_count", "words", ["wrong_count"])
    op.add_column("groups", _counter("sessions_count"))
    op.add_column("groups", sa.Column("last_session_at", Time(timezone=True), nullable=True))
    op.add_column("study_activities", _counter("sessions_count"))
    # (table, progress table, its key, column, summed: a count; else the latest time)
    totals = (
        ("words", "word_progress", "word_id", "correct_count", True),
        ("words", "word_progress", "word_id", "wrong_count", True),
        ("groups", "group_progress", "group_id", "sessions_count", True),
        ("groups", "group_progress", "group_id", "last_session_at", False),
        ("study_activities", "activity_progress", "study_activity_id", "sessions_count", True),
    )
    for table, progress, key, column, summed in totals:
        target = sa.table(table, sa.column("id"), sa.column(column))
        source = sa.table(progress, sa.column(key), sa.column(column))
        total = sa.func.sum(source.c[column]) if summed else sa.func.max(source.c[column])
        value = sa.select(total).where(source.c[key] == target.c.id).scalar_subquery()
        op.execute(
            target.update().values({column: sa.func.coalesce(value, 0) if summed else value})
        )


def _create_daily_activity(name: str, per_learner: bool) -> None:
    learner = (_learner_key(),) if per_learner else ()
    key = ("learner_id", "day") if per_learner else ("day",)
    op.create_table(
        name,
        *learner,
        sa.Column("day", sa.Date(), nullable=False),
        *(_counter(counter) for counter in DAY_COUNTERS),
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_daily_activity")),
    )


def _rebuild_daily_activity(per_learner: bool) -> None:
    """SQLite: daily_activity with or without the learner in its key, days summed down."""
    op.rename_table("daily_activity", OLD + "daily_activity")
    _create_daily_activity("daily_activity", per_learner)
    old = sa.table(OLD + "daily_activity", sa.column("day"), *map(sa.column, DAY_COUNTERS))
    if per_learner:
        columns = ("learner_id", "day", *DAY_COUNTERS)
        rows = sa.select(sa.literal(DEFAULT_LEARNER_ID), *old.c)
    else:
        columns = ("day", *DAY_COUNTERS)
        summed = (sa.func.sum(old.c[name]) for name in DAY_COUNTERS)
        rows = sa.select(old.c.day, *summed).group_by(old.c.day)
    new = sa.table("daily_activity", *map(sa.column, columns))
    op.execute(new.insert().from_select(list(columns), rows))
    op.drop_table(OLD + "daily_activity")


def _rebuild_idempotency_keys(per_learner: bool) -> None:
    """SQLite: idempotency_keys with or without the learner in its key."""
    op.drop_index("ix_idempotency_keys_created_at", "idempotency_keys")
    op.rename_table("idempotency_keys", OLD + "idempotency_keys")
    learner = (_learner_key(),) if per_learner else ()
    key = ("learner_id", "key") if per_learner else ("key",)
    op.create_table(
        "idempotency_keys",
        *learner,
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("location", sa.String(length=500), nullable=True),
        sa.Column("created_at", Time(timezone=True), nullable=False),
        sa.Column("locked_at", Time(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_idempotency_keys")),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    _copy_keys(OLD + "idempotency_keys", "idempotency_keys", per_learner)
    op.drop_table(OLD + "idempotency_keys")


def _copy_keys(source_name: str, target_name: str, per_learner: bool) -> None:
    """The keys into their new table: all of them as the default learner's, or back
    from the default learner's alone."""
    source = sa.table(source_name, sa.column("learner_id"), *map(sa.column, KEY_COLUMNS))
    if per_learner:
        columns = ("learner_id", *KEY_COLUMNS)
        rows = sa.select(sa.literal(DEFAULT_LEARNER_ID), *(source.c[c] for c in KEY_COLUMNS))
    else:
        columns = KEY_COLUMNS
        rows = sa.select(*(source.c[c] for c in KEY_COLUMNS)).where(
            source.c.learner_id == DEFAULT_LEARNER_ID
        )
    target = sa.table(target_name, *map(sa.column, columns))
    op.execute(target.insert().from_select(list(columns), rows))


def _rebuild_sessions_and_reviews(per_learner: bool) -> None:
    """SQLite: study_sessions with or without learner_id, and its reviews, every row kept."""
    sequences = _sqlite_sequences()
    _create_study_sessions(NEW + "study_sessions", per_learner)
    session_columns = SESSION_COLUMNS
    source = sa.table("study_sessions", *map(sa.column, SESSION_COLUMNS))
    rows = sa.select(*source.c)
    if per_learner:
        session_columns = ("learner_id", *SESSION_COLUMNS)
        rows = sa.select(sa.literal(DEFAULT_LEARNER_ID), *source.c)
    target = sa.table(NEW + "study_sessions", *map(sa.column, session_columns))
    op.execute(target.insert().from_select(list(session_columns), rows))
    _create_word_review_items(NEW + "word_review_items", NEW + "study_sessions")
    reviews = sa.table("word_review_items", *map(sa.column, REVIEW_COLUMNS))
    new_reviews = sa.table(NEW + "word_review_items", *map(sa.column, REVIEW_COLUMNS))
    op.execute(new_reviews.insert().from_select(list(REVIEW_COLUMNS), sa.select(*reviews.c)))
    # Child first: once it is gone nothing refers to the old study_sessions, so its
    # drop deletes no review. The old tables' indexes go with them.
    op.drop_table("word_review_items")
    op.drop_table("study_sessions")
    op.rename_table(NEW + "study_sessions", "study_sessions")
    op.rename_table(NEW + "word_review_items", "word_review_items")
    _restore_sqlite_sequences(sequences)
    op.create_index(
        "ix_word_review_items_session_word", "word_review_items", ["study_session_id", "word_id"]
    )
    op.create_index("ix_word_review_items_word_id", "word_review_items", ["word_id"])


def _sqlite_sequences() -> dict[str, int]:
    """The largest id each AUTOINCREMENT table ever handed out, deleted rows' included."""
    rows = op.get_bind().execute(
        sa.text(
            "SELECT name, seq FROM sqlite_sequence"
            " WHERE name IN ('study_sessions', 'word_review_items')"
        )
    )
    return dict(rows.all())


def _restore_sqlite_sequences(sequences: dict[str, int]) -> None:
    """Give the rebuilt tables the sequences of the old ones: a copy only knows the ids
    still stored, and a reset may have deleted the largest (then they would be reused)."""
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


def _create_study_sessions(name: str, per_learner: bool) -> None:
    # The foreign keys are named for the final table, not for the copy being built.
    name_of_key = op.f("fk_study_sessions_learner_id_learners")
    learner = (_learner_key(ondelete=None, name=name_of_key),) if per_learner else ()
    op.create_table(
        name,
        sa.Column("id", Id, nullable=False),
        *learner,
        sa.Column(
            "group_id",
            Id,
            sa.ForeignKey("groups.id", name=op.f("fk_study_sessions_group_id_groups")),
            nullable=False,
        ),
        sa.Column(
            "study_activity_id",
            Id,
            sa.ForeignKey(
                "study_activities.id",
                name=op.f("fk_study_sessions_study_activity_id_study_activities"),
            ),
            nullable=False,
        ),
        sa.Column("created_at", Time(timezone=True), nullable=False),
        _counter("review_items_count"),
        _counter("correct_count"),
        _counter("wrong_count"),
        sa.Column("last_review_at", Time(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_sessions")),
        sqlite_autoincrement=True,
    )


def _create_word_review_items(name: str, study_sessions: str) -> None:
    op.create_table(
        name,
        sa.Column("id", Id, nullable=False),
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
                f"{study_sessions}.id",
                ondelete="CASCADE",
                name=op.f("fk_word_review_items_study_session_id_study_sessions"),
            ),
            nullable=False,
        ),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("created_at", Time(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_word_review_items")),
        sqlite_autoincrement=True,
    )


def _add_learner_to_postgres_tables() -> None:
    """PostgreSQL: learner_id in place, every existing row the default learner's."""
    for table, key, ondelete in (
        ("study_sessions", None, None),
        ("daily_activity", ("learner_id", "day"), "CASCADE"),
        ("idempotency_keys", ("learner_id", "key"), "CASCADE"),
    ):
        # A constant default fills existing rows without rewriting the table; then it goes.
        op.add_column(
            table,
            sa.Column("learner_id", Id, nullable=False, server_default=str(DEFAULT_LEARNER_ID)),
        )
        op.alter_column(table, "learner_id", server_default=None)
        op.create_foreign_key(
            op.f(f"fk_{table}_learner_id_learners"),
            table,
            "learners",
            ["learner_id"],
            ["id"],
            ondelete=ondelete,
        )
        if key:
            op.drop_constraint(f"pk_{table}", table, type_="primary")
            op.create_primary_key(f"pk_{table}", table, list(key))


def _remove_learner_from_postgres_tables() -> None:
    """PostgreSQL: the reverse, every learner's days summed, the default learner's keys kept."""
    op.drop_column("study_sessions", "learner_id")
    days = sa.table("daily_activity", sa.column("day"), *map(sa.column, DAY_COUNTERS))
    summed = (
        op.get_bind()
        .execute(
            sa.select(
                days.c.day, *(sa.func.sum(days.c[name]).label(name) for name in DAY_COUNTERS)
            ).group_by(days.c.day)
        )
        .all()
    )
    op.execute(sa.delete(days))
    keys = sa.table("idempotency_keys", sa.column("learner_id"))
    op.execute(sa.delete(keys).where(keys.c.learner_id != DEFAULT_LEARNER_ID))
    for table, key in (("daily_activity", "day"), ("idempotency_keys", "key")):
        op.drop_constraint(f"pk_{table}", table, type_="primary")
        op.drop_column(table, "learner_id")
        op.create_primary_key(f"pk_{table}", table, [key])
    if summed:
        op.execute(sa.insert(days).values([dict(row._mapping) for row in summed]))


def _swap_session_indexes(per_learner: bool) -> None:
    """The session lists' indexes: each prefixed by the learner, or not."""
    learner_first = {
        "ix_study_sessions_learner_id_created_at_id": ["learner_id", "created_at", "id"],
        "ix_study_sessions_learner_id_group_id": ["learner_id", "group_id", "created_at"],
        "ix_study_sessions_learner_id_study_activity_id": [
            "learner_id",
            "study_activity_id",
            "created_at",
        ],
    }
    global_ = {
        "ix_study_sessions_created_at_id": ["created_at", "id"],
        "ix_study_sessions_group_id_created_at": ["group_id", "created_at"],
        "ix_study_sessions_study_activity_id_created_at": ["study_activity_id", "created_at"],
    }
    old, new = (global_, learner_first) if per_learner else (learner_first, global_)
    if not _sqlite():  # a SQLite rebuild dropped the old indexes with the old table
        for name in old:
            op.drop_index(name, "study_sessions")
    for name, columns in new.items():
        op.create_index(name, "study_sessions", columns)
