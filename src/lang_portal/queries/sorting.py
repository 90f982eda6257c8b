"""Sort-key whitelists: what a client may ask to sort by, the column each key means,
and the heading a page shows above that column.

Each resource's query module writes its whitelist once, as ``{key: SortKey}``; the
API's ``Literal`` types (and so the OpenAPI enums) and the page headings are derived
from it with :func:`columns` and :func:`headings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement


class SortKey(NamedTuple):
    """One whitelisted key: the column it sorts by, and its heading on a page.

    ``heading`` is None for a second spelling of a key (one a client may send, that a
    page does not show as a column of its own).
    """

    column: ColumnElement[Any]
    heading: str | None = None


def columns(whitelist: Mapping[str, SortKey]) -> dict[str, ColumnElement[Any]]:
    """Key -> column, in the whitelist's order: what the queries sort by."""
    return {key: sort.column for key, sort in whitelist.items()}


def headings(whitelist: Mapping[str, SortKey]) -> tuple[tuple[str, str], ...]:
    """(key, heading) of every key that has a heading, in order: a page table's columns."""
    return tuple((key, sort.heading) for key, sort in whitelist.items() if sort.heading)


def ordering(
    column: ColumnElement[Any], tiebreak: ColumnElement[Any], descending: bool
) -> tuple[Any, Any]:
    """ORDER BY a whitelisted column, then by the row id in the same direction.

    The id makes the order total, so that consecutive pages never overlap or skip rows.
    """
    if descending:
        return column.desc(), tiebreak.desc()
    return column.asc(), tiebreak.asc()
