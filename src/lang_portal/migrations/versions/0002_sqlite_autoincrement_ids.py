"""never reuse study session and review ids on SQLite

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:12:40.118204

SQLite gives a new row max(id) + 1 unless the table is declared AUTOINCREMENT, so
after POST /api/study-sessions/reset the next session was id 1 again, and an
activity tab opened before the reset posted its reviews into that new session.
SQLite cannot add AUTOINCREMENT to a table, so both tables are rebuilt, every row
kept. PostgreSQL sequences never hand an id out twice: nothing to do there.

The rebuild is not Alembic's batch mode (create a copy, drop the original, rename
the copy). lang-portal's SQLite connections enforce foreign keys, and dropping
study_sessions with foreign keys on deletes its rows first, which cascades into
word_review_items: every review would be lost. Instead both new tables are filled
before either old one is dropped, the new review table pointing at the new session
table, and the child is dropped before its parent, so no drop deletes through a
foreign key. Renaming the new session table then rewrites the reference to it,
and the sequence of each AUTOINCREMENT table starts at its largest copied id.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lang_portal.schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
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


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(autoincrement=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(autoincrement=False)


def _rebuild(autoincrement: bool) -> None:
    """Rebuild study_sessions and word_review_items with or without AUTOINCREMENT."""
    # Renaming a table rewrites the foreign keys that point at it only with the
    # modern ALTER TABLE (the default since SQLite 3.26); make sure it is in force.
    op.execute("PRAGMA legacy_alter_table = OFF")
    _create_study_sessions(NEW + "study_sessions", autoincrement)
    _copy("study_sessions", SESSION_COLUMNS)
    _create_word_review_items(NEW + "word_review_items", NEW + "study_sessions", autoincrement)
    _copy("word_review_items", REVIEW_COLUMNS)
    # Child first: once it is gone nothing refers to the old study_sessions, so its
    # drop deletes no review. The old tables' indexes go with them.
    op.drop_table("word_review_items")
    op.drop_table("study_sessions")
    op.rename_table(NEW + "study_sessions", "study_sessions")
    op.rename_table(NEW + "word_review_items", "word_review_items")
    _create_indexes()


def _copy(table: str, columns: tuple[str, ...]) -> None:
    """Copy every row of ``table`` into its new twin, ids included."""
    source = sa.table(table, *(sa.column(name) for name in columns))
    target = sa.table(NEW + table, *(sa.column(name) for name in columns))
    op.execute(target.insert().from_select(list(columns), sa.select(*source.c)))


def _create_study_sessions(name: str, autoincrement: bool) -> None:
    op.create_table(
        name,
        sa.Column("id", Id, nullable=False),
        sa.Column("group_id", Id, nullable=False),
        sa.Column("study_activity_id", Id, nullable=False),
        sa.Column("created_at", lang_portal.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("review_items_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("correct_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("wrong_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_review_at", lang_portal.schema.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_study_sessions_group_id_groups")
        ),
        sa.ForeignKeyConstraint(
            ["study_activity_id"],
            ["study_activities.id"],
            name=op.f("fk_study_sessions_study_activity_id_study_activities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_sessions")),
        sqlite_autoincrement=autoincrement,
    )


def _create_word_review_items(name: str, study_sessions: str, autoincrement: bool) -> None:
    op.create_table(
        name,
        sa.Column("id", Id, nullable=False),
        sa.Column("word_id", Id, nullable=False),
        sa.Column("study_session_id", Id, nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("created_at", lang_portal.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_session_id"],
            [f"{study_sessions}.id"],
            name=op.f("fk_word_review_items_study_session_id_study_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["word_id"], ["words.id"], name=op.f("fk_word_review_items_word_id_words")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_word_review_items")),
        sqlite_autoincrement=autoincrement,
    )


def _create_indexes() -> None:
    op.create_index("ix_study_sessions_created_at_id", "study_sessions", ["created_at", "id"])
    op.create_index(
        "ix_study_sessions_group_id_created_at", "study_sessions", ["group_id", "created_at"]
    )
    op.create_index(
        "ix_study_sessions_study_activity_id_created_at",
        "study_sessions",
        ["study_activity_id", "created_at"],
    )
    op.create_index(
        "ix_word_review_items_session_word", "word_review_items", ["study_session_id", "word_id"]
    )
    op.create_index("ix_word_review_items_word_id", "word_review_items", ["word_id"])
