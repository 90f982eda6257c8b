"""Learners and their tokens: /api/me, /api/learners and /api/learners/<id>(/token).

Every test here runs in the ``accounts`` mode (the module's ``app`` fixture), except
where it builds an ``open`` app of its own. Writes are checked in the database: the
learners row, and a learner_tokens row holding only the SHA-256 digest of the token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import insert, select

from lang_portal import schema
from lang_portal.queries import dashboard as dashboard_queries
from tests.accounts import (
    CHALLENGE,
    DEFAULT_LEARNER_ID,
    JSON,
    OPERATOR,
    Learner,
    accounts_app,
    add_learner,
    bearer,
    review,
    start_session,
    token_digest,
)
from tests.conftest import count_rows, make_app
from tests.support import assert_problem, snapshot

LEARNERS = "/api/learners"
URL_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
# secrets.token_urlsafe(32) is 43 characters: 32 bytes in unpadded base64.
MIN_TOKEN_LENGTH = 43
ITEM_FIELDS = {
    "id",
    "name",
    "role",
    "created_at",
    "last_active_at",
    "total_sessions",
    "words_studied",
    "mastered_words",
    "due_now",
    "current_streak",
}


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The app in the ``accounts`` mode on a fresh seeded database."""
    with accounts_app(database_url) as application:
        yield application


def aware(value: str) -> datetime:
    """An API timestamp, which must carry its UTC offset."""
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == timedelta(0), value
    return moment


def learner_row(engine, learner_id: int):
    with engine.connect() as connection:
        return connection.execute(
            select(schema.learners).where(schema.learners.c.id == learner_id)
        ).one_or_none()


def token_rows(engine, learner_id: int) -> list:
    with engine.connect() as connection:
        return connection.execute(
            select(schema.learner_tokens).where(schema.learner_tokens.c.learner_id == learner_id)
        ).all()


def assert_token_stored_only_as_digest(engine, learner: Learner) -> None:
    """The learner has exactly one token row, holding the digest of their token, and the
    token itself appears nowhere in the database."""
    rows = token_rows(engine, learner.id)
    assert [row.token_hash for row in rows] == [token_digest(learner.token)]
    assert learner.token not in repr(snapshot(engine))


def assert_unauthorized(response) -> None:
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == CHALLENGE


# --- GET /api/me ------------------------------------------------------------------------


def test_me_in_the_open_mode_is_the_default_learner_without_a_token(database_url):
    application = make_app(database_url)
    try:
        client = application.test_client()
        response = client.get("/api/me")
        assert response.status_code == 200
        body = response.get_json()
        assert {key: body[key] for key in ("id", "name", "role")} == {
            "id": DEFAULT_LEARNER_ID,
            "name": "default",
            "role": "teacher",
        }
        assert set(body) == {"id", "name", "role", "created_at"}
        aware(body["created_at"])
        # A read needs no token in the open mode, even when an API token is set.
        guarded = make_app(database_url, API_TOKEN="open-mode-token")
        assert guarded.test_client().get("/api/me").get_json() == body
        guarded.extensions["lang_portal.engine"].dispose()
    finally:
        application.extensions["lang_portal.engine"].dispose()


def test_me_in_the_accounts_mode_is_whoever_the_token_names(client):
    aiko = add_learner(client, "Aiko")
    ken = add_learner(client, "Ken", role="teacher")

    for headers, expected in [
        (aiko.headers, (aiko.id, "Aiko", "learner")),
        (ken.headers, (ken.id, "Ken", "teacher")),
        (OPERATOR, (DEFAULT_LEARNER_ID, "default", "teacher")),
    ]:
        response = client.get("/api/me", headers=headers)
        assert response.status_code == 200
        body = response.get_json()
        assert (body["id"], body["name"], body["role"]) == expected
        aware(body["created_at"])


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no header"),
        pytest.param(bearer("not-a-token"), id="unknown token"),
        pytest.param({"Authorization": "Bearer "}, id="empty token"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic scheme"),
    ],
)
def test_me_without_a_valid_token_is_401_with_a_challenge(client, headers):
    assert_unauthorized(client.get("/api/me", headers=headers))


def test_a_learners_token_with_another_scheme_is_refused(client):
    aiko = add_learner(client, "Aiko")
    assert_unauthorized(client.get("/api/me", headers={"Authorization": f"Token {aiko.token}"}))


