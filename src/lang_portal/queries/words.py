"""Queries for words: the vocabulary list, one word with its groups, and a group's words.

Every word carries its own review counters (``correct_count``, ``wrong_count``),
kept by the review writes, so no read here touches the review history.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, func, select

from lang_portal.schema import groups, word_groups, words

# The whitelist of sort keys: what a client may ask for -> the column it means.
SORT_COLUMNS = {
    "kanji": words.c.kanji,
    "romaji": words.c.romaji,
    "english": words.c.english,
    "correct_count": words.c.correct_count,
    "wrong_count": words.c.wrong_count,
}
WORD_COLUMNS = (
    words.c.id,
    words.c.kanji,
    words.c.romaji,
    words.c.english,
    words.c.correct_count,
    words.c.wrong_count,
)


def _sorted(statement: Select[Any], sort_by: str, descending: bool) -> Select[Any]:
    """Order by a whitelisted key, then by id, so that pages never overlap or skip."""
    column = SORT_COLUMNS[sort_by]
    if descending:
        return statement.order_by(column.desc(), words.c.id.desc())
    return statement.order_by(column, words.c.id)


def count(connection: Connection) -> int:
    """How many words are stored (the vocabulary, not the review history)."""
    return connection.execute(select(func.count()).select_from(words)).scalar_one()


def page(
    connection: Connection, sort_by: str, descending: bool, offset: int, limit: int
) -> list[dict[str, Any]]:
    """A page of words with their review counters, sorted by a whitelisted key."""
    statement = _sorted(select(*WORD_COLUMNS), sort_by, descending).offset(offset).limit(limit)
    return [dict(row._mapping) for row in connection.execute(statement)]


def get(connection: Connection, word_id: int) -> dict[str, Any] | None:
    """One word with its counters and the groups it belongs to (``{id, name}``), or None."""
    row = connection.execute(select(*WORD_COLUMNS).where(words.c.id == word_id)).one_or_none()
    if row is None:
        return None
    member_of = connection.execute(
        select(groups.c.id, groups.c.name)
        .join(word_groups, word_groups.c.group_id == groups.c.id)
        .where(word_groups.c.word_id == word_id)
        .order_by(groups.c.name, groups.c.id)
    )
    return {**row._mapping, "groups": [dict(group._mapping) for group in member_of]}


def group_page(
    connection: Connection,
    group_id: int,
    sort_by: str,
    descending: bool,
    offset: int,
    limit: int,
) -> list[dict[str, Any]]:
    """A page of one group's words, sorted by a whitelisted key.

    The total is the group's ``words_count`` counter; see :func:`queries.groups.get`.
    """
    statement = (
        select(*WORD_COLUMNS)
        .join(word_groups, word_groups.c.word_id == words.c.id)
        .where(word_groups.c.group_id == group_id)
    )
    statement = _sorted(statement, sort_by, descending).offset(offset).limit(limit)
    return [dict(row._mapping) for row in connection.execute(statement)]


def group_words_with_parts(connection: Connection, group_id: int) -> list[dict[str, Any]]:
    """Every word of a group with its ``parts``, by id: what a study activity runs on."""
    rows = connection.execute(
        select(words.c.id, words.c.kanji, words.c.romaji, words.c.english, words.c.parts)
        .join(word_groups, word_groups.c.word_id == words.c.id)
        .where(word_groups.c.group_id == group_id)
        .order_by(words.c.id)
    )
    return [dict(row._mapping) for row in rows]
