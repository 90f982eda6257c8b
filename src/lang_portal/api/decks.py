"""Decks: a word group as a file another tool imports (an Anki .apkg, see lang_portal.anki)."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from flask import Response
from sqlalchemy import Connection

from lang_portal import anki, queries
from lang_portal.api.lookup import found
from lang_portal.api.routing import routes

# Not registered with IANA; it names the format, and Content-Disposition's .apkg file
# name is what a browser saves it by and Anki opens it by.
APKG_MEDIA_TYPE = "application/apkg"
# Characters a file name may not carry on some system, or that quote a header value.
_UNSAFE_IN_FILE_NAMES = frozenset('/\\:*?"<>|')


def _file_stem(group_name: str) -> str:
    """The group's name as a file name without its extension: no path separators, quotes
    or characters of Unicode category C (controls, direction overrides), no leading or
    trailing dots and spaces. Japanese and other letters stay."""
    kept = "".join(
        "_"
        if character in _UNSAFE_IN_FILE_NAMES or unicodedata.category(character).startswith("C")
        else character
        for character in group_name
    )
    return kept.strip(". ") or "deck"


def content_disposition(group_id: int, group_name: str) -> dict[str, str]:
    """The ``attachment`` parameters naming the file after the group (RFC 6266).

    An ASCII name goes in ``filename``; any other in ``filename*`` (RFC 8187, UTF-8,
    percent-encoded, so nothing in it can end the header or add one), with
    ``group-<id>.apkg`` in ``filename`` for a client that reads only that.
    """
    file_name = f"{_file_stem(group_name)}.apkg"
    if file_name.isascii():
        return {"filename": file_name}
    return {
        "filename": f"group-{group_id}.apkg",
        "filename*": f"UTF-8''{quote(file_name, safe='')}",
    }


@routes.get(
    "/groups/<id:group_id>/export.apkg",
    response=bytes,
    media_type=APKG_MEDIA_TYPE,
    errors=(404,),
)
def export_group_deck(connection: Connection, group_id: int) -> Response:
    """Download a group as an Anki deck (.apkg).

    One note per word: the kanji on the front, the romaji and the English on the back, in
    a deck named after the group. The ids are the same on every export, so importing a
    newer one into Anki updates the notes it has instead of adding copies. The file name
    in Content-Disposition is the group's name made safe (RFC 6266 ``filename*`` when it is
    not ASCII)."""
    group = found(queries.groups.get(connection, group_id), "group")
    words = queries.words.group_words_with_parts(connection, group_id)
    deck = anki.build_deck(group_id, group["group_name"], words)
    response = Response(anki.package_bytes(deck), mimetype=APKG_MEDIA_TYPE)
    response.headers.set(
        "Content-Disposition", "attachment", **content_disposition(group_id, group["group_name"])
    )
    return response