# --- GET /api/learners --------------------------------------------------------------------


def test_only_teachers_list_learners(client, engine):
    aiko = add_learner(client, "Aiko")
    ken = add_learner(client, "Ken", role="teacher")
    before = snapshot(engine)

    for headers in (OPERATOR, ken.headers):
        response = client.get(LEARNERS, headers=headers)
        assert response.status_code == 200
        body = response.get_json()
        assert [(item["id"], item["name"], item["role"]) for item in body["items"]] == [
            (DEFAULT_LEARNER_ID, "default", "teacher"),
            (aiko.id, "Aiko", "learner"),
            (ken.id, "Ken", "teacher"),
        ]
        assert all(set(item) == ITEM_FIELDS for item in body["items"])
        assert (body["total"], body["page"], body["per_page"], body["total_pages"]) == (3, 1, 10, 1)
    assert_problem(client.get(LEARNERS, headers=aiko.headers), 403)
    assert_unauthorized(client.get(LEARNERS))
    # Reading changed nothing, not even last_active_at.
    assert snapshot(engine) == before


def test_learners_are_listed_a_page_at_a_time_by_id(client):
    added = [add_learner(client, f"Learner {number:02}") for number in range(12)]
    everyone = [DEFAULT_LEARNER_ID] + [learner.id for learner in added]

    seen = []
    for page in (1, 2, 3):
        response = client.get(f"{LEARNERS}?page={page}&per_page=5", headers=OPERATOR)
        assert response.status_code == 200
        body = response.get_json()
        assert (body["total"], body["page"], body["per_page"], body["total_pages"]) == (
            13,
            page,
            5,
            3,
        )
        seen += [item["id"] for item in body["items"]]
    assert seen == everyone
    past_the_end = client.get(f"{LEARNERS}?page=4&per_page=5", headers=OPERATOR).get_json()
    assert (past_the_end["items"], past_the_end["total"]) == ([], 13)


@pytest.mark.parametrize(
    ("query", "pointer"),
    [
        ("page=0", "#/page"),
        ("page=x", "#/page"),
        ("per_page=0", "#/per_page"),
        ("per_page=101", "#/per_page"),
    ],
)
def test_bad_pagination_of_learners_is_400(client, query, pointer):
    body = assert_problem(client.get(f"{LEARNERS}?{query}", headers=OPERATOR), 400)
    assert body["errors"][0]["pointer"] == pointer


# --- POST /api/learners -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["learner", "teacher", None])
def test_a_teacher_adds_a_learner_and_sees_the_token_once(client, engine, role):
    body = {"name": "  Aiko Tanaka  "} | ({"role": role} if role else {})
    before = datetime.now(UTC)
    response = client.post(LEARNERS, json=body, headers=OPERATOR)

    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert set(created) == ITEM_FIELDS | {"token"}
    assert created["name"] == "Aiko Tanaka"  # trimmed
    assert created["role"] == (role or "learner")
    assert response.headers["Location"] == f"{LEARNERS}/{created['id']}"
    assert before <= aware(created["created_at"]) <= datetime.now(UTC)
    assert created["last_active_at"] is None
    figures = ("total_sessions", "words_studied", "mastered_words", "due_now", "current_streak")
    assert [created[figure] for figure in figures] == [0, 0, 0, 0, 0]

    row = learner_row(engine, created["id"])
    assert (row.name, row.name_key, row.role, row.last_active_at) == (
        "Aiko Tanaka",
        "aiko tanaka",
        created["role"],
        None,
    )
    learner = Learner(created["id"], created["name"], created["role"], created["token"])
    assert_token_stored_only_as_digest(engine, learner)

    # The token works at once, and the Location answers with the same item, minus the token.
    shown = client.get(response.headers["Location"], headers=learner.headers)
    assert shown.status_code == 200
    assert shown.get_json() == {key: created[key] for key in ITEM_FIELDS}
    # The token is never shown again: not in the item, not in the list.
    listed = client.get(LEARNERS, headers=OPERATOR).get_data(as_text=True)
    assert learner.token not in listed and "token" not in shown.get_json()


