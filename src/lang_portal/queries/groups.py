"""Queries for word groups."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from lang_portal import schema

# The whitelist of sort keys: what a client may ask for -> the column it means.
SORT_COLUMNS = {
    "name": schema.groups.c.name,
    "words_count": schema.groups.c.words_count,
    "word_count": schema.groups.c.words_count,
}
_COLUMNS = (
    schema.groups.c.id,
    schema.groups.c.name.label("group_name"),
    schema.groups.c.words_count.label("word_count"),
)


def count(connection: Connection) -> int:
    """How many groups there are."""
    return connection.execute(select(func.count()).select_from(schema.groups)).scalar_one()


def page(
    connection: Connection, sort_by: str, descending: bool, offset: int, limit: int
) -> list[dict[str, Any]]:
    """A page of groups as ``{id, group_name, word_count}``, sorted by a whitelisted key."""
    column = SORT_COLUMNS[sort_by]
    ordering = (
        (column.desc(), schema.groups.c.id.desc()) if descending else (column, schema.groups.c.id)
    )
    rows = connection.execute(select(*_COLUMNS).order_by(*ordering).offset(offset).limit(limit))
    return [dict(row._mapping) for row in rows]


def get(connection: Connection, group_id: int) -> dict[str, Any] | None:
    """One group as ``{id, group_name, word_count}``, or None."""
    row = connection.execute(select(*_COLUMNS).where(schema.groups.c.id == group_id)).one_or_none()
    return dict(row._mapping) if row else None


def all_names(connection: Connection) -> list[dict[str, Any]]:
    """Every group as ``{id, name}``, by name: what a launch form offers."""
    rows = connection.execute(
        select(schema.groups.c.id, schema.groups.c.name).order_by(schema.groups.c.name)
    )
    return [dict(row._mapping) for row in rows]


def sessions_count(connection: Connection, group_id: int) -> int | None:
    """How many sessions were started for this group, from its counter; None if no such group."""
    return connection.execute(
        select(schema.groups.c.sessions_count).where(schema.groups.c.id == group_id)
    ).scalar_one_or_none()
