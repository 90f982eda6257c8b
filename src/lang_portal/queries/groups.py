"""Queries for word groups."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, func, select

from lang_portal import schema
from lang_portal.queries import sorting
from lang_portal.queries.sorting import SortKey

# The whitelist of sort keys, in the order a group table shows them: what a client may
# ask for -> the column it means and its heading. Everything else is derived from it.
SORT_KEYS = {
    "name": SortKey(schema.groups.c.name, "Group"),
    "words_count": SortKey(schema.groups.c.words_count, "Words"),
    "word_count": SortKey(schema.groups.c.words_count),  # the frontend's spelling
}
SORT_COLUMNS = sorting.columns(SORT_KEYS)
HEADINGS = sorting.headings(SORT_KEYS)
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
    ordering = sorting.ordering(SORT_COLUMNS[sort_by], schema.groups.c.id, descending)
    rows = connection.execute(select(*_COLUMNS).order_by(*ordering).offset(offset).limit(limit))
    return [dict(row._mapping) for row in rows]


def get(connection: Connection, group_id: int) -> dict[str, Any] | None:
    """One group as ``{id, group_name, word_count}``, or None."""
    row = connection.execute(select(*_COLUMNS).where(schema.groups.c.id == group_id)).one_or_none()
    return dict(row._mapping) if row else None


def get_with_sessions_count(
    connection: Connection, learner_id: int, group_id: int
) -> dict[str, Any] | None:
    """One group as ``{id, group_name, word_count, sessions_count}``, or None, where
    ``sessions_count`` counts the learner's sessions of it.

    For a page that shows the group and counts its sessions: one read, not two.
    """
    progress = schema.group_progress
    row = connection.execute(
        select(*_COLUMNS, func.coalesce(progress.c.sessions_count, 0).label("sessions_count"))
        .select_from(
            schema.groups.outerjoin(
                progress,
                and_(
                    progress.c.group_id == schema.groups.c.id, progress.c.learner_id == learner_id
                ),
            )
        )
        .where(schema.groups.c.id == group_id)
    ).one_or_none()
    return dict(row._mapping) if row else None


def all_names(connection: Connection) -> list[dict[str, Any]]:
    """Every group as ``{id, name}``, by name: what a launch form offers."""
    rows = connection.execute(
        select(schema.groups.c.id, schema.groups.c.name).order_by(schema.groups.c.name)
    )
    return [dict(row._mapping) for row in rows]


def sessions_count(connection: Connection, learner_id: int, group_id: int) -> int | None:
    """How many sessions the learner started for this group; None if no such group."""
    group = get_with_sessions_count(connection, learner_id, group_id)
    return group["sessions_count"] if group else None


def by_name(connection: Connection, name: str) -> dict[str, Any] | None:
    """The group with exactly this name as ``{id, group_name, word_count}``, or None.

    For the command line, where a group is named rather than numbered.
    """
    row = connection.execute(select(*_COLUMNS).where(schema.groups.c.name == name)).one_or_none()
    return dict(row._mapping) if row else None
