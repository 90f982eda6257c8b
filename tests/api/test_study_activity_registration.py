"""A school registers its own outside study activity: ``POST /api/study-activities``.

Every test runs on SQLite and PostgreSQL. A registration is checked in the database (the
study_activities row), and a refusal by a snapshot of every table: nothing written.
Who may register: a teacher (the default learner in the ``open`` mode, the operator or a
teacher's token in the ``accounts`` mode); a learner is a 403, no identity a 401.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, select

from lang_portal import db, queries, schema
from lang_portal.queries.problems import TitleTaken
from tests.accounts import CHALLENGE, OPERATOR, accounts_app, add_learner, bearer
from tests.conftest import count_rows, make_app
from tests.reliability import error_bodies
from tests.support import assert_problem, snapshot

ACTIVITIES = "/api/study-activities"
NEW_ACTIVITY = {
    "title": "Kana Quest",
    "description": "Race through hiragana and katakana.\nTwo rounds a day.",
    "launch_url": "https://kana-quest.example/play?level=1&lang=ja",
    "preview_url": "https://cdn.kana-quest.example/preview.png",
}
# The four bundled activities (Flashcards, Typing Tutor, Kanji Match, Review).
SEEDED_ACTIVITIES = 4
SEEDED_TITLE = "Flashcards"
# LANG_PORTAL_API_TOKEN of an ``open`` app: with it set, every write needs it.
OPEN_MODE_API_TOKEN = "open-mode-operator-token-0123456789abcdef"


def registered(response: Any) -> dict[str, Any]:
    """The body of a 201 for a registration, checked against its Location."""
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert response.headers["Location"] == f"{ACTIVITIES}/{body['id']}"
    return body


def stored(engine: Engine, study_activity_id: int) -> tuple[str, str, str, str] | None:
    """(name, description, url, preview_url) of the activity's row, or None."""
    table = schema.study_activities
    with engine.connect() as connection:
        row = connection.execute(
            select(table.c.name, table.c.description, table.c.url, table.c.preview_url).where(
                table.c.id == study_activity_id
            )
        ).one_or_none()
    return tuple(row) if row else None


def with_fields(**changes: Any) -> dict[str, Any]:
    """NEW_ACTIVITY with some fields changed; a value of ``...`` leaves the field out."""
    body = {**NEW_ACTIVITY, **changes}
    return {name: value for name, value in body.items() if value is not ...}


# --- 201 ----------------------------------------------------------------------------------


def test_in_the_open_mode_the_default_learner_registers_an_activity(client, engine):
    """The default learner is a teacher: no token is needed without an API token."""
    response = client.post(ACTIVITIES, json=NEW_ACTIVITY)

    body = registered(response)
    assert body == {"id": body["id"], **NEW_ACTIVITY}
    assert body["id"] > SEEDED_ACTIVITIES
    assert stored(engine, body["id"]) == (
        NEW_ACTIVITY["title"],
        NEW_ACTIVITY["description"],
        NEW_ACTIVITY["launch_url"],
        NEW_ACTIVITY["preview_url"],
    )
    assert count_rows(engine, "study_activities") == SEEDED_ACTIVITIES + 1
    # The Location answers with the same activity, on every alias of the list too.
    assert client.get(response.headers["Location"]).get_json() == body
    for path in (ACTIVITIES, "/api/v1/study-activities", "/api/study_activities"):
        listing = client.get(path)
        assert listing.status_code == 200
        assert listing.get_json()[-1] == body


def test_the_list_shows_its_absolute_urls_unchanged_whatever_the_public_url(client, database_url):
    body = registered(client.post(ACTIVITIES, json=NEW_ACTIVITY))

    behind_a_proxy = make_app(database_url, PUBLIC_URL="https://portal.example.org")
    try:
        listing = behind_a_proxy.test_client().get(ACTIVITIES).get_json()
    finally:
        behind_a_proxy.extensions["lang_portal.engine"].dispose()
    assert listing[-1] == body
    # Only the bundled activities, stored as paths, follow PUBLIC_URL.
    assert all(a["launch_url"].startswith("https://portal.example.org/") for a in listing[:-1])


