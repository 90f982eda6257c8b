"""Word groups: the thematic lists a learner studies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, JsonValue
from sqlalchemy import Connection

from lang_portal import queries
from lang_portal.api.lookup import found
from lang_portal.api.pagination import Order, SortedPageQuery, legacy_page
from lang_portal.api.routing import routes
from lang_portal.api.study_sessions import StudySessionItem
from lang_portal.api.words import WordItem, WordSortKey
from lang_portal.identity import LAUNCH_GROUP

# Each whitelist's keys, in its order; they become the OpenAPI enums.
GroupSortKey = Literal[tuple(queries.groups.SORT_COLUMNS)]  # type: ignore[valid-type]
GroupSessionSortKey = Literal[  # type: ignore[valid-type]
    tuple(queries.study_sessions.GROUP_SORT_COLUMNS)
]


class GroupListQuery(SortedPageQuery):
    """``?page&per_page&sort_by&order`` for the group list."""

    sort_by: GroupSortKey = "name"


class Group(BaseModel):
    """A group with the number of words in it."""

    id: int
    group_name: str
    word_count: int


class GroupList(BaseModel):
    """A page of groups, in the shape the lang-portal frontend reads."""

    groups: list[Group]
    total_pages: int
    current_page: int


@routes.get("/groups", query=GroupListQuery, response=GroupList, legacy=True, errors=(400,))
def list_groups(connection: Connection, query: GroupListQuery) -> dict[str, Any]:
    """List word groups, sorted by name or by word count."""
    items = queries.groups.page(connection, **query.window())
    return legacy_page("groups", items, queries.groups.count(connection), query)


@routes.get(
    "/groups/<id:group_id>", response=Group, legacy=True, launch=LAUNCH_GROUP, errors=(404,)
)
def get_group(connection: Connection, group_id: int) -> dict[str, Any]:
    """Show one word group."""
    return found(queries.groups.get(connection, group_id), "group")


class GroupWordsQuery(SortedPageQuery):
    """``?page&per_page&sort_by&order`` for a group's words."""

    sort_by: WordSortKey = "kanji"


class GroupWords(BaseModel):
    """A page of a group's words, in the shape the lang-portal frontend reads."""

    words: list[WordItem]
    total_pages: int
    current_page: int


class WordWithParts(BaseModel):
    """A word with its parts (kanji pieces and their readings), for a study activity."""

    id: int
    kanji: str
    romaji: str
    english: str
    parts: JsonValue


class GroupWordsRaw(BaseModel):
    """Every word of a group: what a study activity fetches after it is launched."""

    group_id: int
    group_name: str
    words: list[WordWithParts]


class GroupSessionsQuery(SortedPageQuery):
    """``?page&per_page&sort_by&order`` for a group's sessions; sort keys in two spellings."""

    sort_by: GroupSessionSortKey = "created_at"
    order: Order = "desc"


class GroupStudySession(StudySessionItem):
    """A session of the group; ``study_activity_id`` repeats ``activity_id``."""

    study_activity_id: int


class GroupStudySessions(BaseModel):
    """A page of a group's sessions, in the shape the lang-portal frontend reads."""

    study_sessions: list[GroupStudySession]
    total_pages: int
    current_page: int


@routes.get(
    "/groups/<id:group_id>/words",
    query=GroupWordsQuery,
    response=GroupWords,
    legacy=True,
    scoped=True,
    launch=LAUNCH_GROUP,
    errors=(400, 404),
)
def list_group_words(
    connection: Connection, learner_id: int, group_id: int, query: GroupWordsQuery
) -> dict[str, Any]:
    """List a page of the words in a group, with the learner's review counts."""
    group = found(queries.groups.get(connection, group_id), "group")
    page = queries.words.group_page(connection, learner_id, group_id, **query.window())
    return legacy_page("words", page, group["word_count"], query)


@routes.get(
    "/groups/<id:group_id>/words/raw",
    response=GroupWordsRaw,
    legacy=True,
    launch=LAUNCH_GROUP,
    errors=(404,),
)
def list_group_words_raw(connection: Connection, group_id: int) -> dict[str, Any]:
    """List every word of a group with its parts, for a study activity to run on."""
    group = found(queries.groups.get(connection, group_id), "group")
    return {
        "group_id": group_id,
        "group_name": group["group_name"],
        "words": queries.words.group_words_with_parts(connection, group_id),
    }


@routes.get(
    "/groups/<id:group_id>/study-sessions",
    query=GroupSessionsQuery,
    response=GroupStudySessions,
    legacy=True,
    scoped=True,
    errors=(400, 404),
)
def list_group_study_sessions(
    connection: Connection, learner_id: int, group_id: int, query: GroupSessionsQuery
) -> dict[str, Any]:
    """List a page of the learner's study sessions of a group, newest first unless sorted
    otherwise."""
    total = found(queries.groups.sessions_count(connection, learner_id, group_id), "group")
    page = queries.study_sessions.group_page(
        connection, learner_id, group_id, **query.window(), total=total
    )
    return legacy_page("study_sessions", page, total, query)
