"""The lang-portal command: init-db, import (good and bad files), serve's options."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from lang_portal import schema
from lang_portal.cli import main
from tests.conftest import count_rows


@pytest.fixture
def run(database_url):
    """Run the CLI against this test's database; returns the click Result."""
    runner = CliRunner()

    def invoke(*arguments: str):
        return runner.invoke(main, list(arguments), env={"LANG_PORTAL_DATABASE_URL": database_url})

    return invoke


@pytest.fixture
def db_engine(database_url):
    from sqlalchemy import create_engine

    engine = create_engine(database_url)
    yield engine
    engine.dispose()


SEEDED_TABLES = ("words", "groups", "word_groups", "study_activities")


def test_init_db_is_idempotent(run, db_engine):
    before = {table: count_rows(db_engine, table) for table in SEEDED_TABLES}
    result = run("init-db")
    assert result.exit_code == 0, result.output
    assert "0 words added" in result.output
    assert {table: count_rows(db_engine, table) for table in SEEDED_TABLES} == before


GOOD_JSON = [
    {
        "kanji": "麒麟",
        "romaji": "kirin",
        "english": "giraffe",
        "parts": [{"kanji": "麒", "romaji": ["ki"]}, {"kanji": "麟", "romaji": ["rin"]}],
    },
    {
        "kanji": "河馬",
        "romaji": "kaba",
        "english": "hippopotamus",
        "parts": [{"kanji": "河", "romaji": ["ka"]}, {"kanji": "馬", "romaji": ["ba"]}],
    },
]


def test_import_json_then_again_adds_nothing(run, db_engine, tmp_path):
    path = tmp_path / "animals.json"
    path.write_text(json.dumps(GOOD_JSON, ensure_ascii=False), encoding="utf-8")
    words_before = count_rows(db_engine, "words")
    result = run("import", str(path), "--group", "Animals")
    assert result.exit_code == 0, result.output
    assert "Imported 2 words into 'Animals' (2 new to the group)" in result.output
    assert count_rows(db_engine, "words") == words_before + 2
    with db_engine.connect() as connection:
        group = connection.execute(
            select(schema.groups).where(schema.groups.c.name == "Animals")
        ).one()
        linked = connection.execute(
            select(schema.words.c.kanji)
            .join(schema.word_groups, schema.word_groups.c.word_id == schema.words.c.id)
            .where(schema.word_groups.c.group_id == group.id)
        ).scalars()
        assert sorted(linked) == sorted(["麒麟", "河馬"])
        assert group.words_count == 2
    again = run("import", str(path), "--group", "Animals")
    assert again.exit_code == 0 and "(0 new to the group)" in again.output
    assert count_rows(db_engine, "words") == words_before + 2


def test_import_csv_with_an_existing_word_links_it(run, db_engine, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text(
        "kanji,romaji,english\n食べる,taberu,to eat\n鮪,maguro,tuna\n", encoding="utf-8"
    )
    words_before = count_rows(db_engine, "words")
    groups_before = count_rows(db_engine, "groups")
    result = run("import", str(path), "--group", "Mixed")
    assert result.exit_code == 0, result.output
    assert count_rows(db_engine, "words") == words_before + 1  # 食べる is seeded already
    assert count_rows(db_engine, "groups") == groups_before + 1
    words, groups, word_groups = schema.words, schema.groups, schema.word_groups
    with db_engine.connect() as connection:
        group = connection.execute(select(groups).where(groups.c.name == "Mixed")).one()
        linked = connection.execute(
            select(words.c.kanji, words.c.romaji, words.c.english)
            .join(word_groups, word_groups.c.word_id == words.c.id)
            .where(word_groups.c.group_id == group.id)
            .order_by(words.c.romaji)
        ).all()
        eat = connection.execute(select(func.count()).where(words.c.kanji == "食べる")).scalar()
    # The existing word is linked, not copied; the new one is stored as given.
    assert [tuple(row) for row in linked] == [
        ("鮪", "maguro", "tuna"),
        ("食べる", "taberu", "to eat"),
    ]
    assert eat == 1
    assert group.words_count == 2


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "bad.csv",
            "kanji,romaji,english\n猫,neko,cat\n,inu,dog\n鳥,tori,\n",
            ["line 3:", "line 4:"],
        ),
        ("bad.csv", "kanji,english\n猫,cat\n", ["line 1:", "romaji"]),
        (
            "bad.json",
            '[\n  {"kanji": "猫", "romaji": "neko", "english": "cat"},\n'
            '  {"kanji": 5, "romaji": "x", "english": "y"}\n]',
            ["line 3:", "kanji"],
        ),
        (
            "bad.json",
            '[\n  {"kanji": "猫", "romaji": "neko", "english": "cat"},\n  {"kanji": ',
            ["line 3:"],
        ),
        ("bad.json", '{"kanji": "猫"}', ["line 1:", "array"]),
    ],
)
def test_bad_files_report_lines_and_write_nothing(
    run, db_engine, tmp_path, name, content, expected
):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    before = {t: count_rows(db_engine, t) for t in ("words", "groups", "word_groups")}
    result = run("import", str(path), "--group", "Broken")
    assert result.exit_code != 0
    for fragment in expected:
        assert fragment in result.output
    assert "nothing was imported" in result.output
    assert {t: count_rows(db_engine, t) for t in before} == before