def test_a_teacher_learner_adds_learners_too(client, engine):
    ken = add_learner(client, "Ken", role="teacher")
    response = client.post(LEARNERS, json={"name": "Aiko"}, headers=ken.headers)
    assert response.status_code == 201
    assert learner_row(engine, response.get_json()["id"]).name == "Aiko"


@pytest.mark.parametrize(
    ("who", "status"),
    [("learner", 403), ("nobody", 401), ("unknown token", 401)],
)
def test_only_a_teacher_adds_learners(client, engine, who, status):
    aiko = add_learner(client, "Aiko")
    headers = {"learner": aiko.headers, "nobody": {}, "unknown token": bearer("x" * 43)}[who]
    before = snapshot(engine)

    response = client.post(LEARNERS, json={"name": "Mallory"}, headers=headers)

    assert_problem(response, status)
    if status == 401:
        assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    ("existing", "attempt"),
    [
        ("Aiko", "Aiko"),
        ("Aiko", "AIKO"),
        ("AIKO", "aiko"),
        ("Aiko", "  aIKo  "),
        ("Straße", "STRASSE"),
        ("Ærø", "æRØ"),
        (None, "DEFAULT"),  # the default learner's name is taken too
    ],
)
def test_a_taken_name_in_any_case_is_409_and_adds_nothing(client, engine, existing, attempt):
    if existing is not None:
        add_learner(client, existing)
    before = snapshot(engine)

    response = client.post(LEARNERS, json={"name": attempt}, headers=OPERATOR)

    assert_problem(response, 409, "#/name")
    assert snapshot(engine) == before


LONGEST_NAME = "名" * 100


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        pytest.param({}, "#/name", id="missing name"),
        pytest.param({"role": "learner"}, "#/name", id="role without name"),
        pytest.param({"name": ""}, "#/name", id="empty"),
        pytest.param({"name": "   "}, "#/name", id="blank"),
        pytest.param({"name": "\t \u3000 "}, "#/name", id="tab and ideographic space"),
        pytest.param({"name": LONGEST_NAME + "名"}, "#/name", id="101 characters"),
        pytest.param({"name": "x" * 101}, "#/name", id="101 ascii"),
        pytest.param({"name": "Ai\x00ko"}, "#/name", id="NUL"),
        pytest.param({"name": "Ai\nko"}, "#/name", id="newline inside"),
        pytest.param({"name": "Ai\x1bko"}, "#/name", id="escape"),
        pytest.param({"name": "Ai\x7fko"}, "#/name", id="DEL"),
        pytest.param({"name": "Ai\u0085ko"}, "#/name", id="C1 control"),
        pytest.param({"name": 5}, "#/name", id="number"),
        pytest.param({"name": None}, "#/name", id="null"),
        pytest.param({"name": True}, "#/name", id="boolean"),
        pytest.param({"name": ["Aiko"]}, "#/name", id="list"),
        pytest.param({"name": {"first": "Aiko"}}, "#/name", id="object"),
        pytest.param({"name": "Aiko", "role": "admin"}, "#/role", id="role admin"),
        pytest.param({"name": "Aiko", "role": "Teacher"}, "#/role", id="role in capitals"),
        pytest.param({"name": "Aiko", "role": ""}, "#/role", id="role empty"),
        pytest.param({"name": "Aiko", "role": 1}, "#/role", id="role number"),
        pytest.param({"name": "Aiko", "role": None}, "#/role", id="role null"),
    ],
)
def test_a_bad_body_is_400_naming_the_field_and_adds_nothing(client, engine, body, pointer):
    before = snapshot(engine)
    assert_problem(client.post(LEARNERS, json=body, headers=OPERATOR), 400, pointer)
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    "raw",
    [b"[]", b'"Aiko"', b"null", b"{", b'{"name": "Aiko",}'],
    ids=["list", "string", "null", "truncated", "trailing comma"],
)
def test_a_body_that_is_not_a_json_object_is_400(client, engine, raw):
    before = snapshot(engine)
    assert_problem(client.post(LEARNERS, data=raw, headers={**OPERATOR, **JSON}), 400)
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    "name",
    [LONGEST_NAME, f"  {LONGEST_NAME}  ", "A", "Zoë O'Brien-Łukasz", "学習者 一"],
    ids=["100 characters", "100 after trimming", "one", "punctuation", "japanese"],
)
def test_names_of_1_to_100_characters_after_trimming_are_stored_trimmed(client, engine, name):
    response = client.post(LEARNERS, json={"name": name}, headers=OPERATOR)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["name"] == name.strip()
    row = learner_row(engine, response.get_json()["id"])
    assert row.name == name.strip()
    assert row.name_key == name.strip().casefold()


