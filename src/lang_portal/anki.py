"""Anki decks of word groups, built with genanki: one note per word of the group.

A note shows the word's kanji on the front and its romaji and English on the back; the
deck is named after the group. Every id in the package is derived from lang-portal's own
ids, never from the clock or a random number, so each export of a group is the same deck
to Anki:

- the note type (:data:`MODEL_ID`) and the deck (:func:`deck_id`) are hashed from fixed
  strings, the deck's from the group's id;
- a note's ``guid``, by which Anki recognises a note it already has and updates it
  instead of adding a copy, is hashed from the word's id (:func:`note_guid`);
- a note's id and its card's id are the word's id on a fixed base (:func:`note_id`).

Only the modification times (of the notes and the note type) are the time of the export:
Anki's importer updates a note it already has when the incoming one is newer.

The package is built in memory: the collection in an in-memory SQLite database, then
zipped. (genanki's own ``Package.write_to_file`` leaves its temporary collection file
behind in the temporary folder on every call, which a server must not do.) A group has
at most a few thousand words: under a megabyte, and a few hundredths of a second.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import os
import sqlite3
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import genanki

# Anki's note ids are creation times in milliseconds; a word's note id is its id on this
# base (2001-09-09 in milliseconds), so that ids never collide within a deck.
NOTE_ID_BASE = 10**12
MODEL_NAME = "lang-portal word"
FIELD_NAMES = ("Kanji", "Romaji", "English")

_FRONT = '<div class="kanji">{{Kanji}}</div>'
_BACK = (
    '{{FrontSide}}<hr id="answer">'
    '<div class="romaji">{{Romaji}}</div><div class="english">{{English}}</div>'
)
_CSS = """\
.card { font-family: sans-serif; text-align: center; color: black; background: white; }
.kanji { font-size: 48px; }
.romaji { font-size: 24px; color: #555; }
.english { font-size: 24px; margin-top: 8px; }
"""


def _hashed_id(name: str) -> int:
    """A number in [2**30, 2**31) taken from the SHA-256 of ``name``: the range genanki
    advises for model and deck ids, the same number on every export."""
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return (1 << 30) + digest % (1 << 30)


# "v1": a new note type (other fields or cards) needs a new string, hence a new id, so
# that Anki does not mistake it for the one it has.
MODEL_ID = _hashed_id("lang-portal/anki/model/word/v1")


def word_model() -> genanki.Model:
    """The note type of a word: the fields Kanji, Romaji and English, one card.

    A new one for each deck: genanki fills in a model's field and template dicts as it
    writes them, which two requests must not do to one shared model at once.
    """
    return genanki.Model(
        MODEL_ID,
        MODEL_NAME,
        fields=[{"name": name} for name in FIELD_NAMES],
        templates=[{"name": "Kanji to reading and meaning", "qfmt": _FRONT, "afmt": _BACK}],
        css=_CSS,
    )


def deck_id(group_id: int) -> int:
    """The Anki deck id of a group: the same on every export of it."""
    return _hashed_id(f"lang-portal/anki/deck/{group_id}")


def note_guid(word_id: int) -> str:
    """The guid of a word's note: how Anki finds the note on a re-import and updates it."""
    return str(genanki.guid_for("lang-portal/anki/word", word_id))


def note_id(word_id: int) -> int:
    """The id of a word's note, also the id of its one card."""
    return NOTE_ID_BASE + word_id


class _WordNote(genanki.Note):
    """A word's note, written with the word's note id instead of genanki's clock-based
    ones, and announcing each note written (for a progress bar)."""

    def __init__(
        self,
        model: genanki.Model,
        word: Mapping[str, Any],
        position: int,
        on_written: Callable[[], None],
    ):
        # Anki reads fields as HTML: a word's "<" or "&" must show as written.
        fields = [
            html.escape(str(word[key]), quote=False) for key in ("kanji", "romaji", "english")
        ]
        super().__init__(
            model=model,
            fields=fields,
            guid=note_guid(word["id"]),
            due=position,  # new cards come up in the group's order
        )
        self.word_id = word["id"]
        self.on_written = on_written

    def write_to_db(self, cursor: Any, timestamp: float, in_deck: int, id_gen: Any) -> None:
        # genanki takes the note's id, then one per card, from id_gen: the word's, both.
        # A second card would exhaust this iterator and fail loudly rather than collide.
        own_ids: Iterator[int] = iter((note_id(self.word_id), note_id(self.word_id)))
        super().write_to_db(cursor, timestamp, in_deck, own_ids)
        self.on_written()


def build_deck(
    group_id: int,
    group_name: str,
    words: Sequence[Mapping[str, Any]],
    on_note_written: Callable[[], None] | None = None,
) -> genanki.Deck:
    """The deck of a group: named after it, one note per word (``{id, kanji, romaji,
    english}``), in the order given.

    ``on_note_written`` is called once per note as the package is written, which is
    where the time goes.
    """
    deck = genanki.Deck(deck_id(group_id), group_name)
    model = word_model()
    deck.add_model(model)
    announce = on_note_written or (lambda: None)
    for position, word in enumerate(words):
        deck.add_note(_WordNote(model, word, position, announce))
    return deck


def package_bytes(deck: genanki.Deck) -> bytes:
    """The deck as the bytes of an .apkg file: a zip holding the SQLite collection
    ``collection.anki2`` and an empty ``media`` index."""
    collection = sqlite3.connect(":memory:")
    try:
        # Every note takes its ids from the word (_WordNote): none come from genanki's
        # generator, so it is given none and would fail loudly if asked.
        genanki.Package(deck).write_to_db(collection.cursor(), time.time(), iter(()))
        collection.commit()
        image = collection.serialize()
    finally:
        collection.close()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr("collection.anki2", image)
        package.writestr("media", json.dumps({}))
    return archive.getvalue()


def write_package(deck: genanki.Deck, path: Path) -> None:
    """Write the deck to ``path`` as an .apkg, all or nothing.

    The package is written beside ``path`` and then moved over it, so a failure leaves
    no half-written file and an existing one unchanged. Raises OSError when the folder
    cannot be written.
    """
    data = package_bytes(deck)
    # A name of its own beside the target, created with the usual permissions (umask).
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with partial.open("xb") as file:
            file.write(data)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