def test_description_and_preview_are_optional(client, engine):
    body = registered(client.post(ACTIVITIES, json=with_fields(description=..., preview_url=...)))
    assert (body["description"], body["preview_url"]) == ("", "")
    assert stored(engine, body["id"]) == ("Kana Quest", "", NEW_ACTIVITY["launch_url"], "")


def test_the_title_is_trimmed_and_case_makes_another_title(client, engine):
    """Titles are compared exactly, as the unique index compares them: ``flashcards`` is
    not the bundled ``Flashcards``."""
    body = registered(client.post(ACTIVITIES, json=with_fields(title="  flashcards \t")))
    assert body["title"] == "flashcards"
    assert stored(engine, body["id"])[0] == "flashcards"


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://127.0.0.1:8081/typing-tutor/", id="http with port"),
        pytest.param("HTTPS://Kana-Quest.EXAMPLE/Play", id="scheme in capitals"),
        pytest.param("https://[2001:db8::1]:8443/play", id="ipv6"),
        pytest.param("https://例え.jp/パス?q=かな#top", id="non-ascii"),
        pytest.param("https://kana-quest.example/" + "p" * 473, id="500 characters"),
    ],
)
def test_any_absolute_web_url_is_kept_as_given(client, engine, url):
    assert len(url) <= 500
    body = registered(client.post(ACTIVITIES, json=with_fields(launch_url=url, preview_url=url)))
    assert (body["launch_url"], body["preview_url"]) == (url, url)
    assert stored(engine, body["id"])[2:] == (url, url)
    assert client.get(ACTIVITIES).get_json()[-1]["launch_url"] == url


def test_an_unknown_field_is_ignored_like_in_every_body(client, engine):
    """Unknown fields are ignored, as by every other body (tests/reliability holds it):
    ``url``, the column's name, does not set the launch URL."""
    body = registered(
        client.post(ACTIVITIES, json=with_fields(url="javascript:alert(1)", name="Other"))
    )
    assert body == {"id": body["id"], **NEW_ACTIVITY}
    assert stored(engine, body["id"])[:3] == (
        "Kana Quest",
        NEW_ACTIVITY["description"],
        NEW_ACTIVITY["launch_url"],
    )


def test_a_title_of_100_characters_after_trimming_is_registered(client, engine):
    body = registered(client.post(ACTIVITIES, json=with_fields(title=" " + "語" * 100 + " ")))
    assert stored(engine, body["id"])[0] == "語" * 100


# --- 400 ----------------------------------------------------------------------------------

