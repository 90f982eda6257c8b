"""The database schema, defined once.

Alembic migrations are generated from this metadata, and a test proves that a
freshly migrated database matches it.

Counters (`word_progress.correct_count`, `study_sessions.review_items_count`,
`daily_activity`, ...) are kept up to date in the same transaction as the rows
they count, so that no read has to aggregate the whole review history.

The vocabulary (words, groups, study activities) is shared by everyone. Study
history is per learner: every study session belongs to one, and every counter of
progress is kept per learner (the ``*_progress`` tables and ``daily_activity``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# A 64-bit id everywhere; SQLite's rowid alias must be spelled INTEGER.
Id = BigInteger().with_variant(Integer(), "sqlite")
# The largest id a request may name: ids are positive and fit a signed 64-bit column.
MAX_ID = 2**63 - 1


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back as an aware UTC datetime.

    SQLite has no time zone type, so values are normalised to UTC before they are
    written and tagged as UTC when they are read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite text, e.g. from a driver-level query
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _counter(name: str) -> Column[int]:
    return Column(name, Integer, nullable=False, server_default="0", default=0)


words = Table(
    "words",
    metadata,
    Column("id", Id, primary_key=True),
    Column("kanji", String(100), nullable=False),
    Column("romaji", String(200), nullable=False),
    Column("english", String(200), nullable=False),
    Column("parts", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("kanji", "romaji", "english"),
    Index("ix_words_romaji", "romaji"),
    Index("ix_words_english", "english"),
)

groups = Table(
    "groups",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    _counter("words_count"),
    Index("ix_groups_words_count", "words_count"),
)

word_groups = Table(
    "word_groups",
    metadata,
    Column("group_id", Id, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("word_id", Id, ForeignKey("words.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_word_groups_word_id", "word_id"),
)

study_activities = Table(
    "study_activities",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("url", String(500), nullable=False),
    Column("preview_url", String(500), nullable=False, server_default=""),
)

# The learners: id 1 is the default learner, whom every request acts as in the open
# (single-user) mode. ``name_key`` is the name case-folded: names are unique
# regardless of case, the same way on every engine.
learners = Table(
    "learners",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("name_key", String(100), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_active_at", UTCDateTime, nullable=True),
    # The portal's password, as an argon2id hash (lang_portal.passwords); NULL: none
    # set, so this learner cannot sign in to the portal (a token still works).
    Column("password_hash", String(255), nullable=True),
    # Set by a teacher's temporary password: the portal asks for a new one first.
    Column("password_is_temporary", Boolean, nullable=False, server_default=false()),
)

# A learner's API tokens, only as SHA-256 digests: a stolen database reveals none.
learner_tokens = Table(
    "learner_tokens",
    metadata,
    Column("id", Id, primary_key=True),
    Column("learner_id", Id, ForeignKey("learners.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_learner_tokens_learner_id", "learner_id"),
)

# The portal's sign-ins, one per signed-in browser: the cookie carries a random token,
# stored here only as its SHA-256 digest. Signing out deletes the row, so a copied
# cookie stops working too; so does a new password (every other sign-in ends).
sign_ins = Table(
    "sign_ins",
    metadata,
    Column("id", Id, primary_key=True),
    Column("learner_id", Id, ForeignKey("learners.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_sign_ins_learner_id", "learner_id"),
)

study_sessions = Table(
    "study_sessions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("learner_id", Id, ForeignKey("learners.id"), nullable=False),
    Column("group_id", Id, ForeignKey("groups.id"), nullable=False),
    Column("study_activity_id", Id, ForeignKey("study_activities.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    _counter("review_items_count"),
    _counter("correct_count"),
    _counter("wrong_count"),
    Column("last_review_at", UTCDateTime, nullable=True),
    # Every list of sessions is one learner's: each index starts with the learner.
    Index("ix_study_sessions_learner_id_created_at_id", "learner_id", "created_at", "id"),
    Index("ix_study_sessions_learner_id_group_id", "learner_id", "group_id", "created_at"),
    Index(
        "ix_study_sessions_learner_id_study_activity_id",
        "learner_id",
        "study_activity_id",
        "created_at",
    ),
    # Never hand out an id again, even after a reset deleted every row: an activity tab
    # opened before the reset must not post into a new, unrelated session (SQLite
    # otherwise reuses max(id) + 1; PostgreSQL sequences never go back).
    sqlite_autoincrement=True,
)

# When a session ended: with its last review, or, while it has none, when it started.
SESSION_END_TIME = func.coalesce(study_sessions.c.last_review_at, study_sessions.c.created_at)
# A group's sessions sorted by when they ended (the frontend's "end time") walk this
# index, instead of sorting every session of the learner's group (151 ms at 1M).
Index(
    "ix_study_sessions_learner_id_group_id_end_time",
    study_sessions.c.learner_id,
    study_sessions.c.group_id,
    SESSION_END_TIME,
    study_sessions.c.id,
)

# The review log, the source of truth of every card (lang_portal.scheduling): a card
# is its word's reviews replayed in (reviewed_at, id) order. ``learner_id`` repeats
# the session's, so that one learner's log of one word is one index range.
word_review_items = Table(
    "word_review_items",
    metadata,
    Column("id", Id, primary_key=True),
    Column("learner_id", Id, ForeignKey("learners.id"), nullable=False),
    Column("word_id", Id, ForeignKey("words.id"), nullable=False),
    Column(
        "study_session_id",
        Id,
        ForeignKey("study_sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("correct", Boolean, nullable=False),
    Column("rating", SmallInteger, nullable=False),  # 1 again, 2 hard, 3 good, 4 easy
    Column("reviewed_at", UTCDateTime, nullable=False),  # when the learner answered
    Column("duration_ms", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),  # when it was recorded
    Index("ix_word_review_items_session_word", "study_session_id", "word_id"),
    Index(
        "ix_word_review_items_learner_id_word_id_reviewed_at",
        "learner_id",
        "word_id",
        "reviewed_at",
        "id",
    ),
    # A learner's reviews in time order: the xAPI statements' pages (api/xapi.py).
    Index("ix_word_review_items_learner_id_reviewed_at", "learner_id", "reviewed_at", "id"),
    sqlite_autoincrement=True,  # as study_sessions: a review id names one review, ever
)

# The reviews whose xAPI statements are still to be sent to the Learning Record Store
# (LANG_PORTAL_XAPI_ENDPOINT; lang_portal.xapi_sender). A row is written in its review's
# own transaction and deleted once the LRS has stored the statement; it holds the review
# id only, the statement is built when it is sent. ``next_attempt_at`` is when a sender
# may take the row next: the backoff after a failure, and the lease of a sender that
# took it. A row the LRS rejected is set aside (``set_aside_at``, with the LRS's reason
# in ``last_error``) and never sent again by itself.
xapi_outbox = Table(
    "xapi_outbox",
    metadata,
    Column("id", Id, primary_key=True),
    Column(
        "review_id",
        Id,
        ForeignKey("word_review_items.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("created_at", UTCDateTime, nullable=False),
    _counter("attempts"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", String(500), nullable=True),
    Column("set_aside_at", UTCDateTime, nullable=True),
    # A sender takes the rows not set aside whose time has come, oldest first.
    Index("ix_xapi_outbox_set_aside_at_next_attempt_at", "set_aside_at", "next_attempt_at", "id"),
)

# One learner's review counters and card (lang_portal.scheduling.Card) for one word:
# a row once the learner has reviewed it. The card columns are written with the
# counters, in the same transaction as the reviews; they are nullable only because
# the migration that added them could not give them a default.
word_progress = Table(
    "word_progress",
    metadata,
    Column("learner_id", Id, ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True),
    Column("word_id", Id, ForeignKey("words.id", ondelete="CASCADE"), primary_key=True),
    _counter("correct_count"),
    _counter("wrong_count"),
    Column("state", SmallInteger, nullable=True),  # 1 learning, 2 review, 3 relearning
    Column("step", SmallInteger, nullable=True),
    Column("stability", Double, nullable=True),
    Column("difficulty", Double, nullable=True),
    Column("due", UTCDateTime, nullable=True),
    Column("last_review_at", UTCDateTime, nullable=True),
    Column("last_review_id", Id, nullable=True),
    Column("first_reviewed_at", UTCDateTime, nullable=True),
    _counter("reps"),
    _counter("lapses"),
    Index("ix_word_progress_word_id", "word_id"),
    # The due queue, the due counts and the forecast walk this; the new-word allowance
    # counts today's first reviews on the other.
    Index("ix_word_progress_learner_id_due", "learner_id", "due", "word_id"),
    Index("ix_word_progress_learner_id_first_reviewed_at", "learner_id", "first_reviewed_at"),
)

# One learner's sessions of one group: the total of the group's session list, and
# when the newest started ("active groups" on the dashboard).
group_progress = Table(
    "group_progress",
    metadata,
    Column("learner_id", Id, ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", Id, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    _counter("sessions_count"),
    Column("last_session_at", UTCDateTime, nullable=True),
    Index("ix_group_progress_group_id", "group_id"),
)

# One learner's sessions started with one activity: the total of its session list.
activity_progress = Table(
    "activity_progress",
    metadata,
    Column("learner_id", Id, ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "study_activity_id",
        Id,
        ForeignKey("study_activities.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    _counter("sessions_count"),
    Index("ix_activity_progress_study_activity_id", "study_activity_id"),
)

# One row per learner and UTC day with any activity: the dashboard's streak, session
# total, chart and 30-day retention read these few hundred rows instead of millions of
# sessions. Reviews count on the day they were answered (reviewed_at).
# ``recall_reviews_count`` counts the reviews of cards in the review state, and
# ``recalled_count`` those of them not answered again.
daily_activity = Table(
    "daily_activity",
    metadata,
    Column("learner_id", Id, ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, primary_key=True),
    _counter("sessions_count"),
    _counter("reviews_count"),
    _counter("correct_count"),
    _counter("recall_reviews_count"),
    _counter("recalled_count"),
)

# Stored responses for Idempotency-Key retries, per learner: one learner's key never
# replays another's response. A row with no status_code is a request still in flight.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("learner_id", Id, ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response_body", Text, nullable=True),
    Column("location", String(500), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("locked_at", UTCDateTime, nullable=False),
    Index("ix_idempotency_keys_created_at", "created_at"),
)
