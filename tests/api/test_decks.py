"""GET /api/groups/<id>/export.apkg: a group as an Anki deck, downloaded.

The body is opened as Anki opens it (tests.test_anki.read_apkg) and compared with the
group's words in the database; the file name in Content-Disposition comes from the
group's name, whatever that name holds.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, insert, select
from werkzeug.http import parse_options_header

from lang_portal import anki, schema
from tests.accounts import accounts_app, add_learner
from tests.support import assert_problem, snapshot
from tests.test_anki import as_words, group_words, read_apkg

EXPORT = "/api/groups/{}/export.apkg"


@pytest.mark.parametrize("prefix", ["/api", "/api/v1"])
def test_a_group_downloads_as_a_deck_of_its_words(client, engine, tmp_path, prefix):
    before = snapshot(engine)
    response = client.get(f"{prefix}/groups/3/export.apkg")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/apkg"
    assert response.headers["Content-Disposition"] == 'attachment; filename="Food and Drink.apkg"'
    assert response.headers["Content-Length"] == str(len(response.data))
    package = read_apkg(response.data, tmp_path)
    words = group_words(engine, "Food and Drink")
    assert len(words) == 36
    assert as_words(package) == words
    assert {note.guid for note in package.notes} == {anki.note_guid(i) for i in words}
    assert package.decks[anki.deck_id(3)] == "Food and Drink"
    assert {card["deck_id"] for card in package.cards} == {anki.deck_id(3)}
    assert snapshot(engine) == before  # a read: nothing written


def test_two_downloads_have_the_same_note_ids_and_guids(client, tmp_path):
    first = read_apkg(client.get(EXPORT.format(1)).data, tmp_path)
    second = read_apkg(client.get(EXPORT.format(1)).data, tmp_path)
    assert len(first.notes) == 39
    assert [(n.id, n.guid, n.model_id) for n in first.notes] == [
        (n.id, n.guid, n.model_id) for n in second.notes
    ]
    assert first.cards == second.cards and first.decks == second.decks


def test_each_group_is_its_own_deck(client, engine, tmp_path):
    verbs = read_apkg(client.get(EXPORT.format(1)).data, tmp_path)
    adjectives = read_apkg(client.get(EXPORT.format(2)).data, tmp_path)
    assert as_words(adjectives) == group_words(engine, "Core Adjectives")
    assert not {n.guid for n in verbs.notes} & {n.guid for n in adjectives.notes}
    assert anki.deck_id(1) in verbs.decks and anki.deck_id(1) not in adjectives.decks


@pytest.mark.parametrize(
    ("group_id", "detail"),
    [
        ("99", "group not found"),
        ("9223372036854775807", "group not found"),  # the largest id there can be
        ("9223372036854775808", "no such resource"),  # beyond it: no such URL
    ],
)
def test_an_unknown_group_is_a_404_problem(client, engine, group_id, detail):
    before = snapshot(engine)
    response = client.get(f"/api/groups/{group_id}/export.apkg")
    assert assert_problem(response, 404)["detail"] == detail
    assert "Content-Disposition" not in response.headers
    assert snapshot(engine) == before


def add_group(engine: Engine, name: str) -> int:
    """A group stored with this exact name, as no API would store it (no checks)."""
    with engine.begin() as connection:
        connection.execute(insert(schema.groups).values(name=name))
        return connection.execute(
            select(schema.groups.c.id).where(schema.groups.c.name == name)
        ).scalar_one()


# (group name, the raw Content-Disposition with {id} for the group's id, the file name a
# client reads from it): quotes, paths, line breaks and direction overrides never reach it.
HOSTILE_NAMES = [
    (
        'evil"; filename="x.exe',
        'attachment; filename="evil_; filename=_x.exe.apkg"',
        "evil_; filename=_x.exe.apkg",
    ),
    ("../../etc/passwd", "attachment; filename=_.._etc_passwd.apkg", "_.._etc_passwd.apkg"),
    ("C:\\Windows\\evil", "attachment; filename=C__Windows_evil.apkg", "C__Windows_evil.apkg"),
    (
        "line\r\nSet-Cookie: stolen=1",
        'attachment; filename="line__Set-Cookie_ stolen=1.apkg"',
        "line__Set-Cookie_ stolen=1.apkg",
    ),
    ("\u202egpj.exe", "attachment; filename=_gpj.exe.apkg", "_gpj.exe.apkg"),
    ("..", "attachment; filename=deck.apkg", "deck.apkg"),
    (
        '日本語 "単語"',
        "attachment; filename=group-{id}.apkg; filename*=UTF-8''"
        "%E6%97%A5%E6%9C%AC%E8%AA%9E%20_%E5%8D%98%E8%AA%9E_.apkg",
        "日本語 _単語_.apkg",
    ),
    (
        "Café/Bar",
        "attachment; filename=group-{id}.apkg; filename*=UTF-8''Caf%C3%A9_Bar.apkg",
        "Café_Bar.apkg",
    ),
]


@pytest.mark.parametrize(
    ("name", "header", "file_name"), HOSTILE_NAMES, ids=[str(i) for i in range(len(HOSTILE_NAMES))]
)
def test_the_file_name_is_the_group_name_made_safe(
    client, engine, tmp_path, name, header, file_name
):
    group_id = add_group(engine, name)
    response = client.get(EXPORT.format(group_id))

    assert response.status_code == 200
    assert response.headers.getlist("Content-Disposition") == [header.format(id=group_id)]
    assert "Set-Cookie" not in response.headers
    assert parse_options_header(response.headers["Content-Disposition"]) == (
        "attachment",
        {"filename": file_name},
    )
    # The deck keeps the name as it is: Anki shows it, nothing runs it.
    assert read_apkg(response.data, tmp_path).decks[anki.deck_id(group_id)] == name


def test_the_accounts_mode_needs_an_identity_and_any_learner_may_download(database_url, tmp_path):
    with accounts_app(database_url) as app:
        client = app.test_client()
        assert_problem(client.get(EXPORT.format(1)), 401)
        learner = add_learner(client, "Aiko")
        response = client.get(EXPORT.format(1), headers=learner.headers)
        assert response.status_code == 200
        assert len(read_apkg(response.data, tmp_path).notes) == 39


def test_the_route_is_documented_as_a_binary_download(client):
    document: dict[str, Any] = client.get("/api/openapi.json").get_json()
    operation = document["paths"]["/api/groups/{group_id}/export.apkg"]["get"]
    assert operation["responses"]["200"]["content"] == {
        "application/apkg": {"schema": {"type": "string", "format": "binary"}}
    }
    assert "404" in operation["responses"] and "400" not in operation["responses"]
