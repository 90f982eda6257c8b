"""Queries for words: the vocabulary list, one word with its groups, and a group's words.

The words are everyone's; their review counters (``correct_count``, ``wrong_count``)
are one learner's, read from that learner's ``word_progress`` rows (kept by the
review writes, so no read here touches the review history). A word the learner never
reviewed has no row there and counts zero.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, FromClause, Select, and_, func, select

from lang_portal import schema
from lang_portal.queries import sorting
from lang_portal.queries.sorting import SortKey

_CORRECT = func.coalesce(schema.word_progress.c.correct_count, 0)
_WRONG = func.coalesce(schema.word_progress.c.wrong_count, 0)

# The whitelist of sort keys, in the order a word table shows them: what a client may
# ask for -> the column it means and its heading. Everything else is derived from it.
SORT_KEYS = {
    "kanji": SortKey(schema.words.c.kanji, "Japanese"),
    "romaji": SortKey(schema.words.c.romaji, "Reading"),
    "english": SortKey(schema.words.c.english, "English"),
    "correct_count": SortKey(_CORRECT, "Right"),
    "wrong_count": SortKey(_WRONG, "Wrong"),
}
SORT_COLUMNS = sorting.columns(SORT_KEYS)
HEADINGS = sorting.headings(SORT_KEYS)
WORD_FIELDS = (
    schema.words.c.id,
    schema.words.c.kanji,
    schema.words.c.romaji,
    schema.words.c.english,
    _CORRECT.label("correct_count"),
    _WRONG.label("wrong_count"),
)


def _with_progress(learner_id: int) -> FromClause:
    """The words, each with the learner's ``word_progress`` row when there is one."""
    progress = schema.word_progress
    return schema.words.outerjoin(
        progress,
        and_(progress.c.word_id == schema.words.c.id, progress.c.learner_id == learner_id),
    )


def _sorted(statement: Select[Any], sort_by: str, descending: bool) -> Select[Any]:
    """Order by a whitelisted key, then by id, so that pages never overlap or skip."""
    return statement.order_by(
        *sorting.ordering(SORT_COLUMNS[sort_by], schema.words.c.id, descending)
    )


def count(connection: Connection) -> int:
    """How many words are stored (the vocabulary, not the review history)."""
    return connection.execute(select(func.count()).select_from(schema.words)).scalar_one()


def page(
    connection: Connection,
    learner_id: int,
    sort_by: str,
    descending: bool,
    offset: int,
    limit: int,
) -> list[dict[str, Any]]:
    """A page of words with the learner's review counters, sorted by a whitelisted key."""
    statement = select(*WORD_FIELDS).select_from(_with_progress(learner_id))
    statement = _sorted(statement, sort_by, descending).offset(offset).limit(limit)
    return [dict(row._mapping) for row in connection.execute(statement)]


def get(connection: Connection, learner_id: int, word_id: int) -> dict[str, Any] | None:
    """One word with the learner's counters and the groups it belongs to (``{id, name}``),
    or None."""
    row = connection.execute(
        select(*WORD_FIELDS)
        .select_from(_with_progress(learner_id))
        .where(schema.words.c.id == word_id)
    ).one_or_none()
    if row is None:
        return None
    member_of = connection.execute(
        select(schema.groups.c.id, schema.groups.c.name)
        .join(schema.word_groups, schema.word_groups.c.group_id == schema.groups.c.id)
        .where(schema.word_groups.c.word_id == word_id)
        .order_by(schema.groups.c.name, schema.groups.c.id)
    )
    return {**row._mapping, "groups": [dict(group._mapping) for group in member_of]}


def group_page(
    connection: Connection,
    learner_id: int,
    group_id: int,
    sort_by: str,
    descending: bool,
    offset: int,
    limit: int,
) -> list[dict[str, Any]]:
    """A page of one group's words with the learner's counters, sorted by a whitelisted key.

    The total is the group's ``words_count`` counter; see :func:`queries.groups.get`.
    """
    statement = (
        select(*WORD_FIELDS)
        .select_from(
            _with_progress(learner_id).join(
                schema.word_groups, schema.word_groups.c.word_id == schema.words.c.id
            )
        )
        .where(schema.word_groups.c.group_id == group_id)
    )
    statement = _sorted(statement, sort_by, descending).offset(offset).limit(limit)
    return [dict(row._mapping) for row in connection.execute(statement)]


def group_words_with_parts(connection: Connection, group_id: int) -> list[dict[str, Any]]:
    """Every word of a group with its ``parts``, by id: what a study activity runs on."""
    rows = connection.execute(
        select(
            schema.words.c.id,
            schema.words.c.kanji,
            schema.words.c.romaji,
            schema.words.c.english,
            schema.words.c.parts,
        )
        .join(schema.word_groups, schema.word_groups.c.word_id == schema.words.c.id)
        .where(schema.word_groups.c.group_id == group_id)
        .order_by(schema.words.c.id)
    )
    return [dict(row._mapping) for row in rows]
