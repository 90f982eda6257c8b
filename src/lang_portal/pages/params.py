"""Reading a page's query string: page numbers and sort choices, checked against whitelists.

A bad value is a 400 page that says which value is wrong and what is allowed,
the same rule the JSON API follows, written for a person. The page arithmetic itself
is the API's: :class:`lang_portal.api.pagination.Pager`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from werkzeug.exceptions import BadRequest

from lang_portal.api.pagination import MAX_PAGE


def page_number(args: Mapping[str, str], name: str = "page") -> int:
    """The page asked for (1 when absent). Raises BadRequest when it is not 1 or more."""
    raw = args.get(name, "1").strip()
    if not raw.isdecimal() or not 1 <= int(raw) <= MAX_PAGE:
        raise BadRequest(f"The {name} number must be a whole number of 1 or more, not {raw!r}.")
    return int(raw)


def choice(args: Mapping[str, str], name: str, allowed: Collection[str], default: str) -> str:
    """A query value that must be one of ``allowed`` (``default`` when absent).

    Raises BadRequest naming the allowed values.
    """
    value = args.get(name, default)
    if value not in allowed:
        names = ", ".join(sorted(allowed))
        raise BadRequest(f"{name} must be one of {names}, not {value!r}.")
    return value