# --- GET /api/learners/<id> ---------------------------------------------------------------


def test_a_learner_reads_only_themself_and_a_teacher_reads_anyone(client, engine):
    aiko = add_learner(client, "Aiko")
    ken = add_learner(client, "Ken")
    teacher = add_learner(client, "Sensei", role="teacher")
    before = snapshot(engine)

    cases = [
        (aiko.headers, aiko.id, 200),
        (ken.headers, ken.id, 200),
        (teacher.headers, aiko.id, 200),
        (teacher.headers, teacher.id, 200),
        (OPERATOR, ken.id, 200),
        (OPERATOR, DEFAULT_LEARNER_ID, 200),
        (aiko.headers, ken.id, 403),
        (ken.headers, aiko.id, 403),
        (aiko.headers, teacher.id, 403),
        (aiko.headers, DEFAULT_LEARNER_ID, 403),
        (teacher.headers, 999_999, 404),
        (OPERATOR, 2**63 - 1, 404),
        ({}, aiko.id, 401),
        (bearer("nope"), aiko.id, 401),
    ]
    answers = []
    for headers, learner_id, _ in cases:
        response = client.get(f"{LEARNERS}/{learner_id}", headers=headers)
        answers.append(response.status_code)
        if response.status_code == 200:
            assert response.get_json()["id"] == learner_id
            assert set(response.get_json()) == ITEM_FIELDS
        elif response.status_code == 401:
            assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert answers == [status for _, _, status in cases]
    assert snapshot(engine) == before


# --- POST /api/learners/<id>/token ----------------------------------------------------------


def rotate(client, learner_id: int, headers: dict[str, str]):
    """Ask for a new token, with the empty JSON body a client sends."""
    return client.post(f"{LEARNERS}/{learner_id}/token", headers={**headers, **JSON})


@pytest.mark.parametrize("rotated_by", ["self", "teacher", "operator"])
def test_a_new_token_revokes_the_old_one_at_once(client, engine, rotated_by):
    aiko = add_learner(client, "Aiko")
    teacher = add_learner(client, "Sensei", role="teacher")
    headers = {"self": aiko.headers, "teacher": teacher.headers, "operator": OPERATOR}[rotated_by]
    assert client.get("/api/me", headers=aiko.headers).status_code == 200

    response = rotate(client, aiko.id, headers)

    assert response.status_code == 201, response.get_json()
    assert set(response.get_json()) == {"token"}
    renewed = Learner(aiko.id, aiko.name, aiko.role, response.get_json()["token"])
    assert renewed.token != aiko.token
    # The old token is refused at once, on reads and on writes; the new one works.
    assert_unauthorized(client.get("/api/me", headers=aiko.headers))
    assert_unauthorized(
        client.post("/api/study-sessions", json={"group_id": 1, "study_activity_id": 1},
                    headers=aiko.headers)
    )  # fmt: skip
    assert client.get("/api/me", headers=renewed.headers).get_json()["id"] == aiko.id
    assert_token_stored_only_as_digest(engine, renewed)
    with engine.connect() as connection:
        hashes = set(connection.execute(select(schema.learner_tokens.c.token_hash)).scalars())
    assert token_digest(aiko.token) not in hashes
    # The teacher's own token was not touched.
    assert_token_stored_only_as_digest(engine, teacher)
    assert count_rows(engine, "study_sessions") == 0


def test_several_rotations_leave_only_the_newest_token(client, engine):
    aiko = add_learner(client, "Aiko")
    tokens = [aiko.token]
    for _ in range(3):
        response = rotate(client, aiko.id, bearer(tokens[-1]))
        assert response.status_code == 201
        tokens.append(response.get_json()["token"])
    assert len(set(tokens)) == 4
    for old in tokens[:-1]:
        assert_unauthorized(client.get("/api/me", headers=bearer(old)))
    assert_token_stored_only_as_digest(engine, Learner(aiko.id, "Aiko", "learner", tokens[-1]))


