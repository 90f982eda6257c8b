"""``lang-portal learners add|list|token|password``, through click's runner, on both engines.

A token printed by the CLI must work against an ``accounts``-mode app on the same
database, and must never be stored: only its SHA-256 digest is.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import Engine, create_engine, select

from lang_portal import db, passwords, queries, schema
from lang_portal.cli import main
from tests.accounts import CHALLENGE, accounts_app, bearer, token_digest
from tests.support import snapshot

NOW = datetime.now(UTC)


@pytest.fixture
def run(database_url):
    """Run the CLI against this test's database; returns the click Result."""
    runner = CliRunner()

    def invoke(*arguments: str, input: str | None = None) -> Result:
        env = {"LANG_PORTAL_DATABASE_URL": database_url}
        return runner.invoke(main, list(arguments), env=env, input=input)

    return invoke


@pytest.fixture
def db_engine(database_url) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def app(database_url) -> Iterator[Flask]:
    """An accounts-mode app on the CLI's database, to try the printed tokens."""
    with accounts_app(database_url) as application:
        yield application


def printed_token(result: Result) -> str:
    """The token the command printed on its last line."""
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def learners_by_name(engine: Engine) -> dict[str, tuple[int, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(schema.learners.c.name, schema.learners.c.id, schema.learners.c.role)
        ).all()
    return {row.name: (row.id, row.role) for row in rows}


def stored_hashes(engine: Engine, learner_id: int) -> list[str]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(schema.learner_tokens.c.token_hash).where(
                    schema.learner_tokens.c.learner_id == learner_id
                )
            ).scalars()
        )


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["learners", "--help"], ["add", "list", "token"]),
        (["learners", "add", "--help"], ["NAME", "--role", "learner", "teacher", "token"]),
        (["learners", "list", "--help"], ["List every learner"]),
        (["learners", "token", "--help"], ["NAME", "token"]),
    ],
)
def test_every_learners_command_has_help(run, db_engine, arguments, expected):
    before = snapshot(db_engine)
    result = run(*arguments)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage:")
    for text in expected:
        assert text in result.output, text
    assert snapshot(db_engine) == before


@pytest.mark.parametrize("role", ["learner", "teacher"])
def test_add_prints_a_token_that_works_against_the_api(run, db_engine, app, role):
    arguments = ["learners", "add", "  Aiko  "] + (["--role", role] if role == "teacher" else [])
    result = run(*arguments)

    token = printed_token(result)
    assert len(token) >= 43
    assert token not in result.output.strip().splitlines()[0]  # printed once, on its own line
    assert result.output.count(token) == 1
    learner_id, stored_role = learners_by_name(db_engine)["Aiko"]  # trimmed
    assert stored_role == role
    assert stored_hashes(db_engine, learner_id) == [token_digest(token)]
    assert token not in repr(snapshot(db_engine))

    client = app.test_client()
    me = client.get("/api/me", headers=bearer(token))
    assert me.status_code == 200
    assert (me.get_json()["id"], me.get_json()["name"], me.get_json()["role"]) == (
        learner_id,
        "Aiko",
        role,
    )
    listing = client.get("/api/learners", headers=bearer(token))
    assert listing.status_code == (200 if role == "teacher" else 403)


@pytest.mark.parametrize(
    ("existing", "attempt"),
    [("Aiko", "Aiko"), ("Aiko", "AIKO"), ("aiko", "  Aiko "), (None, "Default")],
)
def test_add_refuses_a_taken_name_in_any_case(run, db_engine, existing, attempt):
    if existing:
        printed_token(run("learners", "add", existing))
    before = snapshot(db_engine)

    result = run("learners", "add", attempt)

    assert result.exit_code == 1, result.output
    assert "no learner was added" in result.output
    assert snapshot(db_engine) == before


@pytest.mark.parametrize(
    ("arguments", "exit_code"),
    [
        pytest.param(["learners", "add", "x" * 101], 1, id="101 characters"),
        pytest.param(["learners", "add", ""], 1, id="empty"),
        pytest.param(["learners", "add", "   "], 1, id="blank"),
        pytest.param(["learners", "add", "Ai\nko"], 1, id="newline"),
        pytest.param(["learners", "add", "Ai\x1bko"], 1, id="escape"),
        pytest.param(["learners", "add", "Aiko", "--role", "admin"], 2, id="bad role"),
        pytest.param(["learners", "add"], 2, id="no name"),
    ],
)
def test_add_refuses_a_bad_name_or_role_and_adds_nothing(run, db_engine, arguments, exit_code):
    before = snapshot(db_engine)
    result = run(*arguments)
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    assert snapshot(db_engine) == before


def test_add_accepts_a_name_of_100_characters(run, db_engine):
    printed_token(run("learners", "add", "名" * 100))
    assert "名" * 100 in learners_by_name(db_engine)


