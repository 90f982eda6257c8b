"""Anki decks (lang_portal.anki) and ``lang-portal export anki``: the .apkg is opened as
Anki opens it, a zip holding an SQLite collection, and its notes are checked against the
group's words in the database."""

from __future__ import annotations

import html
import io
import json
import sqlite3
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, insert, select

from lang_portal import anki, cli, schema
from lang_portal.cli import main

FIELD_SEPARATOR = "\x1f"


@dataclass
class Note:
    id: int
    guid: str
    model_id: int
    modified: int
    kanji: str
    romaji: str
    english: str


@dataclass
class Package:
    """What an .apkg holds, as read back from it."""

    files: list[str]
    notes: list[Note]
    cards: list[dict[str, int]]
    decks: dict[int, str]  # id -> name
    models: dict[int, dict[str, Any]]  # id -> the note type


def read_apkg(data: bytes, tmp_path: Path) -> Package:
    """Open an .apkg: the zip, then its collection.anki2 with sqlite3 (fields unescaped
    from the HTML Anki stores)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = archive.namelist()
        collection = tmp_path / f"collection-{len(list(tmp_path.iterdir()))}.anki2"
        collection.write_bytes(archive.read("collection.anki2"))
    connection = sqlite3.connect(collection)
    try:
        notes = []
        for note_id, guid, model_id, modified, fields in connection.execute(
            "SELECT id, guid, mid, mod, flds FROM notes ORDER BY id"
        ):
            kanji, romaji, english = (html.unescape(f) for f in fields.split(FIELD_SEPARATOR))
            notes.append(Note(note_id, guid, model_id, modified, kanji, romaji, english))
        cards = [
            {"id": card_id, "note_id": nid, "deck_id": did}
            for card_id, nid, did in connection.execute("SELECT id, nid, did FROM cards")
        ]
        decks_json, models_json = connection.execute("SELECT decks, models FROM col").fetchone()
    finally:
        connection.close()
    decks = {int(key): deck["name"] for key, deck in json.loads(decks_json).items()}
    models = {int(key): model for key, model in json.loads(models_json).items()}
    return Package(files, notes, cards, decks, models)


def group_words(engine: Engine, group_name: str) -> dict[int, tuple[str, str, str]]:
    """The group's words in the database: id -> (kanji, romaji, english)."""
    words, links, groups = schema.words, schema.word_groups, schema.groups
    with engine.connect() as connection:
        rows = connection.execute(
            select(words.c.id, words.c.kanji, words.c.romaji, words.c.english)
            .join(links, links.c.word_id == words.c.id)
            .join(groups, groups.c.id == links.c.group_id)
            .where(groups.c.name == group_name)
        )
        return {row.id: (row.kanji, row.romaji, row.english) for row in rows}


def as_words(package: Package) -> dict[int, tuple[str, str, str]]:
    """The package's notes as the words they came from: word id -> (kanji, romaji, english)."""
    return {
        note.id - anki.NOTE_ID_BASE: (note.kanji, note.romaji, note.english)
        for note in package.notes
    }


# --- The module -----------------------------------------------------------------------------

WORDS = [
    {"id": 7, "kanji": "食べる", "romaji": "taberu", "english": "to eat"},
    {"id": 3, "kanji": "<b>猫</b>", "romaji": "neko & inu", "english": 'cat\'s "toy"'},
    {"id": 12, "kanji": "水", "romaji": "mizu", "english": "water"},
]