@pytest.mark.parametrize(
    ("caller", "target", "status"),
    [
        ("learner", "other learner", 403),
        ("learner", "teacher", 403),
        ("learner", "unknown", 403),
        ("teacher", "unknown", 404),
        ("nobody", "other learner", 401),
    ],
)
def test_a_refused_rotation_changes_no_token(client, engine, caller, target, status):
    aiko = add_learner(client, "Aiko")
    ken = add_learner(client, "Ken")
    teacher = add_learner(client, "Sensei", role="teacher")
    headers = {"learner": aiko.headers, "teacher": teacher.headers, "nobody": {}}[caller]
    learner_id = {"other learner": ken.id, "teacher": teacher.id, "unknown": 999_999}[target]
    before = snapshot(engine)

    assert_problem(rotate(client, learner_id, headers), status)

    assert snapshot(engine) == before
    for learner in (aiko, ken, teacher):
        assert client.get("/api/me", headers=learner.headers).get_json()["id"] == learner.id


# --- Tokens ---------------------------------------------------------------------------------


def test_tokens_are_long_random_and_stored_only_as_sha256(client, engine):
    learners = [add_learner(client, f"Learner {number}") for number in range(5)]
    rotated = rotate(client, learners[0].id, OPERATOR).get_json()["token"]
    tokens = [learner.token for learner in learners] + [rotated]

    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        assert len(token) >= MIN_TOKEN_LENGTH, token
        assert URL_SAFE_TOKEN.fullmatch(token), token
    everything = repr(snapshot(engine))
    with engine.connect() as connection:
        stored = dict(
            connection.execute(
                select(schema.learner_tokens.c.learner_id, schema.learner_tokens.c.token_hash)
            ).all()
        )
    assert stored == {
        learners[0].id: token_digest(rotated),
        **{learner.id: token_digest(learner.token) for learner in learners[1:]},
    }
    for token in tokens:
        assert token not in everything
        assert re.fullmatch(r"[0-9a-f]{64}", token_digest(token))


# --- Figures and last_active_at -------------------------------------------------------------


def test_figures_count_each_learners_own_study(client, engine):
    aiko = add_learner(client, "Aiko")
    ken = add_learner(client, "Ken")
    first = start_session(client, aiko, group_id=1, study_activity_id=1)
    second = start_session(client, aiko, group_id=2, study_activity_id=2)
    # Word 1: five right of five (mastered). Word 2: four right of five (80 %, mastered).
    # Word 3: four right of six (not mastered). Word 4: one wrong.
    review(client, aiko, first, [(1, True)] * 5 + [(2, True)] * 4 + [(2, False)])
    review(client, aiko, second, [(3, True)] * 4 + [(3, False)] * 2 + [(4, False)])
    ken_session = start_session(client, ken)
    review(client, ken, ken_session, [(1, True)] * 5)

    expected = {
        aiko.id: {"total_sessions": 2, "words_studied": 4, "mastered_words": 2,
                  "current_streak": 1},
        ken.id: {"total_sessions": 1, "words_studied": 1, "mastered_words": 1,
                 "current_streak": 1},
        DEFAULT_LEARNER_ID: {"total_sessions": 0, "words_studied": 0, "mastered_words": 0,
                             "current_streak": 0},
    }  # fmt: skip
    listed = {
        item["id"]: {figure: item[figure] for figure in expected[aiko.id]}
        for item in client.get(LEARNERS, headers=OPERATOR).get_json()["items"]
    }
    assert listed == expected
    for learner in (aiko, ken):
        item = client.get(f"{LEARNERS}/{learner.id}", headers=learner.headers).get_json()
        assert {figure: item[figure] for figure in expected[aiko.id]} == expected[learner.id]
        # The same figures as the learner's own dashboard.
        stats = client.get("/api/dashboard/stats", headers=learner.headers).get_json()
        assert (stats["total_sessions"], stats["total_words_studied"], stats["mastered_words"],
                stats["current_streak"]) == tuple(expected[learner.id].values())  # fmt: skip
    with engine.connect() as connection:
        sessions = connection.execute(
            select(schema.study_sessions.c.learner_id, schema.study_sessions.c.id).order_by(
                schema.study_sessions.c.id
            )
        ).all()
    assert [tuple(row) for row in sessions] == [
        (aiko.id, first),
        (aiko.id, second),
        (ken.id, ken_session),
    ]


