"""Every lang-portal command on a fresh, empty PostgreSQL database.

tests/test_cli.py runs the commands on a seeded database of each engine; these
tests start from nothing, as a new deployment does: init-db (twice, and from
several hosts at once), import before and after init-db, the migrations down to
base and up again, and ``serve`` started by two hosts at the same moment.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner, Result
from sqlalchemy import Engine, create_engine, func, inspect, select, text

from lang_portal import migrate, schema
from lang_portal.cli import main
from lang_portal.queries.learners import DEFAULT_LEARNER_ID
from lang_portal.schema import metadata
from tests.conftest import count_rows
from tests.servers import LANG_PORTAL, Gunicorn

SEED_WORDS, SEED_GROUPS, SEED_ACTIVITIES = 263, 7, 4
TABLES = ("words", "groups", "word_groups", "study_activities", "study_sessions")
# The API contract's timestamp: RFC 3339 in UTC with an explicit offset.
UTC_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(\+00:00|Z)")

ANIMALS = [
    {"kanji": "麒麟", "romaji": "kirin", "english": "giraffe", "parts": []},
    {"kanji": "河馬", "romaji": "kaba", "english": "hippopotamus", "parts": []},
]


@pytest.fixture
def engine(empty_pg_url: str) -> Iterator[Engine]:
    """An engine on the empty database, for checking what the commands did."""
    checker = create_engine(empty_pg_url)
    yield checker
    checker.dispose()


@pytest.fixture
def run(empty_pg_url: str) -> Callable[..., Result]:
    """Run ``lang-portal ARGS`` in-process against the empty database."""
    runner = CliRunner()

    def invoke(*arguments: str) -> Result:
        return runner.invoke(main, list(arguments), env={"LANG_PORTAL_DATABASE_URL": empty_pg_url})

    return invoke


def counts(engine: Engine) -> dict[str, int]:
    return {table: count_rows(engine, table) for table in TABLES}


def assert_seeded(engine: Engine) -> None:
    """The bundled data is there exactly once, and the group counters agree with it."""
    assert counts(engine) == {
        "words": SEED_WORDS,
        "groups": SEED_GROUPS,
        "word_groups": SEED_WORDS,
        "study_activities": SEED_ACTIVITIES,
        "study_sessions": 0,
    }
    with engine.connect() as connection:
        assert connection.execute(select(func.sum(schema.groups.c.words_count))).scalar_one() == (
            SEED_WORDS
        )


def test_init_db_creates_everything_and_is_idempotent(run, engine):
    first = run("init-db")
    assert first.exit_code == 0, first.output
    assert f"({SEED_WORDS} words added)" in first.output
    assert "postgres@" not in first.output  # where, but not who
    assert_seeded(engine)
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())

    again = run("init-db")
    assert again.exit_code == 0, again.output
    assert "(0 words added)" in again.output
    assert_seeded(engine)


def test_init_db_from_several_hosts_at_once(empty_pg_url, engine):
    """Hosts starting together take turns: none crashes, the data is loaded once."""
    env = {"LANG_PORTAL_DATABASE_URL": empty_pg_url, "PATH": "/usr/bin:/bin"}
    processes = [
        subprocess.Popen(
            [str(LANG_PORTAL), "init-db"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=60)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    added = sorted(re.search(r"\((\d+) words added\)", out).group(1) for out in outputs)
    assert added == ["0", "0", str(SEED_WORDS)]
    assert_seeded(engine)


def test_import_works_before_and_after_init_db(run, engine, tmp_path: Path):
    animals = tmp_path / "animals.json"
    animals.write_text(json.dumps(ANIMALS, ensure_ascii=False), encoding="utf-8")
    # On an empty database, import migrates first, then imports.
    result = run("import", str(animals), "--group", "Animals")
    assert result.exit_code == 0, result.output
    assert "Imported 2 words into 'Animals' (2 new to the group)" in result.output
    assert counts(engine)["words"] == 2

    assert run("init-db").exit_code == 0
    fish = tmp_path / "fish.csv"
    fish.write_text("kanji,romaji,english\n鮪,maguro,tuna\n河馬,kaba,hippopotamus\n", "utf-8")
    result = run("import", str(fish), "--group", "Animals")
    assert result.exit_code == 0, result.output
    assert "(1 new to the group)" in result.output
    with engine.connect() as connection:
        animals_group = connection.execute(
            select(schema.groups).where(schema.groups.c.name == "Animals")
        ).one()
        linked = connection.execute(
            select(schema.words.c.kanji)
            .join(schema.word_groups, schema.word_groups.c.word_id == schema.words.c.id)
            .where(schema.word_groups.c.group_id == animals_group.id)
        ).scalars()
        assert sorted(linked) == sorted(["麒麟", "河馬", "鮪"])
    assert animals_group.words_count == 3
    assert counts(engine)["words"] == SEED_WORDS + 3


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bad.json", '[{"kanji": "猫", "romaji": "neko", "english": "cat"}, {"kanji": "犬"}]'),
        ("bad.csv", "kanji,romaji,english\n猫,neko,cat\n犬,,dog\n"),
    ],
)
def test_a_bad_file_writes_nothing(run, engine, tmp_path: Path, name, content):
    assert run("init-db").exit_code == 0
    before = counts(engine)
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    result = run("import", str(path), "--group", "Pets")
    assert result.exit_code != 0
    assert "nothing was imported" in result.output
    assert counts(engine) == before
    with engine.connect() as connection:
        assert (
            connection.execute(
                select(schema.groups.c.id).where(schema.groups.c.name == "Pets")
            ).all()
            == []
        )


def test_migrations_down_to_base_and_up_again(run, engine):
    assert run("init-db").exit_code == 0
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    with engine.connect() as connection:
        leftovers = connection.execute(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S', 'i') "
                "AND c.relname NOT LIKE 'alembic_version%'"
            )
        ).scalar_one()
    assert leftovers == 0  # no table, sequence or index outlives the downgrade
    result = run("init-db")
    assert result.exit_code == 0, result.output
    assert f"({SEED_WORDS} words added)" in result.output
    assert_seeded(engine)


@pytest.mark.slow
def test_serve_started_by_two_hosts_at_once(empty_pg_url, engine, tmp_path: Path):
    """Two `lang-portal serve` on one empty database: both migrate, seed once, and serve."""
    servers = [Gunicorn(empty_pg_url, tmp_path / f"host{i}.log", workers=1) for i in range(2)]
    failures: list[BaseException] = []

    def start(server: Gunicorn) -> None:
        try:
            server.start()
        except BaseException as error:  # reported below, with the log's name
            failures.append(error)

    threads = [threading.Thread(target=start, args=(server,)) for server in servers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not failures, failures
        assert_seeded(engine)

        created = requests.post(
            servers[0].url + "/api/study-sessions",
            json={"group_id": 1, "study_activity_id": 1},
            timeout=10,
        )
        assert created.status_code == 201
        body = created.json()
        assert UTC_TIMESTAMP.fullmatch(body["created_at"]), body["created_at"]
        # The other host sees the same row, with the same timestamp text.
        read = requests.get(servers[1].url + created.headers["Location"], timeout=10).json()
        assert read["session"]["start_time"] == body["created_at"]
        assert requests.get(servers[1].url + "/api/groups", timeout=10).status_code == 200
    finally:
        for server in servers:
            server.stop()
    progress = schema.activity_progress
    with engine.connect() as connection:
        activity_sessions = connection.execute(
            select(func.sum(progress.c.sessions_count)).where(
                progress.c.learner_id == DEFAULT_LEARNER_ID
            )
        ).scalar_one()
    assert count_rows(engine, "study_sessions") == activity_sessions == 1