def test_a_deck_has_one_note_per_word_with_its_fields(tmp_path):
    written = []
    deck = anki.build_deck(4, "Core Verbs", WORDS, on_note_written=lambda: written.append(1))
    package = read_apkg(anki.package_bytes(deck), tmp_path)

    assert package.files == ["collection.anki2", "media"]
    assert sorted((n.guid, n.kanji, n.romaji, n.english) for n in package.notes) == sorted(
        (anki.note_guid(w["id"]), w["kanji"], w["romaji"], w["english"]) for w in WORDS
    )
    # Each note is the word's: its id and guid are derived from the word's id.
    assert {note.id: note.guid for note in package.notes} == {
        anki.note_id(w["id"]): anki.note_guid(w["id"]) for w in WORDS
    }
    assert len(written) == len(WORDS)
    assert {note.model_id for note in package.notes} == {anki.MODEL_ID}
    assert package.models[anki.MODEL_ID]["name"] == anki.MODEL_NAME
    assert [f["name"] for f in package.models[anki.MODEL_ID]["flds"]] == list(anki.FIELD_NAMES)
    # One card per note, in the group's deck, which is named after the group.
    assert sorted(card["note_id"] for card in package.cards) == sorted(n.id for n in package.notes)
    assert {card["deck_id"] for card in package.cards} == {anki.deck_id(4)}
    assert package.decks[anki.deck_id(4)] == "Core Verbs"


def test_the_front_shows_the_kanji_and_the_back_the_romaji_and_english():
    template = anki.word_model().templates[0]
    assert "{{Kanji}}" in template["qfmt"]
    assert "{{Romaji}}" not in template["qfmt"] and "{{English}}" not in template["qfmt"]
    assert "{{Romaji}}" in template["afmt"] and "{{English}}" in template["afmt"]


def test_fields_are_escaped_as_html(tmp_path):
    """Anki renders fields as HTML: a word's markup characters are stored escaped."""
    with zipfile.ZipFile(io.BytesIO(anki.package_bytes(anki.build_deck(1, "g", WORDS)))) as zip_:
        (tmp_path / "c.anki2").write_bytes(zip_.read("collection.anki2"))
    connection = sqlite3.connect(tmp_path / "c.anki2")
    (fields,) = connection.execute(
        "SELECT flds FROM notes WHERE id = ?", (anki.note_id(3),)
    ).fetchone()
    connection.close()
    assert fields.split(FIELD_SEPARATOR) == [
        "&lt;b&gt;猫&lt;/b&gt;",
        "neko &amp; inu",
        'cat\'s "toy"',
    ]


def test_two_exports_at_different_times_have_the_same_ids(tmp_path, monkeypatch):
    first = read_apkg(anki.package_bytes(anki.build_deck(4, "Core Verbs", WORDS)), tmp_path)
    later = anki.time.time() + 86_400
    monkeypatch.setattr(anki.time, "time", lambda: later)
    second = read_apkg(anki.package_bytes(anki.build_deck(4, "Core Verbs", WORDS)), tmp_path)

    # The clock moved (the notes' modification time shows it), and no id followed it.
    assert {note.modified for note in second.notes} == {int(later)}
    assert {note.modified for note in first.notes} != {int(later)}
    ids = [(n.id, n.guid, n.model_id) for n in first.notes]
    assert ids == [(n.id, n.guid, n.model_id) for n in second.notes]
    assert first.cards == second.cards
    assert first.decks.keys() == second.decks.keys()


def test_ids_depend_on_the_group_and_the_word_only():
    assert anki.deck_id(1) != anki.deck_id(2)
    assert anki.note_guid(1) != anki.note_guid(2)
    for number in (anki.MODEL_ID, anki.deck_id(1), anki.deck_id(2**62)):
        assert 2**30 <= number < 2**31
    # Pinned on purpose: a change here orphans every note already imported into Anki.
    assert anki.MODEL_ID == 1545399549
    assert anki.deck_id(1) == anki.deck_id(1)
    assert anki.note_guid(1) == "u?^}UTlQU9"
    assert anki.note_id(1) == 1_000_000_000_001


