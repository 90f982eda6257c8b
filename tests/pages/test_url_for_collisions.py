"""Query parameters named like url_for's own arguments change nothing on any page.

``url_with`` once passed the query string to ``url_for`` as keyword arguments, so
``?endpoint=x`` and ``?_method=POST`` were a 500, and ``?_anchor=`` or ``?_external=``
rewrote the page's sort and pagination links.
"""

from __future__ import annotations

import pytest

from tests.pages.html import PAGES, get_page

COLLIDING = [
    "_method=POST",
    "endpoint=x",
    "_anchor=evil",
    "_external=1",
    "_scheme=javascript",
    "_anchor=a&_external=yes&_method=DELETE&endpoint=pages.settings_page",
]


def _with(path: str, query: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}{query}"


@pytest.mark.parametrize("query", COLLIDING)
def test_every_page_ignores_url_for_argument_names(client, query):
    for path in PAGES:
        plain, _ = get_page(client, path)
        colliding, _ = get_page(client, _with(path, query))
        assert colliding.links == plain.links, path
        assert not [link for link in colliding.links if "evil" in link or "//" in link], path


def test_a_query_value_named_like_a_path_value_keeps_the_path(client):
    page, _ = get_page(client, "/portal/groups/1?group_id=2&sort_by=english")
    sort_links = [link for link in page.links if "sort_by=" in link]
    assert sort_links, "the group page has sort links"
    assert all(link.startswith("/portal/groups/1?") for link in sort_links)
    assert not [link for link in sort_links if "group_id" in link]
