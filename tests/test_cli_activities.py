"""``lang-portal activities add|list``, through click's runner, on both engines.

``add`` follows the same rule as ``POST /api/study-activities`` (one rule, in
lang_portal.activity_fields): a table of URLs below is sent to both, and both must
agree on each. A refusal writes nothing, checked by a snapshot of every table.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import Engine, create_engine, select

from lang_portal import schema
from lang_portal.cli import main
from tests.conftest import make_app
from tests.support import snapshot

LAUNCH_URL = "https://kana-quest.example/play?level=1"
PREVIEW_URL = "https://cdn.kana-quest.example/preview.png"
BUNDLED = [
    (1, "Flashcards", "/activities/flashcards/"),
    (2, "Typing Tutor", "/activities/typing-tutor/"),
    (3, "Kanji Match", "/activities/kanji-match/"),
    (4, "Review", "/activities/review/"),
]


@pytest.fixture
def run(database_url):
    """Run the CLI against this test's database; returns the click Result."""
    runner = CliRunner()

    def invoke(*arguments: str, **settings: str) -> Result:
        env = {"LANG_PORTAL_DATABASE_URL": database_url, "LANG_PORTAL_PUBLIC_URL": ""}
        env.update({f"LANG_PORTAL_{name}": value for name, value in settings.items()})
        return runner.invoke(main, list(arguments), env=env)

    return invoke


@pytest.fixture
def db_engine(database_url) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def app(database_url) -> Iterator[Flask]:
    """An open-mode app on the CLI's database, to see what the API makes of it."""
    application = make_app(database_url)
    yield application
    application.extensions["lang_portal.engine"].dispose()


def added_id(result: Result) -> int:
    """The id ``activities add`` printed: its whole output."""
    assert result.exit_code == 0, result.output
    return int(result.output.strip())


def stored(engine: Engine, study_activity_id: int) -> tuple[str, str, str, str] | None:
    table = schema.study_activities
    with engine.connect() as connection:
        row = connection.execute(
            select(table.c.name, table.c.description, table.c.url, table.c.preview_url).where(
                table.c.id == study_activity_id
            )
        ).one_or_none()
    return tuple(row) if row else None


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["activities", "--help"], ["add", "list", "http or https"]),
        (
            ["activities", "add", "--help"],
            ["TITLE", "--launch-url", "--description", "--preview-url", "print its id"],
        ),
        (["activities", "list", "--help"], ["List every study activity"]),
    ],
)
def test_every_activities_command_has_help(run, db_engine, arguments, expected):
    before = snapshot(db_engine)
    result = run(*arguments)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage:")
    for text in expected:
        assert text in result.output, text
    assert snapshot(db_engine) == before


def test_add_prints_the_id_and_the_api_shows_the_activity(run, db_engine, app):
    result = run(
        "activities",
        "add",
        "  Kana Quest  ",
        "--launch-url",
        LAUNCH_URL,
        "--description",
        "Race through the kana.",
        "--preview-url",
        PREVIEW_URL,
    )

    study_activity_id = added_id(result)
    assert stored(db_engine, study_activity_id) == (
        "Kana Quest",
        "Race through the kana.",
        LAUNCH_URL,
        PREVIEW_URL,
    )
    shown = app.test_client().get(f"/api/study-activities/{study_activity_id}").get_json()
    assert shown == {
        "id": study_activity_id,
        "title": "Kana Quest",
        "description": "Race through the kana.",
        "launch_url": LAUNCH_URL,
        "preview_url": PREVIEW_URL,
    }


def test_add_without_description_or_preview_stores_them_empty(run, db_engine):
    study_activity_id = added_id(run("activities", "add", "Kana Quest", "--launch-url", LAUNCH_URL))
    assert stored(db_engine, study_activity_id) == ("Kana Quest", "", LAUNCH_URL, "")


def test_list_shows_every_activity_with_its_launch_url(run, db_engine):
    added = added_id(run("activities", "add", "Kana Quest", "--launch-url", LAUNCH_URL))
    before = snapshot(db_engine)

    result = run("activities", "list")

    assert result.exit_code == 0, result.output
    header, *lines = result.output.rstrip("\n").splitlines()
    assert header.split() == ["id", "title", "launch_url"]
    # Columns line up: each title is padded to the longest, so the URL starts where
    # the header's launch_url does.
    column = header.index("launch_url")
    rows = [(int(line[:6]), line[6:column].strip(), line[column:]) for line in lines]
    assert rows == [*BUNDLED, (added, "Kana Quest", LAUNCH_URL)]
    assert snapshot(db_engine) == before  # listing writes nothing