def test_due_now_counts_each_learners_own_cards(client, monkeypatch):
    aiko = add_learner(client, "Aiko")
    ken = add_learner(client, "Ken")
    review(client, aiko, start_session(client, aiko), [(1, True), (2, False), (3, True)])
    review(client, ken, start_session(client, ken), [(1, False)])

    def due_now() -> dict[int, int]:
        items = client.get(LEARNERS, headers=OPERATOR).get_json()["items"]
        return {item["id"]: item["due_now"] for item in items}

    # Fresh cards fall due in minutes: none yet.
    assert due_now() == {DEFAULT_LEARNER_ID: 0, aiko.id: 0, ken.id: 0}
    # A year on, every card is due; each learner's own, as their dashboard says.
    later = datetime.now(UTC) + timedelta(days=365)
    monkeypatch.setattr(dashboard_queries, "utc_now", lambda: later)
    assert due_now() == {DEFAULT_LEARNER_ID: 0, aiko.id: 3, ken.id: 1}
    for learner, count in ((aiko, 3), (ken, 1)):
        stats = client.get("/api/dashboard/stats", headers=learner.headers).get_json()
        assert stats["due_now"] == count
        item = client.get(f"{LEARNERS}/{learner.id}", headers=learner.headers).get_json()
        assert item["due_now"] == count


def test_current_streak_counts_each_learners_own_days(client, engine):
    aiko = add_learner(client, "Aiko")
    ken = add_learner(client, "Ken")
    today = datetime.now(UTC).date()
    with engine.begin() as connection:
        connection.execute(
            insert(schema.daily_activity),
            [
                # Aiko: yesterday, the day before, and four days ago (a gap).
                {"learner_id": aiko.id, "day": today - timedelta(days=1), "sessions_count": 1},
                {"learner_id": aiko.id, "day": today - timedelta(days=2), "sessions_count": 2},
                {"learner_id": aiko.id, "day": today - timedelta(days=4), "sessions_count": 1},
                # Ken: only three days ago, so no streak.
                {"learner_id": ken.id, "day": today - timedelta(days=3), "sessions_count": 1},
            ],
        )
    streaks = {
        item["id"]: item["current_streak"]
        for item in client.get(LEARNERS, headers=OPERATOR).get_json()["items"]
    }
    assert streaks == {DEFAULT_LEARNER_ID: 0, aiko.id: 2, ken.id: 0}
    start_session(client, aiko)  # today continues it
    item = client.get(f"{LEARNERS}/{aiko.id}", headers=aiko.headers).get_json()
    assert (item["current_streak"], item["total_sessions"]) == (3, 5)
    ken_item = client.get(f"{LEARNERS}/{ken.id}", headers=OPERATOR).get_json()
    assert (ken_item["current_streak"], ken_item["total_sessions"]) == (0, 1)


def last_active(engine, learner_id: int) -> datetime | None:
    return learner_row(engine, learner_id).last_active_at


READS = [
    "/api/me",
    "/api/study-sessions",
    "/api/dashboard/stats",
    "/api/dashboard/recent-session",
    "/api/words",
    "/api/words/1",
    "/api/groups/1/words",
    "/api/groups/1/study-sessions",
    "/api/study-activities/1/sessions",
    "/api/groups",
]