NOT_A_WEB_URL = "must be an absolute http or https URL"
BAD_BODIES = [
    # launch_url: not a web address, or one a browser would read otherwise.
    ("javascript", with_fields(launch_url="javascript:alert(1)"), "launch_url", NOT_A_WEB_URL),
    ("data", with_fields(launch_url="data:text/html,<script>x</script>"), "launch_url", None),
    ("ftp", with_fields(launch_url="ftp://kana-quest.example/"), "launch_url", NOT_A_WEB_URL),
    ("relative path", with_fields(launch_url="/activities/kana/"), "launch_url", NOT_A_WEB_URL),
    ("no scheme", with_fields(launch_url="kana-quest.example/play"), "launch_url", None),
    ("scheme-relative", with_fields(launch_url="//kana-quest.example/"), "launch_url", None),
    ("no slashes", with_fields(launch_url="https:kana-quest.example"), "launch_url", None),
    ("empty launch_url", with_fields(launch_url=""), "launch_url", NOT_A_WEB_URL),
    ("no host", with_fields(launch_url="https:///play"), "launch_url", "must name a valid host"),
    ("port only", with_fields(launch_url="https://:8080/"), "launch_url", None),
    ("bad host", with_fields(launch_url="https://kana<b>.example/"), "launch_url", None),
    ("junk after ipv6", with_fields(launch_url="https://[::1]x/"), "launch_url", None),
    ("unclosed ipv6", with_fields(launch_url="https://[::1/"), "launch_url", None),
    ("bad port", with_fields(launch_url="https://kana-quest.example:99999/"), "launch_url", None),
    (
        "password",
        with_fields(launch_url="https://user:secret@kana-quest.example/"),
        "launch_url",
        "must not contain a user name or password",
    ),
    ("user name", with_fields(launch_url="https://user@kana-quest.example/"), "launch_url", None),
    ("empty user", with_fields(launch_url="https://@kana-quest.example/"), "launch_url", None),
    (
        "backslash",
        with_fields(launch_url="https://evil.example\\.kana-quest.example/"),
        "launch_url",
        "must not contain a backslash",
    ),
    ("leading space", with_fields(launch_url=" https://kana-quest.example/"), "launch_url", None),
    ("inner space", with_fields(launch_url="https://kana-quest.example/a b"), "launch_url", None),
    ("newline", with_fields(launch_url="https://kana-quest.example/\n"), "launch_url", None),
    ("tab", with_fields(launch_url="https://kana-\tquest.example/"), "launch_url", None),
    ("nul", with_fields(launch_url="https://kana-quest.example/\x00"), "launch_url", None),
    (
        "zero-width space",
        with_fields(launch_url="https://kana\u200bquest.example/"),
        "launch_url",
        None,
    ),
    (
        "501 characters",
        with_fields(launch_url="https://kana-quest.example/" + "p" * 474),
        "launch_url",
        "string should have at most 500 characters",
    ),
    ("missing launch_url", with_fields(launch_url=...), "launch_url", "is required"),
    ("null launch_url", with_fields(launch_url=None), "launch_url", "must be a string"),
    ("number launch_url", with_fields(launch_url=1), "launch_url", "must be a string"),
    # preview_url: the same rule, but may be empty.
    ("preview javascript", with_fields(preview_url="javascript:alert(1)"), "preview_url", None),
    ("preview data", with_fields(preview_url="data:image/png;base64,AAAA"), "preview_url", None),
    ("preview relative", with_fields(preview_url="/static/previews/x.svg"), "preview_url", None),
    ("preview ftp", with_fields(preview_url="ftp://kana-quest.example/p.png"), "preview_url", None),
    ("preview password", with_fields(preview_url="http://a:b@kana.example/"), "preview_url", None),
    ("preview blank", with_fields(preview_url=" "), "preview_url", None),
    ("preview null", with_fields(preview_url=None), "preview_url", "must be a string"),
    # title: names.Name.
    ("empty title", with_fields(title=""), "title", None),
    ("blank title", with_fields(title="   "), "title", None),
    ("101 characters", with_fields(title="語" * 101), "title", None),
    ("control in title", with_fields(title="Kana\x1bQuest"), "title", None),
    ("missing title", with_fields(title=...), "title", "is required"),
    ("number title", with_fields(title=7), "title", "must be a string"),
    # description.
    ("1001 characters", with_fields(description="d" * 1001), "description", None),
    ("nul in description", with_fields(description="a\x00b"), "description", None),
    ("number description", with_fields(description=1), "description", "must be a string"),
    ("null description", with_fields(description=None), "description", "must be a string"),
]


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [pytest.param(body, field, detail, id=case) for case, body, field, detail in BAD_BODIES],
)
def test_a_bad_body_is_a_400_at_the_field_and_writes_nothing(client, engine, body, field, detail):
    before = snapshot(engine)

    response = client.post(ACTIVITIES, json=body)

    problem = assert_problem(response, 400, f"#/{field}")
    if detail is not None:
        assert problem["errors"][0]["detail"] == detail
        assert problem["error"] == f"{field} {detail}"
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    "payload",
    [pytest.param([NEW_ACTIVITY], id="array"), pytest.param("Kana Quest", id="string")],
)
def test_a_body_that_is_not_an_object_is_a_400(client, engine, payload):
    before = snapshot(engine)
    assert_problem(client.post(ACTIVITIES, json=payload), 400)
    assert snapshot(engine) == before


