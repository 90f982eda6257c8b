"""The one pagination helper: query models with their bounds, and the page arithmetic.

The JSON API and the HTML pages both use :class:`Pager` for the arithmetic (offset,
number of pages, the pages around one, the items shown). Out-of-range values are a
400, never silently clamped. A page past the end is an empty page, not an error.

A list sorted by a time and the id may also be read with a keyset cursor (``?after=``,
:class:`CursorQuery`): a page found from where the page before ended, so that the
middle of 1M sessions costs what the first page does (docs/performance.md).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from lang_portal.schema import MAX_ID

MAX_PAGE = 2**31 - 1
Order = Literal["asc", "desc"]


@dataclass(frozen=True)
class Pager:
    """Where a page is in a list: its number, size, the total and the pages around it."""

    page: int
    per_page: int
    total: int = 0

    @property
    def offset(self) -> int:
        """How many items come before this page."""
        return (self.page - 1) * self.per_page

    @property
    def pages(self) -> int:
        """How many pages ``total`` items fill; an empty list still has page 1."""
        return max(1, -(-self.total // self.per_page))

    @property
    def previous(self) -> int | None:
        """The page before this one, or None on the first."""
        return self.page - 1 if self.page > 1 else None

    @property
    def next(self) -> int | None:
        """The page after this one, or None on the last (or past the end)."""
        return self.page + 1 if self.page < self.pages else None

    @property
    def first_item(self) -> int:
        """The position (from 1) of the first item shown; 0 in an empty list."""
        return min(self.offset + 1, self.total)

    @property
    def last_item(self) -> int:
        """The position of the last item shown."""
        return min(self.offset + self.per_page, self.total)


class PageQuery(BaseModel):
    """``?page=1&per_page=10``: page >= 1, 1 <= per_page <= 100."""

    page: int = Field(1, ge=1, le=MAX_PAGE, description="Page number, from 1.")
    per_page: int = Field(10, ge=1, le=100, description="Items per page, 1 to 100.")

    def pager(self, total: int = 0) -> Pager:
        """The page asked for, in a list of ``total`` items."""
        return Pager(self.page, self.per_page, total)

    @property
    def offset(self) -> int:
        """How many items come before the page asked for."""
        return self.pager().offset


def cursor(time: datetime, item_id: int) -> str:
    """The ``?after=`` value of the page after an item sorted by ``time`` then id: opaque."""
    key = f"{time.astimezone(UTC).isoformat()}|{item_id}"
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def cursor_key(value: str) -> tuple[datetime, int]:
    """The (time, in UTC, and id) a :func:`cursor` names. Raises ValueError for anything
    else, a time UTC cannot hold included."""
    problem = "is not a cursor this list gave"
    try:
        key = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        time, _, item_id = key.partition("|")
        when = datetime.fromisoformat(time)
        number = int(item_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError(problem) from None
    if when.tzinfo is None or not 1 <= number <= MAX_ID:
        raise ValueError(problem)
    try:
        return when.astimezone(UTC), number
    except OverflowError:  # the year 1 east of Greenwich, or 9999 west of it
        raise ValueError(problem) from None


class CursorQuery(BaseModel):
    """``?after=``: the page after a ``next_after`` cursor, instead of ``?page=``."""

    after: str | None = Field(
        None,
        max_length=200,
        description="The cursor the page before gave (its `next_after`, or the one in its "
        "`more` link): the page after it, however deep it is, at the cost of the first. "
        "Not together with `page`.",
    )

    @field_validator("after")
    @classmethod
    def _a_cursor(cls, after: str | None) -> str | None:
        if after is not None:
            cursor_key(after)
        return after

    @model_validator(mode="after")
    def _page_or_after(self) -> Any:
        if self.after is not None and "page" in self.model_fields_set:
            raise ValueError("give page or after, not both")
        return self

    @property
    def after_key(self) -> tuple[datetime, int] | None:
        """The (time, id) of the last item before the page, for ``after``."""
        return None if self.after is None else cursor_key(self.after)


class SortedPageQuery(PageQuery):
    """A page of a sorted list: ``sort_by`` (a whitelist's ``Literal``) and ``order``.

    Subclasses narrow ``sort_by`` to their whitelist and give both their defaults.
    """

    sort_by: str
    order: Order = "asc"

    def window(self) -> dict[str, Any]:
        """The keyword arguments of a query module's sorted ``page`` functions."""
        return {
            "sort_by": self.sort_by,
            "descending": self.order == "desc",
            "offset": self.offset,
            "limit": self.per_page,
        }


def legacy_page(name: str, items: list, total: int, query: PageQuery) -> dict:
    """The frontend's older page shape: ``{name: items, total_pages, current_page}``."""
    return {name: items, "total_pages": query.pager(total).pages, "current_page": query.page}


def page_body(items: list, total: int, query: PageQuery, name: str = "items") -> dict:
    """The standard paginated body: items (under ``name``), total, page, per_page, total_pages."""
    return {
        name: items,
        "total": total,
        "page": query.page,
        "per_page": query.per_page,
        "total_pages": query.pager(total).pages,
    }
