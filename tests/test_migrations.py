"""Migrations: a fresh `upgrade head` equals schema.py, downgrade works, and no row is lost.

The rows tests migrate through the engine `lang-portal init-db` and `serve` build: on
SQLite it enforces foreign keys, so a table rebuild that dropped study_sessions
before its reviews were safe would delete every review.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    create_engine,
    delete,
    exc,
    insert,
    inspect,
    select,
)

from lang_portal import db, migrate
from lang_portal.schema import metadata
from tests import previous_release
from tests.conftest import make_app
from tests.previous_release import (
    DEFAULT_LEARNER_ID,
    PREVIOUS_HEAD,
    summed_history,
    tables,
    write_all,
)
from tests.support import (
    NEW_STUDY_SESSION,
    STUDY_SESSIONS,
    reset_history,
    review_word,
    start_session,
)

# The tables whose ids must never be handed out twice (see test_session_ids.py).
NEVER_REUSED = {"study_sessions", "word_review_items"}
# The learners migration, across which summed_history compares a database.
LEARNERS = "0003"


def _fresh_engine(database_url: str):
    """An engine on an empty database of the same kind as ``database_url``."""
    engine = create_engine(database_url)
    migrate.downgrade(engine, "base")
    return engine


def _sqlite_structure(connection: Connection) -> dict[str, dict[str, Any]]:
    """What SQLite stores about each table, in a form that ignores DDL spelling and order.

    Alembic's comparison misses what only the CREATE TABLE text holds (AUTOINCREMENT,
    ON DELETE), so the migrated and the freshly created schema are also compared here.
    """
    tables = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
        "AND name NOT LIKE 'sqlite%' AND name != 'alembic_version'"
    ).all()
    structure = {}
    for name, sql in tables:
        pragma = connection.exec_driver_sql
        indexes = {
            index.name: (
                index.unique,
                index.origin,
                index.partial,
                *(column.name for column in pragma(f'PRAGMA index_info("{index.name}")')),
            )
            for index in pragma(f'PRAGMA index_list("{name}")')
        }
        structure[name] = {
            "columns": pragma(f'PRAGMA table_xinfo("{name}")').all(),
            "foreign_keys": sorted(row[2:] for row in pragma(f'PRAGMA foreign_key_list("{name}")')),
            "indexes": indexes,
            "autoincrement": "AUTOINCREMENT" in sql.upper(),
        }
    return structure


def test_upgrade_head_matches_the_metadata(database_url):
    engine = _fresh_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
            if engine.dialect.name == "sqlite":
                migrated = _sqlite_structure(connection)
                created = create_engine("sqlite://")
                metadata.create_all(created)
                with created.connect() as fresh:
                    assert migrated == _sqlite_structure(fresh)
                assert {name for name, table in migrated.items() if table["autoincrement"]} == (
                    NEVER_REUSED
                )
    finally:
        engine.dispose()


def test_downgrade_removes_everything_and_upgrade_is_repeatable(database_url):
    engine = _fresh_engine(database_url)
    try:
        migrate.upgrade(engine)
        migrate.upgrade(engine)  # already at head: nothing to do
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
        migrate.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()


@pytest.fixture
def cli_engine(database_url: str) -> Iterator[Engine]:
    """The engine `lang-portal init-db` migrates with (foreign keys on, on SQLite)."""
    engine = db.create_engine_from_settings(make_app(database_url).config)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def previous_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The previous release's package (``src``), extracted from git."""
    return previous_release.source(tmp_path_factory.mktemp("previous-release"))


# Three sessions, reviews through both routes, one stored Idempotency-Key.
HISTORY = [
    *[{"path": STUDY_SESSIONS, "json": NEW_STUDY_SESSION, "status": 201, "session": True}] * 3,
    *[
        {
            "path": f"{STUDY_SESSIONS}/{{1}}/words/{word_id}/review",
            "json": {"correct": True},
            "status": 201,
        }
        for word_id in (1, 2, 3)
    ],
    {
        "path": f"{STUDY_SESSIONS}/{{0}}/review",
        "json": {"reviews": [{"word_id": 4, "is_correct": False}, {"word_id": 5, "correct": True}]},
        "headers": {"Idempotency-Key": "recorded-before-the-migration"},
        "status": 201,
    },
]


@pytest.fixture
def history_at_0001(
    database_url: str, cli_engine: Engine, previous_src: Path, tmp_path: Path
) -> dict[str, Any]:
    """A seeded database made by migration 0001 alone (ids could be reused), with HISTORY
    written by the previous release's code; its answers (see previous_release.run)."""
    migrate.downgrade(cli_engine, "base")
    written = previous_release.run(
        previous_src, tmp_path, database_url, revision="0001", writes=HISTORY
    )
    assert written["revision"] == "0001"
    return written


