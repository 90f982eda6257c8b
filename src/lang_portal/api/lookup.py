"""Looking up the resource a URL names: the one place a missing row becomes the API's 404."""

from __future__ import annotations

from typing import TypeVar

from lang_portal.errors import not_found

Found = TypeVar("Found")


def found(value: Found | None, what: str) -> Found:
    """``value``, as read by a query function that answers None for a missing row.

    Raises ApiError 404 ("``what`` not found", e.g. "group not found") when it is None.
    """
    if value is None:
        raise not_found(what)
    return value