def test_list_starts_the_bundled_urls_with_the_public_url(run):
    result = run("activities", "list", PUBLIC_URL="https://portal.example.org")
    assert result.exit_code == 0, result.output
    assert "https://portal.example.org/activities/flashcards/" in result.output.splitlines()[1]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param(
            ["--launch-url", "javascript:alert(1)"],
            "--launch-url: must be an absolute http or https URL",
            id="javascript",
        ),
        pytest.param(
            ["--launch-url", "/activities/kana/"],
            "--launch-url: must be an absolute http or https URL",
            id="relative",
        ),
        pytest.param(
            ["--launch-url", "https://user:secret@kana-quest.example/"],
            "--launch-url: must not contain a user name or password",
            id="password",
        ),
        pytest.param(
            ["--launch-url", LAUNCH_URL, "--preview-url", "data:image/png;base64,AAAA"],
            "--preview-url: must be an absolute http or https URL",
            id="preview data",
        ),
        pytest.param(
            ["--launch-url", "https://kana-quest.example/" + "p" * 474],
            "--launch-url: string should have at most 500 characters",
            id="501 characters",
        ),
        pytest.param(
            ["--launch-url", LAUNCH_URL, "--description", "d" * 1001],
            "--description: string should have at most 1000 characters",
            id="long description",
        ),
    ],
)
def test_add_refuses_a_bad_field_in_one_line_and_adds_nothing(run, db_engine, arguments, message):
    before = snapshot(db_engine)

    result = run("activities", "add", "Kana Quest", *arguments)

    assert result.exit_code == 1, result.output
    assert result.output == f"Error: {message}; no activity was added\n"
    assert snapshot(db_engine) == before


@pytest.mark.parametrize(
    "title",
    [pytest.param("", id="empty"), pytest.param("語" * 101, id="101 characters")],
)
def test_add_refuses_a_bad_title_and_adds_nothing(run, db_engine, title):
    before = snapshot(db_engine)
    result = run("activities", "add", title, "--launch-url", LAUNCH_URL)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: TITLE: ")
    assert snapshot(db_engine) == before


def test_add_without_a_launch_url_is_a_usage_error(run, db_engine):
    before = snapshot(db_engine)
    result = run("activities", "add", "Kana Quest")
    assert result.exit_code == 2, result.output
    assert "--launch-url" in result.output
    assert snapshot(db_engine) == before


@pytest.mark.parametrize("title", ["Flashcards", " Flashcards ", "Kana Quest"])
def test_add_refuses_a_taken_title_and_adds_nothing(run, db_engine, title):
    added_id(run("activities", "add", "Kana Quest", "--launch-url", LAUNCH_URL))
    before = snapshot(db_engine)

    result = run("activities", "add", title, "--launch-url", "https://elsewhere.example/")

    assert result.exit_code == 1, result.output
    taken = title.strip()
    assert result.output == (
        f"Error: a study activity titled {taken!r} already exists; no activity was added\n"
    )
    assert snapshot(db_engine) == before


# Sent to both the CLI and the API, which must agree: one rule, not two.
URLS = [
    ("https://kana-quest.example/", True),
    ("HTTP://127.0.0.1:8081/a?b=c#d", True),
    ("https://[2001:db8::1]:8443/", True),
    ("https://例え.jp/", True),
    ("ftp://kana-quest.example/", False),
    ("javascript:alert(1)", False),
    ("data:text/html,x", False),
    ("//kana-quest.example/", False),
    ("kana-quest.example", False),
    ("https:///play", False),
    ("https://u@kana-quest.example/", False),
    ("https://kana-quest.example/a b", False),
    ("https://kana-quest.example:99999/", False),
    ("https://kana\\quest.example/", False),
]


@pytest.mark.parametrize(("url", "valid"), URLS, ids=[url for url, _ in URLS])
def test_the_cli_and_the_api_agree_on_every_url(run, db_engine, app, url, valid):
    by_cli = run("activities", "add", "By CLI", "--launch-url", url)
    by_api = app.test_client().post(
        "/api/study-activities", json={"title": "By API", "launch_url": url}
    )

    assert (by_cli.exit_code, by_api.status_code) == ((0, 201) if valid else (1, 400))
    if not valid:
        detail = by_api.get_json()["errors"][0]["detail"]
        assert by_cli.output == f"Error: --launch-url: {detail}; no activity was added\n"