def _assert_foreign_keys_hold(engine: Engine) -> None:
    """Every reference is valid, deleting a session deletes its reviews only, orphans fail.

    In SQL on the tables as they are (reflected), so that it holds at any revision.
    """
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    reflected = MetaData()
    reflected.reflect(engine, only=["study_sessions", "word_review_items"])
    sessions, reviews = (reflected.tables[name] for name in ("study_sessions", "word_review_items"))
    with db.writing(engine) as connection:
        model = connection.execute(select(sessions).limit(1)).mappings().one()
        started = model["created_at"]
        doomed, kept = (
            connection.execute(
                insert(sessions).values({k: v for k, v in model.items() if k != "id"})
            ).inserted_primary_key[0]
            for _ in range(2)
        )
        review = insert(reviews).values(word_id=1, correct=True, created_at=started)
        if "rating" in reviews.c:  # since 0004: the learner, a rating and when answered
            review = review.values(learner_id=model["learner_id"], rating=3, reviewed_at=started)
        for session_id in (doomed, doomed, kept):
            kept_review = connection.execute(
                review.values(study_session_id=session_id)
            ).inserted_primary_key[0]
    with db.writing(engine) as connection:
        connection.execute(delete(sessions).where(sessions.c.id == doomed))
    with engine.connect() as connection:
        left = connection.execute(
            select(reviews.c.id).where(reviews.c.study_session_id.in_([doomed, kept]))
        ).scalars()
        assert list(left) == [kept_review]
    with pytest.raises(exc.IntegrityError), db.writing(engine) as connection:
        connection.execute(review.values(study_session_id=doomed))


def _sqlite_sequence(engine: Engine) -> dict[str, int]:
    """The largest id each AUTOINCREMENT table has ever handed out (empty on PostgreSQL)."""
    if engine.dialect.name != "sqlite":
        return {}
    with engine.connect() as connection:
        return dict(connection.exec_driver_sql("SELECT name, seq FROM sqlite_sequence").all())


def test_upgrade_from_0001_keeps_every_row_and_never_reuses_an_id(
    history_at_0001, database_url, cli_engine
):
    sessions = history_at_0001["sessions"]
    before = tables(cli_engine)
    assert all(before[name] for name in (*NEVER_REUSED, "idempotency_keys", "daily_activity"))
    assert _sqlite_sequence(cli_engine) == {}  # 0001 had no AUTOINCREMENT table

    # summed_history compares across 0003; 0004 keeps every row (test_cards_migration.py).
    migrate.upgrade(cli_engine, LEARNERS)

    after = tables(cli_engine)
    assert summed_history(after) == before
    assert {row["learner_id"] for row in after["study_sessions"]} == {DEFAULT_LEARNER_ID}
    max_review = max(row["id"] for row in before["word_review_items"])
    expected_sequence = {"study_sessions": max(sessions), "word_review_items": max_review}
    if cli_engine.dialect.name == "sqlite":
        assert _sqlite_sequence(cli_engine) == expected_sequence
    migrate.upgrade(cli_engine)
    if cli_engine.dialect.name == "sqlite":
        assert _sqlite_sequence(cli_engine) == expected_sequence
    app = make_app(database_url)
    try:
        client, engine = app.test_client(), app.extensions["lang_portal.engine"]
        after_upgrade = start_session(client)
        assert after_upgrade > max(sessions)
        reset_history(client, engine)
        after_reset = start_session(client)
        assert after_reset > after_upgrade
        assert review_word(client, after_reset) > max_review
    finally:
        app.extensions["lang_portal.engine"].dispose()
    _assert_foreign_keys_hold(cli_engine)


def test_downgrade_to_0001_and_up_again_keeps_every_row(app, cli_engine):
    write_all(app.test_client(), HISTORY)
    # summed_history compares across 0003; 0004 keeps every row (test_cards_migration.py).
    migrate.downgrade(cli_engine, LEARNERS)
    before = tables(cli_engine)

    migrate.downgrade(cli_engine, "0001")
    assert tables(cli_engine) == summed_history(before)
    assert _sqlite_sequence(cli_engine) == {}  # AUTOINCREMENT is gone with its sequence
    _assert_foreign_keys_hold(cli_engine)

    at_0001 = tables(cli_engine)
    migrate.upgrade(cli_engine, LEARNERS)
    assert summed_history(tables(cli_engine)) == at_0001
    migrate.upgrade(cli_engine)
    _assert_foreign_keys_hold(cli_engine)


def _structure(engine: Engine) -> dict[str, dict[str, Any]]:
    """Each table's columns (by name: a column added back comes last), keys and indexes."""
    inspector = inspect(engine)
    structure = {}
    for name in set(inspector.get_table_names()) - {"alembic_version"}:
        structure[name] = {
            "columns": {
                column["name"]: (repr(column["type"]), column["nullable"], column["default"])
                for column in inspector.get_columns(name)
            },
            "primary_key": inspector.get_pk_constraint(name),
            "foreign_keys": sorted(map(repr, inspector.get_foreign_keys(name))),
            "indexes": sorted(map(repr, inspector.get_indexes(name))),
            "unique": sorted(map(repr, inspector.get_unique_constraints(name))),
        }
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            for name, table in _sqlite_structure(connection).items():
                structure[name]["autoincrement"] = table["autoincrement"]
    return structure


def test_upgrade_head_names_every_key_and_index_as_the_metadata_does(database_url):
    """Constraint names too, which compare_metadata lets through: a later migration finds
    a foreign key by its name, so a table rebuilt under a temporary name must not keep
    that name in its constraints."""
    engine = _fresh_engine(database_url)
    try:
        metadata.create_all(engine)
        created = _structure(engine)
        metadata.drop_all(engine)
        migrate.upgrade(engine)
        assert _structure(engine) == created
    finally:
        engine.dispose()


@pytest.mark.parametrize("revision", ["0001", PREVIOUS_HEAD, LEARNERS])
def test_downgrade_gives_back_the_schema_the_revision_made(database_url, revision):
    engine = _fresh_engine(database_url)
    try:
        migrate.upgrade(engine, revision)
        made = _structure(engine)
        migrate.upgrade(engine)
        migrate.downgrade(engine, revision)
        assert _structure(engine) == made
    finally:
        engine.dispose()
