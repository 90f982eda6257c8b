"""Word groups: the thematic lists a learner studies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, JsonValue, model_validator
from sqlalchemy import Connection

from lang_portal import queries
from lang_portal.api.lookup import found
from lang_portal.api.pagination import CursorQuery, Order, SortedPageQuery, cursor, legacy_page
from lang_portal.api.routing import routes
from lang_portal.api.study_sessions import StudySessionItem
from lang_portal.api.words import WordItem, WordSortKey
from lang_portal.identity import LAUNCH_GROUP
from lang_portal.queries.study_sessions import GROUP_CURSOR_FIELDS

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


class GroupSessionsQuery(CursorQuery, SortedPageQuery):
    """``?page&per_page&sort_by&order`` for a group's sessions; sort keys in two spellings.

    Sorted by start or end time, ``?after=`` (the ``next_after`` of the page before) is
    the page after it instead of ``?page=``.
    """

    sort_by: GroupSessionSortKey = "created_at"
    order: Order = "desc"

    @model_validator(mode="after")
    def _after_by_time(self) -> GroupSessionsQuery:
        if self.after is not None and self.sort_by not in GROUP_CURSOR_FIELDS:
            raise ValueError("after goes with sort_by created_at, start_time or end_time")
        return self


class GroupStudySession(StudySessionItem):
    """A session of the group; ``study_activity_id`` repeats ``activity_id``."""

    study_activity_id: int


class GroupStudySessions(BaseModel):
    """A page of a group's sessions, in the shape the lang-portal frontend reads."""

    study_sessions: list[GroupStudySession]
    total_pages: int
    current_page: int | None = Field(description="The page number; null on a page of `after`.")
    next_after: str | None = Field(
        description="The `?after=` of the next page, sorted by start or end time; null "
        "on the last page and for the other sort keys."
    )


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
    after = query.after_key
    if after is None:
        items = queries.study_sessions.group_page(
            connection, learner_id, group_id, **query.window(), total=total
        )
        more = query.offset + len(items) < total
    else:  # one more than the page: whether a page follows
        descending = query.order == "desc"
        items = queries.study_sessions.group_page_after(
            connection, learner_id, group_id, query.sort_by, descending, after, query.per_page + 1
        )
        more = len(items) > query.per_page
        items = items[: query.per_page]
    field = GROUP_CURSOR_FIELDS.get(query.sort_by)
    return {
        **legacy_page("study_sessions", items, total, query),
        "current_page": None if after else query.page,
        "next_after": cursor(items[-1][field], items[-1]["id"])
        if field and more and items
        else None,
    }