# --- 409 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title", [SEEDED_TITLE, f"  {SEEDED_TITLE}  "], ids=["bundled", "bundled, untrimmed"]
)
def test_a_taken_title_is_a_409_and_writes_nothing(client, engine, title):
    before = snapshot(engine)

    response = client.post(ACTIVITIES, json=with_fields(title=title))

    problem = assert_problem(response, 409, "#/title")
    assert problem["errors"] == [{"pointer": "#/title", "detail": "is taken"}]
    assert problem["error"] == f"a study activity titled {SEEDED_TITLE!r} already exists"
    assert snapshot(engine) == before


def test_a_409_quotes_the_title_back_and_that_is_no_leak(client):
    """The suite's error-body scan (tests/reliability/error_bodies.py) counts what the
    client sent as theirs, write bodies included: a title that looks like a library's
    name, quoted back in the 409, is not an internal."""
    leaks_before = len(error_bodies.COLLECTOR.leaks)
    body = with_fields(title="sqlite3 drills")
    registered(client.post(ACTIVITIES, json=body))

    problem = assert_problem(client.post(ACTIVITIES, json=body), 409, "#/title")

    assert "'sqlite3 drills'" in problem["error"]
    assert error_bodies.find_leaks(problem["error"]) == ["driver or library"]
    assert len(error_bodies.COLLECTOR.leaks) == leaks_before


def test_registering_the_same_activity_twice_is_a_409(client, engine):
    first = registered(client.post(ACTIVITIES, json=NEW_ACTIVITY))
    before = snapshot(engine)

    again = client.post(ACTIVITIES, json=with_fields(launch_url="https://elsewhere.example/"))

    assert_problem(again, 409, "#/title")
    assert snapshot(engine) == before
    assert stored(engine, first["id"])[2] == NEW_ACTIVITY["launch_url"]


def test_two_transactions_racing_for_one_title_register_it_once(engine):
    """The second waits for the first (PostgreSQL: on the unique index; SQLite: for the
    write lock), then finds the title taken: TitleTaken, never an IntegrityError."""
    outcome: dict[str, Any] = {}

    def second() -> None:
        try:
            with db.writing(engine) as connection:
                outcome["id"] = queries.study_activities.add(
                    connection, "Kana Quest", "", "https://second.example/", ""
                )
        except Exception as error:  # reported by the assertions below
            outcome["error"] = error

    racer = threading.Thread(target=second, daemon=True)
    with db.writing(engine) as connection:
        first_id = queries.study_activities.add(
            connection, "Kana Quest", "", "https://first.example/", ""
        )
        racer.start()
        wait_until_blocked(engine, racer)
    racer.join(timeout=30)

    assert not racer.is_alive()
    assert isinstance(outcome.get("error"), TitleTaken), outcome
    assert stored(engine, first_id) == ("Kana Quest", "", "https://first.example/", "")
    assert count_rows(engine, "study_activities") == SEEDED_ACTIVITIES + 1


def wait_until_blocked(engine: Engine, racer: threading.Thread, timeout: float = 10.0) -> None:
    """Return once the racing transaction waits for the open one.

    On PostgreSQL, until a session of this database waits on a lock (the unique index).
    On SQLite the racer waits for the write lock, which nothing shows from outside, so
    it is given a moment to reach it.
    """
    if engine.dialect.name != "postgresql":
        racer.join(timeout=0.2)
        assert racer.is_alive()
        return
    with engine.connect() as watcher:
        for _ in range(int(timeout / 0.05)):
            waiting = watcher.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).scalar_one()
            if waiting:
                return
            watcher.rollback()  # pg_stat_activity is read once per transaction
            racer.join(timeout=0.05)
    raise AssertionError("the racing transaction never waited for the first")


