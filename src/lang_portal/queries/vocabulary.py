"""Writing vocabulary: words into groups, and study activities. Used by seeding and import.

Words are identified by (kanji, romaji, english), so loading the same words again
adds nothing: every statement here is an insert-if-absent.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, tuple_, update

from lang_portal import db, schema


def ensure_group(connection: Connection, name: str) -> int:
    """The id of the group with this name, created if it does not exist."""
    connection.execute(
        db.upsert(connection, schema.groups, ["name"])
        .values(name=name)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return connection.execute(
        select(schema.groups.c.id).where(schema.groups.c.name == name)
    ).scalar_one()


def add_words(connection: Connection, group_id: int, batch: Iterable[dict[str, Any]]) -> int:
    """Add words to a group, skipping words and links that already exist.

    Returns how many words were newly linked to the group; the group's
    ``words_count`` grows by that much.
    """
    batch = list(batch)
    if not batch:
        return 0
    now = datetime.now(UTC)
    connection.execute(
        db.upsert(connection, schema.words, ["kanji", "romaji", "english"]).on_conflict_do_nothing(
            index_elements=["kanji", "romaji", "english"]
        ),
        [{**word, "created_at": now} for word in batch],
    )
    keys = [(w["kanji"], w["romaji"], w["english"]) for w in batch]
    word_ids = connection.execute(
        select(schema.words.c.id).where(
            tuple_(schema.words.c.kanji, schema.words.c.romaji, schema.words.c.english).in_(keys)
        )
    ).scalars()
    linked = len(
        connection.execute(
            db.upsert(connection, schema.word_groups, ["group_id", "word_id"])
            .on_conflict_do_nothing(index_elements=["group_id", "word_id"])
            .returning(schema.word_groups.c.word_id),
            [{"group_id": group_id, "word_id": word_id} for word_id in word_ids],
        ).all()
    )
    if linked:
        connection.execute(
            update(schema.groups)
            .where(schema.groups.c.id == group_id)
            .values(words_count=schema.groups.c.words_count + linked)
        )
    return linked


def ensure_study_activity(connection: Connection, activity: dict[str, str]) -> None:
    """Add a bundled study activity, or bring the one with its name up to date.

    The bundled activities belong to lang-portal: a release that moves one (as Typing
    Tutor and Kanji Match moved from outside addresses into lang-portal itself) updates
    the rows of an existing database, so that no dead link survives an upgrade.
    """
    upsert = db.upsert(connection, schema.study_activities, ["name"]).values(**activity)
    connection.execute(
        upsert.on_conflict_do_update(
            index_elements=["name"],
            set_={column: upsert.excluded[column] for column in activity if column != "name"},
        )
    )
