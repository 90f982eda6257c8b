"""A small HTML reader for page tests: text by element id, links, scripts and inline styles."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

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