def test_racing_teachers_register_one_activity_and_the_rest_get_409s(database_url):
    """Several teachers (each a learner row of their own, so nothing else makes them take
    turns) register one title at the same moment."""
    with accounts_app(database_url, DB_POOL_SIZE="10") as application:
        client = application.test_client()
        teachers = [add_learner(client, f"Sensei {n}", role="teacher") for n in range(5)]
        start = threading.Barrier(len(teachers))
        statuses: list[int] = []
        lock = threading.Lock()

        def register(headers: dict[str, str]) -> None:
            own_client = application.test_client()
            start.wait(timeout=30)
            response = own_client.post(ACTIVITIES, json=NEW_ACTIVITY, headers=headers)
            with lock:
                statuses.append(response.status_code)

        threads = [
            threading.Thread(target=register, args=(teacher.headers,), daemon=True)
            for teacher in teachers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        engine = application.extensions["lang_portal.engine"]
        titles = [row[0] for row in rows_titled(engine, NEW_ACTIVITY["title"])]

    assert sorted(statuses) == [201] + [409] * (len(teachers) - 1)
    assert titles == [NEW_ACTIVITY["title"]]


def rows_titled(engine: Engine, title: str) -> list[Any]:
    with engine.connect() as connection:
        return connection.execute(
            select(schema.study_activities.c.name).where(schema.study_activities.c.name == title)
        ).all()


# --- who may register ---------------------------------------------------------------------


@pytest.fixture
def accounts(database_url: str) -> Iterator[Flask]:
    """The app in the ``accounts`` mode on this test's database."""
    with accounts_app(database_url) as application:
        yield application


def test_in_the_accounts_mode_a_teacher_and_the_operator_register(accounts):
    client = accounts.test_client()
    teacher = add_learner(client, "Sensei", role="teacher")
    engine = accounts.extensions["lang_portal.engine"]

    by_teacher = registered(client.post(ACTIVITIES, json=NEW_ACTIVITY, headers=teacher.headers))
    by_operator = registered(
        client.post(ACTIVITIES, json=with_fields(title="Kana Quest 2"), headers=OPERATOR)
    )

    assert stored(engine, by_teacher["id"])[0] == "Kana Quest"
    assert stored(engine, by_operator["id"])[0] == "Kana Quest 2"


def test_in_the_accounts_mode_a_learner_is_a_403_and_writes_nothing(accounts):
    client = accounts.test_client()
    learner = add_learner(client, "Aiko")
    engine = accounts.extensions["lang_portal.engine"]
    before = snapshot(engine)

    response = client.post(ACTIVITIES, json=NEW_ACTIVITY, headers=learner.headers)

    assert_problem(response, 403)
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    "headers",
    [pytest.param({}, id="no token"), pytest.param(bearer("not-a-token"), id="unknown token")],
)
def test_in_the_accounts_mode_no_identity_is_a_401_and_writes_nothing(accounts, headers):
    client = accounts.test_client()
    engine = accounts.extensions["lang_portal.engine"]
    before = snapshot(engine)

    response = client.post(ACTIVITIES, json=NEW_ACTIVITY, headers=headers)

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert snapshot(engine) == before


def test_in_the_open_mode_with_an_api_token_a_write_needs_it(database_url):
    application = make_app(database_url, API_TOKEN=OPEN_MODE_API_TOKEN)
    try:
        client = application.test_client()
        engine = application.extensions["lang_portal.engine"]
        before = snapshot(engine)

        refused = client.post(ACTIVITIES, json=NEW_ACTIVITY)
        assert_problem(refused, 401)
        assert snapshot(engine) == before

        body = registered(
            client.post(ACTIVITIES, json=NEW_ACTIVITY, headers=bearer(OPEN_MODE_API_TOKEN))
        )
        assert stored(engine, body["id"])[0] == "Kana Quest"
    finally:
        application.extensions["lang_portal.engine"].dispose()