def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path, monkeypatch):
    target = tmp_path / "deck.apkg"
    target.write_bytes(b"the earlier export")

    def refuse(source: Any, destination: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(anki.os, "replace", refuse)
    with pytest.raises(OSError, match="No space"):
        anki.write_package(anki.build_deck(1, "g", WORDS), target)
    assert target.read_bytes() == b"the earlier export"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["deck.apkg"]


def test_anki_itself_imports_the_deck_and_a_later_export_updates_its_notes(tmp_path, monkeypatch):
    """Anki's own importer (the ``anki`` package, as the desktop app runs it): the first
    import adds a note per word in the group's deck; after a learner edits a note, a later
    export of a grown group updates the notes it has (the edit is replaced, the reviews
    stay) and adds only the new word."""
    from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest

    def import_into(collection: Collection, data: bytes, name: str) -> Any:
        path = tmp_path / name
        path.write_bytes(data)
        request = ImportAnkiPackageRequest(
            package_path=str(path), options=ImportAnkiPackageOptions()
        )
        return collection.import_anki_package(request).log

    collection = Collection(str(tmp_path / "learner.anki2"))
    try:
        first = import_into(
            collection, anki.package_bytes(anki.build_deck(4, "猫 & co", WORDS)), "1.apkg"
        )
        assert (len(first.new), len(first.updated)) == (len(WORDS), 0)
        # Anki keeps decks by name (it gives an imported deck an id of its own).
        in_deck = collection.find_cards('deck:"猫 & co"')
        assert len(in_deck) == collection.card_count() == len(WORDS)
        notes = [collection.get_note(note_id) for note_id in collection.find_notes("")]
        assert sorted(
            (n.guid, html.unescape(n["Kanji"]), html.unescape(n["Romaji"]), n["English"])
            for n in notes
        ) == sorted(
            (
                anki.note_guid(w["id"]),
                w["kanji"],
                w["romaji"],
                html.escape(w["english"], quote=False),
            )
            for w in WORDS
        )
        edited = collection.get_note(anki.note_id(12))
        edited["English"] = "my own note"
        collection.update_note(edited)
        reviewed = edited.cards()[0]
        reviewed.start_timer()
        collection.sched.answerCard(reviewed, 3)  # "good"

        later = anki.time.time() + 60
        monkeypatch.setattr(anki.time, "time", lambda: later)
        grown = [*WORDS, {"id": 40, "kanji": "新しい", "romaji": "atarashii", "english": "new"}]
        second = import_into(
            collection, anki.package_bytes(anki.build_deck(4, "猫 & co", grown)), "2.apkg"
        )
        assert (len(second.new), len(second.updated)) == (1, len(WORDS))
        assert collection.note_count() == collection.card_count() == len(grown)
        assert collection.get_note(anki.note_id(12))["English"] == "water"
        assert collection.get_card(reviewed.id).reps == 1  # its review history stays
        assert collection.get_note(anki.note_id(40))["Kanji"] == "新しい"
    finally:
        collection.close()


# --- lang-portal export anki ----------------------------------------------------------------


@pytest.fixture
def db_engine(database_url: str):
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def run(database_url: str):
    """Run the CLI against this test's database; returns the click Result."""
    runner = CliRunner()

    def invoke(*arguments: str):
        return runner.invoke(main, list(arguments), env={"LANG_PORTAL_DATABASE_URL": database_url})

    return invoke


def test_export_writes_the_groups_words_as_a_deck(run, db_engine, tmp_path):
    target = tmp_path / "verbs.apkg"
    result = run("export", "anki", "--group", "Core Verbs", str(target))

    assert result.exit_code == 0, result.output
    words = group_words(db_engine, "Core Verbs")
    assert len(words) == 39
    assert result.stdout == f"Wrote 39 notes of 'Core Verbs' to {target.resolve()}.\n"
    package = read_apkg(target.read_bytes(), tmp_path)
    assert as_words(package) == words
    assert {note.guid for note in package.notes} == {anki.note_guid(i) for i in words}
    (group_id,) = {card["deck_id"] for card in package.cards}
    assert package.decks[group_id] == "Core Verbs"


def test_exporting_again_keeps_every_id_and_replaces_the_file(run, tmp_path):
    target = tmp_path / "verbs.apkg"
    assert run("export", "anki", "--group", "Core Verbs", str(target)).exit_code == 0
    first = read_apkg(target.read_bytes(), tmp_path)
    assert run("export", "anki", "--group", "Core Verbs", str(target)).exit_code == 0
    second = read_apkg(target.read_bytes(), tmp_path)
    assert [(n.id, n.guid) for n in first.notes] == [(n.id, n.guid) for n in second.notes]
    assert first.cards == second.cards and first.decks == second.decks


def test_words_added_to_a_group_are_new_notes_and_the_others_keep_their_ids(
    run, db_engine, tmp_path
):
    target = tmp_path / "verbs.apkg"
    assert run("export", "anki", "--group", "Core Verbs", str(target)).exit_code == 0
    before = {n.guid: n.id for n in read_apkg(target.read_bytes(), tmp_path).notes}
    words_file = tmp_path / "more.csv"
    words_file.write_text(
        "kanji,romaji,english\n踊り明かす,odoriakasu,to dance all night\n", encoding="utf-8"
    )
    assert run("import", str(words_file), "--group", "Core Verbs").exit_code == 0

    assert run("export", "anki", "--group", "Core Verbs", str(target)).exit_code == 0
    after = read_apkg(target.read_bytes(), tmp_path)
    assert as_words(after) == group_words(db_engine, "Core Verbs")
    added = [n for n in after.notes if n.guid not in before]
    assert [(n.kanji, n.romaji, n.english) for n in added] == [
        ("踊り明かす", "odoriakasu", "to dance all night")
    ]
    assert {n.guid: n.id for n in after.notes if n.guid in before} == before


def test_an_unknown_group_is_an_error_and_writes_nothing(run, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    result = run("export", "anki", "--group", "No Such Group", str(folder / "nothing.apkg"))
    assert result.exit_code == 1
    assert "there is no group named 'No Such Group'; nothing was written" in result.stderr
    assert list(folder.iterdir()) == []


def test_an_unwritable_destination_is_an_error(run, tmp_path):
    target = tmp_path / "missing-folder" / "verbs.apkg"
    result = run("export", "anki", "--group", "Core Verbs", str(target))
    assert result.exit_code == 1
    assert "No such file or directory; nothing was written" in result.stderr
    assert not target.parent.exists()


def test_a_group_is_named_exactly_but_surrounding_spaces_are_ignored(run, tmp_path):
    assert (
        run("export", "anki", "--group", "  Core Verbs ", str(tmp_path / "a.apkg")).exit_code == 0
    )
    assert run("export", "anki", "--group", "core verbs", str(tmp_path / "b.apkg")).exit_code == 1


def test_an_empty_group_exports_an_empty_deck(run, db_engine, tmp_path):
    with db_engine.begin() as connection:
        connection.execute(insert(schema.groups).values(name="Empty"))
    target = tmp_path / "empty.apkg"
    result = run("export", "anki", "--group", "Empty", str(target))
    assert result.exit_code == 0, result.output
    package = read_apkg(target.read_bytes(), tmp_path)
    assert package.notes == [] and "Empty" in package.decks.values()


@pytest.mark.parametrize(("threshold", "shown"), [(38, True), (39, False)])
def test_the_progress_bar_shows_only_above_its_threshold(
    run, tmp_path, monkeypatch, threshold, shown
):
    """Core Verbs has 39 words. Off a terminal click prints the bar's label once."""
    monkeypatch.setattr(cli, "PROGRESS_BAR_ABOVE", threshold)
    result = run("export", "anki", "--group", "Core Verbs", str(tmp_path / "verbs.apkg"))
    assert result.exit_code == 0, result.output
    assert ("Writing notes" in result.stderr) is shown
    assert "Writing notes" not in result.stdout