def test_large_import_shows_progress(run, db_engine, tmp_path):
    rows = "\n".join(f"語{i},go{i},word {i}" for i in range(1200))
    path = tmp_path / "many.csv"
    path.write_text("kanji,romaji,english\n" + rows + "\n", encoding="utf-8")
    result = run("import", str(path), "--group", "Many")
    assert result.exit_code == 0, result.output
    assert "Importing" in result.output
    with db_engine.connect() as connection:
        assert (
            connection.execute(
                select(schema.groups.c.words_count).where(schema.groups.c.name == "Many")
            ).scalar_one()
            == 1200
        )


def test_every_command_has_help():
    runner = CliRunner()
    for command in ("init-db", "serve", "import"):
        result = runner.invoke(main, [command, "--help"])
        assert result.exit_code == 0
        assert len(result.output.splitlines()) > 3
    assert "--workers" in runner.invoke(main, ["serve", "--help"]).output


GOOD_WORDS = '[{"kanji": "猫", "romaji": "neko", "english": "cat"}]'


@pytest.mark.parametrize(
    ("group_name", "reason"),
    [
        ("x" * 101, "at most 100 characters"),
        ("漢" * 101, "at most 100 characters"),
        ("", "at least 1 character"),
        ("   ", "at least 1 character"),
        ("Pets\nINSERT", "control characters"),
        ("tab\there", "control characters"),
        ("nul\x00", "control characters"),
        ("del\x7f", "control characters"),
        ("c1\x85inside", "control characters"),
    ],
)
def test_a_bad_group_name_is_one_line_and_writes_nothing(
    run, db_engine, tmp_path, group_name, reason
):
    path = tmp_path / "words.json"
    path.write_text(GOOD_WORDS, encoding="utf-8")
    before = {t: count_rows(db_engine, t) for t in ("words", "groups", "word_groups")}
    result = run("import", str(path), "--group", group_name)
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith("Error: --group: ") and reason in line, line
    assert line.endswith("; nothing was imported")
    assert {t: count_rows(db_engine, t) for t in before} == before


@pytest.mark.parametrize(
    ("given", "stored"), [("x" * 100, "x" * 100), ("  Pets  ", "Pets"), ("漢" * 100, "漢" * 100)]
)
def test_a_group_name_up_to_100_characters_is_stored_trimmed(
    run, db_engine, tmp_path, given, stored
):
    path = tmp_path / "words.json"
    path.write_text(GOOD_WORDS, encoding="utf-8")
    result = run("import", str(path), "--group", given)
    assert result.exit_code == 0, result.output
    with db_engine.connect() as connection:
        names = connection.execute(
            select(schema.groups.c.name).where(schema.groups.c.name == stored)
        ).all()
    assert names == [(stored,)]