def test_last_active_at_is_set_by_writes_and_never_by_reads(client, engine):
    aiko = add_learner(client, "Aiko")
    teacher = add_learner(client, "Sensei", role="teacher")
    assert last_active(engine, aiko.id) is None

    for path in [*READS, f"{LEARNERS}/{aiko.id}"]:
        assert client.get(path, headers=aiko.headers).status_code == 200, path
    assert last_active(engine, aiko.id) is None

    before = datetime.now(UTC)
    study_session_id = start_session(client, aiko)
    after_create = last_active(engine, aiko.id)
    assert after_create is not None and before <= after_create <= datetime.now(UTC)
    shown = client.get(f"{LEARNERS}/{aiko.id}", headers=aiko.headers).get_json()
    assert aware(shown["last_active_at"]) == after_create

    # Reads, the learner's own and a teacher's of the learner, change nothing.
    teacher_active = last_active(engine, teacher.id)
    for path in [*READS, f"{LEARNERS}/{aiko.id}", f"/api/study-sessions/{study_session_id}"]:
        assert client.get(path, headers=aiko.headers).status_code == 200, path
        separator = "&" if "?" in path else "?"
        as_teacher = client.get(f"{path}{separator}learner_id={aiko.id}", headers=teacher.headers)
        assert as_teacher.status_code == 200, path
    assert client.get(LEARNERS, headers=teacher.headers).status_code == 200
    assert last_active(engine, aiko.id) == after_create
    assert last_active(engine, teacher.id) == teacher_active

    # Every write moves it on: a review, a single review, a reset, a new token.
    single = f"/api/study-sessions/{study_session_id}/words/2/review"
    for write, status in (
        (lambda: client.post(f"/api/study-sessions/{study_session_id}/review",
                             json={"reviews": [{"word_id": 1, "is_correct": True}]},
                             headers=aiko.headers), 201),
        (lambda: client.post(single, json={"correct": False}, headers=aiko.headers), 201),
        (lambda: client.post("/api/study-sessions/reset", headers={**aiko.headers, **JSON}), 200),
        (lambda: rotate(client, aiko.id, aiko.headers), 201),
    ):  # fmt: skip
        previous = last_active(engine, aiko.id)
        assert write().status_code == status
        assert last_active(engine, aiko.id) > previous
    assert count_rows(engine, "study_sessions") == 0  # the reset emptied Aiko's history


def test_a_teachers_writes_move_only_the_teachers_last_active_at(client, engine):
    aiko = add_learner(client, "Aiko")
    teacher = add_learner(client, "Sensei", role="teacher")
    assert rotate(client, aiko.id, teacher.headers).status_code == 201
    assert last_active(engine, aiko.id) is None
    assert last_active(engine, teacher.id) is not None


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_tokens_are_never_logged(database_url, capsys, log_format):
    with accounts_app(database_url, LOG_LEVEL="DEBUG", LOG_FORMAT=log_format) as application:
        client = application.test_client()
        capsys.readouterr()
        aiko = add_learner(client, "Aiko")
        rotated = rotate(client, aiko.id, aiko.headers).get_json()["token"]
        renewed = Learner(aiko.id, aiko.name, aiko.role, rotated)
        study_session_id = start_session(client, renewed)
        review(client, renewed, study_session_id, [(1, True)])
        client.get("/api/me", headers=renewed.headers)
        client.get("/api/me", headers=aiko.headers)  # revoked: a 401
        client.get(f"{LEARNERS}/{aiko.id}", headers=bearer("wrong-" + rotated))
        captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "POST /api/learners" in output  # the requests were logged...
    for secret in (aiko.token, rotated, OPERATOR["Authorization"].removeprefix("Bearer ")):
        assert secret not in output  # ...their tokens were not


def test_a_client_cannot_choose_the_token_or_the_id(client, engine):
    body = {"name": "Aiko", "token": "chosen-token", "id": 1, "token_hash": "0" * 64}
    response = client.post(LEARNERS, json=body, headers=OPERATOR)
    assert response.status_code == 201
    created = response.get_json()
    assert created["id"] != 1 and created["token"] != "chosen-token"
    assert_unauthorized(client.get("/api/me", headers=bearer("chosen-token")))
    assert learner_row(engine, DEFAULT_LEARNER_ID).name == "default"
    assert [row.token_hash for row in token_rows(engine, created["id"])] == [
        token_digest(created["token"])
    ]


def test_an_idempotency_key_never_stores_a_token(client, engine):
    """These writes take no Idempotency-Key: a stored response would keep the token."""
    headers = {**OPERATOR, "Idempotency-Key": "add-aiko"}
    first = client.post(LEARNERS, json={"name": "Aiko"}, headers=headers)
    assert first.status_code == 201
    again = client.post(LEARNERS, json={"name": "Aiko"}, headers=headers)
    assert_problem(again, 409, "#/name")  # not a replay of the token
    rotated = client.post(f"{LEARNERS}/{first.get_json()['id']}/token", headers={**headers, **JSON})
    assert rotated.status_code == 201
    assert count_rows(engine, "idempotency_keys") == 0
    everything = repr(snapshot(engine))
    assert first.get_json()["token"] not in everything
    assert rotated.get_json()["token"] not in everything
