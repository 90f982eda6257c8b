"""Migrations: a fresh `upgrade head` equals schema.py, and downgrade works."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from lang_portal import migrate
from lang_portal.schema import metadata


def _fresh_engine(database_url: str):
    """An engine on an empty database of the same kind as ``database_url``."""
    engine = create_engine(database_url)
    migrate.downgrade(engine, "base")
    return engine


def test_upgrade_head_matches_the_metadata(database_url):
    engine = _fresh_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
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