def test_token_rotates_and_revokes_the_old_one(run, db_engine, app):
    old = printed_token(run("learners", "add", "Aiko"))
    learner_id, _ = learners_by_name(db_engine)["Aiko"]

    result = run("learners", "token", "aIKO")  # any case names the learner

    new = printed_token(result)
    assert new != old and len(new) >= 43
    assert stored_hashes(db_engine, learner_id) == [token_digest(new)]
    everything = repr(snapshot(db_engine))
    assert old not in everything and new not in everything
    client = app.test_client()
    refused = client.get("/api/me", headers=bearer(old))
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == CHALLENGE
    assert client.get("/api/me", headers=bearer(new)).get_json()["id"] == learner_id


def test_token_for_an_unknown_name_fails_and_changes_nothing(run, db_engine):
    printed_token(run("learners", "add", "Aiko"))
    before = snapshot(db_engine)
    result = run("learners", "token", "Nobody")
    assert result.exit_code == 1
    assert "Nobody" in result.output
    assert snapshot(db_engine) == before


def test_list_shows_every_learner_with_role_and_sessions(run, db_engine, app):
    aiko = printed_token(run("learners", "add", "Aiko"))
    printed_token(run("learners", "add", "Sensei", "--role", "teacher"))
    created = app.test_client().post(
        "/api/study-sessions", json={"group_id": 1, "study_activity_id": 1}, headers=bearer(aiko)
    )
    assert created.status_code == 201
    ids = learners_by_name(db_engine)
    before = snapshot(db_engine)

    result = run("learners", "list")

    assert result.exit_code == 0, result.output
    header, *lines = result.output.strip().splitlines()
    assert header.split() == ["id", "role", "sessions", "last", "active", "name"]
    rows = {line.split()[-1]: line.split() for line in lines}
    assert set(rows) == {"default", "Aiko", "Sensei"}
    assert rows["Aiko"][:3] == [str(ids["Aiko"][0]), "learner", "1"]
    assert rows["Sensei"][:3] == [str(ids["Sensei"][0]), "teacher", "0"]
    assert rows["Sensei"][3] == "never"
    assert rows["Aiko"][3] != "never"  # the session is Aiko's last activity
    assert rows["default"][:2] == ["1", "teacher"]
    assert aiko not in result.output
    assert snapshot(db_engine) == before  # listing writes nothing


# --- passwords ---------------------------------------------------------------------------


def password_row(engine: Engine, name: str) -> tuple[str | None, bool]:
    learners = schema.learners
    with engine.connect() as connection:
        row = connection.execute(
            select(learners.c.password_hash, learners.c.password_is_temporary).where(
                learners.c.name == name
            )
        ).one()
    return row.password_hash, row.password_is_temporary


def sign_ins_of(engine: Engine) -> int:
    with engine.connect() as connection:
        return len(connection.execute(select(schema.sign_ins.c.id)).all())


def test_a_password_typed_twice_is_stored_as_an_argon2id_hash(run, db_engine, app):
    run("learners", "add", "Aiko")
    with app.app_context(), db.writing() as connection:  # a sign-in that must end
        queries.sign_ins.begin(connection, learners_by_name(db_engine)["Aiko"][0], NOW)
    result = run("learners", "password", "aiko", input="correct horse\ncorrect horse\n")
    assert result.exit_code == 0, result.output
    assert "The password is set for 'Aiko'" in result.output
    assert "correct horse" not in result.output  # not echoed
    stored, temporary = password_row(db_engine, "Aiko")
    assert stored.startswith("$argon2id$") and not temporary
    assert passwords.verify(stored, "correct horse")
    assert sign_ins_of(db_engine) == 0


def test_a_temporary_password_from_standard_input(run, db_engine):
    run("learners", "add", "Ben")
    result = run(
        "learners", "password", "Ben", "--password-stdin", "--temporary", input="temp-pass\n"
    )
    assert result.exit_code == 0, result.output
    assert "A temporary password is set for 'Ben'" in result.output
    stored, temporary = password_row(db_engine, "Ben")
    assert passwords.verify(stored, "temp-pass") and temporary


@pytest.mark.parametrize(
    ("arguments", "typed", "message"),
    [
        (["--password-stdin"], "short\n", "at least 8 characters"),
        (["--password-stdin"], "x" * 201 + "\n", "at most 200 characters"),
        ([], "first-password\nsecond-password\n", "do not match"),
    ],
    ids=["too short", "too long", "typed differently"],
)
def test_a_refused_password_changes_nothing(run, db_engine, arguments, typed, message):
    run("learners", "add", "Chiara")
    result = run("learners", "password", "Chiara", *arguments, input=typed)
    assert result.exit_code != 0
    assert message in result.output
    assert password_row(db_engine, "Chiara") == (None, False)


def test_a_password_for_nobody_is_refused(run, db_engine):
    result = run("learners", "password", "Nobody", "--password-stdin", input="long enough\n")
    assert result.exit_code == 1
    assert "there is no learner named 'Nobody'" in result.output
