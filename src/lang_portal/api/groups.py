"""Word groups: the thematic lists a learner studies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection

from lang_portal.api.pagination import MAX_PAGE, Order, total_pages
from lang_portal.api.routing import api
from lang_portal.errors import not_found
from lang_portal.queries import groups


class GroupListQuery(BaseModel):
    """``?page&per_page&sort_by&order`` for the group list."""

    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(10, ge=1, le=100)
    sort_by: Literal["name", "words_count", "word_count"] = "name"
    order: Order = "asc"


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


@api.get("/groups", query=GroupListQuery, response=GroupList, legacy=True, errors=(400,))
def list_groups(connection: Connection, query: GroupListQuery) -> dict[str, Any]:
    """List word groups, sorted by name or by word count."""
    offset = (query.page - 1) * query.per_page
    items = groups.page(connection, query.sort_by, query.order == "desc", offset, query.per_page)
    return {
        "groups": items,
        "total_pages": total_pages(groups.count(connection), query.per_page),
        "current_page": query.page,
    }


@api.get("/groups/<id:group_id>", response=Group, legacy=True, errors=(404,))
def get_group(connection: Connection, group_id: int) -> dict[str, Any]:
    """Show one word group."""
    group = groups.get(connection, group_id)
    if group is None:
        raise not_found("group")
    return group
