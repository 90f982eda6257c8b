"""Alembic environment: migrations run on the connection lang-portal hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from lang_portal.schema import metadata


def run_migrations() -> None:
    """Migrate on config.attributes["connection"], or on the URL in sqlalchemy.url."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
        with engine.begin() as connection:
            _run(connection)
        return
    _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
