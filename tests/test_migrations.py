"""Migrations: a fresh `upgrade head` equals schema.py, downgrade works, and no row is lost.

The rows tests migrate through the engine `lang-portal init-db` and `serve` build: on
SQLite it enforces foreign keys, so a table rebuild that dropped study_sessions
before its reviews were safe would delete every review.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import Connection, Engine, create_engine, delete, exc, insert, inspect, select

from lang_portal import db, migrate, schema, seed
from lang_portal.schema import metadata
from tests.conftest import make_app
from tests.support import reset_history, review_word, snapshot, start_session

# The tables whose ids must never be handed out twice (see test_session_ids.py).
NEVER_REUSED = {"study_sessions", "word_review_items"}


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


@pytest.fixture
def app_at_0001(database_url: str, cli_engine: Engine) -> Iterator[Flask]:
    """The app on a seeded database made by migration 0001 alone (ids could be reused)."""
    migrate.downgrade(cli_engine, "base")
    migrate.upgrade(cli_engine, "0001")
    with db.writing(cli_engine) as connection:
        seed.load(connection)
    application = make_app(database_url)
    yield application
    application.extensions["lang_portal.engine"].dispose()


def _record_history(client: Any) -> list[int]:
    """Three sessions, reviews through both routes, one stored Idempotency-Key; their ids."""
    sessions = [start_session(client) for _ in range(3)]
    for word_id in (1, 2, 3):
        review_word(client, sessions[1], word_id)
    batch = client.post(
        f"/api/study-sessions/{sessions[0]}/review",
        json={"reviews": [{"word_id": 4, "is_correct": False}, {"word_id": 5, "correct": True}]},
        headers={"Idempotency-Key": "recorded-before-the-migration"},
    )
    assert batch.status_code == 201, batch.get_json()
    return sessions


def _assert_foreign_keys_hold(client: Any, engine: Engine) -> None:
    """Every reference is valid, deleting a session deletes its reviews only, orphans fail."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    doomed, kept = start_session(client), start_session(client)
    review_word(client, doomed, 1)
    review_word(client, doomed, 2)
    kept_review = review_word(client, kept, 1)
    with db.writing(engine) as connection:
        connection.execute(
            delete(schema.study_sessions).where(schema.study_sessions.c.id == doomed)
        )
    with engine.connect() as connection:
        left = connection.execute(
            select(schema.word_review_items.c.id).where(
                schema.word_review_items.c.study_session_id.in_([doomed, kept])
            )
        ).scalars()
        assert list(left) == [kept_review]
    with pytest.raises(exc.IntegrityError), db.writing(engine) as connection:
        connection.execute(
            insert(schema.word_review_items).values(
                word_id=1, study_session_id=doomed, correct=True, created_at=datetime.now(UTC)
            )
        )


def _sqlite_sequence(engine: Engine) -> dict[str, int]:
    """The largest id each AUTOINCREMENT table has ever handed out (empty on PostgreSQL)."""
    if engine.dialect.name != "sqlite":
        return {}
    with engine.connect() as connection:
        return dict(connection.exec_driver_sql("SELECT name, seq FROM sqlite_sequence").all())


def test_upgrade_from_0001_keeps_every_row_and_never_reuses_an_id(app_at_0001, cli_engine):
    client, engine = app_at_0001.test_client(), app_at_0001.extensions["lang_portal.engine"]
    sessions = _record_history(client)
    before = snapshot(engine)
    assert all(before[name] for name in (*NEVER_REUSED, "idempotency_keys", "daily_activity"))
    assert _sqlite_sequence(engine) == {}  # 0001 had no AUTOINCREMENT table

    migrate.upgrade(cli_engine)

    assert snapshot(engine) == before
    max_review = max(row["id"] for row in before["word_review_items"])
    if engine.dialect.name == "sqlite":
        assert _sqlite_sequence(engine) == {
            "study_sessions": max(sessions),
            "word_review_items": max_review,
        }
    after_upgrade = start_session(client)
    assert after_upgrade > max(sessions)
    reset_history(client, engine)
    after_reset = start_session(client)
    assert after_reset > after_upgrade
    assert review_word(client, after_reset) > max_review
    _assert_foreign_keys_hold(client, engine)


def test_downgrade_to_0001_and_up_again_keeps_every_row(app, cli_engine):
    client, engine = app.test_client(), app.extensions["lang_portal.engine"]
    _record_history(client)
    before = snapshot(engine)

    migrate.downgrade(cli_engine, "0001")
    assert snapshot(engine) == before
    assert _sqlite_sequence(engine) == {}  # AUTOINCREMENT is gone with its sequence
    _assert_foreign_keys_hold(client, engine)

    at_0001 = snapshot(engine)
    migrate.upgrade(cli_engine)
    assert snapshot(engine) == at_0001
    _assert_foreign_keys_hold(client, engine)
