"""The one pagination helper: query models with their bounds, and page arithmetic.

Out-of-range values are a 400, never silently clamped. A page past the end is
an empty page, not an error.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

MAX_PAGE = 2**31 - 1
Order = Literal["asc", "desc"]


class PageQuery(BaseModel):
    """``?page=1&per_page=10``: page >= 1, 1 <= per_page <= 100."""

    page: int = Field(1, ge=1, le=MAX_PAGE, description="Page number, from 1.")
    per_page: int = Field(10, ge=1, le=100, description="Items per page, 1 to 100.")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def total_pages(total: int, per_page: int) -> int:
    """How many pages ``total`` items fill; an empty list still has page 1."""
    return max(1, -(-total // per_page))


def legacy_page(name: str, items: list, total: int, query: PageQuery) -> dict:
    """The frontend's older page shape: ``{name: items, total_pages, current_page}``."""
    return {
        name: items,
        "total_pages": total_pages(total, query.per_page),
        "current_page": query.page,
    }


def page_body(items: list, total: int, query: PageQuery, name: str = "items") -> dict:
    """The standard paginated body: items (under ``name``), total, page, per_page, total_pages."""
    return {
        name: items,
        "total": total,
        "page": query.page,
        "per_page": query.per_page,
        "total_pages": total_pages(total, query.per_page),
    }
