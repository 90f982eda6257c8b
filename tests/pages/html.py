"""A small HTML reader for page tests: text by element id, links, scripts and inline styles."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


class Page(HTMLParser):
    """Parses one HTML document and keeps what the tests look at."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: dict[str, list[str]] = {}
        self.links: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.inline_styles = 0
        self.inline_handlers: list[str] = []
        self.title = ""
        self._open: list[tuple[str, str | None]] = []
        self._in_title = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "style" in attributes:
            self.inline_styles += 1
        self.inline_handlers += [name for name in attributes if name.startswith("on")]
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"] or "")
        if tag == "script":
            self.scripts.append(attributes)
        if tag == "title" and not self.title:  # the document's, not an SVG's
            self._in_title = True
        if tag in _VOID:
            return
        element_id = attributes.get("id")
        if element_id:
            self.ids.setdefault(element_id, [])
        self._open.append((tag, element_id))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        for _, element_id in self._open:
            if element_id:
                self.ids[element_id].append(data)

    def text(self, element_id: str) -> str:
        """The whitespace-normalised text inside the element with this id."""
        assert element_id in self.ids, f"no element with id {element_id!r}"
        return re.sub(r"\s+", " ", "".join(self.ids[element_id])).strip()


def visible_text(document: str) -> str:
    """The page's text without tags, whitespace normalised (for 'says X' checks)."""
    without_scripts = re.sub(r"<script.*?</script>", " ", document, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", without_scripts))
    return re.sub(r"\s+", " ", text).strip()


# Every portal page, with a few query strings: the pages the page tests walk.
PAGES = [
    "/",
    "/portal/words",
    "/portal/words?sort_by=english&order=desc&page=2",
    "/portal/words/1",
    "/portal/groups",
    "/portal/groups?sort_by=words_count&order=desc",
    "/portal/groups/1",
    "/portal/groups/1?sort_by=wrong_count&order=desc&page=2",
    "/portal/groups/1/sessions",
    "/portal/study-activities",
    "/portal/study-activities/1",
    "/portal/study-activities/1?group_id=3",
    "/portal/sessions",
    "/portal/settings",
    "/portal/review",
    "/activities/flashcards/",
    "/activities/review/",
]


def get_page(client: Any, path: str, status: int = 200) -> tuple[Page, str]:
    """GET a page, check it is HTML with this status; its parsed form and visible text."""
    response = client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    return Page(text), visible_text(text)
