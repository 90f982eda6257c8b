"""Launch tokens: issuing one, what it may reach (a table over every route), and when it stops
working (expiry, forgery, a reset).

The world the tests start from, made through the API in the ``accounts`` mode:

- Aiko: session ``a1`` (group 1, activity 1), the one her launch token is issued for, and
  session ``a2`` (group 2, activity 1);
- Ben: session ``b1`` (group 1, activity 1);
- the teacher (a learner with the role ``teacher``): session ``t1`` (group 1, activity 1),
  with a launch token of its own;
- ``word``: a word of group 1.

The tests that only read (or are refused) share one world per engine; each test that writes
gets its own.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from itsdangerous import URLSafeSerializer
from sqlalchemy import Engine, select

from lang_portal import launch_tokens, schema
from lang_portal.api.routing import Route, routes
from tests.accounts import (
    CHALLENGE,
    JSON,
    Learner,
    accounts_app,
    add_learner,
    assert_counters_match_rows,
    backdate_session,
    bearer,
    engine_of,
    learner_rows,
    start_session,
)
from tests.conftest import ENGINES, TEST_SETTINGS, make_app
from tests.postgres.conftest import new_database
from tests.support import assert_problem, assert_unchanged_but_last_active, snapshot

SECRET_KEY = TEST_SETTINGS["SECRET_KEY"]
OTHER_SECRET_KEY = "another-secret-key-0123456789-abcdefghijklmnop"
UNKNOWN_SESSION_ID = 999_999
LIFETIME = timedelta(hours=24)  # written here, not imported: the contract's number
SCOPE_REFUSAL = "a launch token may only "


# --- The world ---------------------------------------------------------------------------------


@dataclass
class World:
    """The learners, sessions, word and launch tokens of the module docstring."""

    client: Any
    engine: Engine
    learners: dict[str, Learner]
    sessions: dict[str, int]
    word: int
    tokens: dict[str, str]  # the launch token of a1 and of t1, by session key

    def launch(self, key: str = "a1") -> dict[str, str]:
        """The Authorization header with the launch token of session ``key``."""
        return bearer(self.tokens[key])

    def everyones_rows(self) -> dict[str, Any]:
        return {
            name: learner_rows(self.engine, learner.id) for name, learner in self.learners.items()
        }


def issue(client: Any, headers: dict[str, str], study_session_id: int, query: str = "") -> Any:
    """``POST /api/study-sessions/<id>/launch-token`` with an empty JSON body."""
    return client.post(
        f"/api/study-sessions/{study_session_id}/launch-token{query}", headers={**JSON, **headers}
    )


def issued(client: Any, learner: Learner, study_session_id: int) -> str:
    response = issue(client, learner.headers, study_session_id)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["token"]


def build_world(client: Any) -> World:
    aiko = add_learner(client, "Aiko")
    ben = add_learner(client, "Ben")
    teacher = add_learner(client, "Sensei", role="teacher")
    sessions = {
        "a1": start_session(client, aiko, group_id=1),
        "a2": start_session(client, aiko, group_id=2),
        "b1": start_session(client, ben, group_id=1),
        "t1": start_session(client, teacher, group_id=1),
    }
    words = client.get("/api/groups/1/words/raw", headers=aiko.headers).get_json()["words"]
    tokens = {
        "a1": issued(client, aiko, sessions["a1"]),
        "t1": issued(client, teacher, sessions["t1"]),
    }
    return World(
        client,
        engine_of(client),
        {"A": aiko, "B": ben, "teacher": teacher},
        sessions,
        words[0]["id"],
        tokens,
    )


@pytest.fixture(scope="module", params=ENGINES)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh seeded database of one engine, shared by this module's tests that do not
    write (conftest's ``database_url`` makes one per test)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("launch_tokens") / "lang-portal.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server_url, template = request.getfixturevalue("postgres_template")
    yield from new_database(server_url, template)


@pytest.fixture(scope="module")
def shared_world(module_database_url: str) -> Iterator[World]:
    """One world for the tests that only read or are refused: they must change nothing."""
    with accounts_app(module_database_url) as application:
        yield build_world(application.test_client())


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    with accounts_app(database_url) as application:
        yield application


@pytest.fixture
def world(app: Flask) -> World:
    """A world of this test's own, for a test that writes."""
    return build_world(app.test_client())


def assert_refused(response: Any, status: int, detail: str) -> None:
    """A problem with this status whose detail holds ``detail``; a 401 carries the challenge."""
    body = assert_problem(response, status)
    assert detail in body["detail"], body["detail"]
    if status == 401:
        assert response.headers["WWW-Authenticate"] == CHALLENGE


# --- Issuing -------------------------------------------------------------------------------------


def test_issuing_a_launch_token(world):
    client, aiko, a1 = world.client, world.learners["A"], world.sessions["a1"]
    before = snapshot(world.engine)

    response = issue(client, aiko.headers, a1)

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"token", "expires_at"}
    sessions = schema.study_sessions
    with world.engine.connect() as connection:
        created_at = connection.execute(
            select(sessions.c.created_at).where(sessions.c.id == a1)
        ).scalar_one()
    assert datetime.fromisoformat(body["expires_at"]) == created_at + LIFETIME
    # Nothing is stored for it: the same session always gets the same token.
    assert body["token"] == world.tokens["a1"]
    assert_unchanged_but_last_active(before, snapshot(world.engine))
    shown = client.get(f"/api/study-sessions/{a1}", headers=bearer(body["token"]))
    assert shown.status_code == 200
    assert shown.get_json()["session"]["id"] == a1


# (caller, session, ?learner_id= of, status, detail). "launch" is a1's launch token.
ISSUE_REFUSALS = [
    ("B", "a1", None, 404, "study session"),  # another learner's session does not exist
    ("A", "unknown", None, 404, "study session"),
    ("teacher", "a1", None, 404, "study session"),  # a teacher owns no learner's session
    ("teacher", "a1", "A", 403, "nobody writes into another learner's history"),
    ("teacher", "t1", "A", 403, "nobody writes into another learner's history"),
    ("launch", "a1", None, 403, SCOPE_REFUSAL),  # a launch token cannot make one
    ("nobody", "a1", None, 401, "Authorization"),
]


@pytest.mark.parametrize(
    ("caller", "target", "learner_id", "status", "detail"),
    ISSUE_REFUSALS,
    ids=[f"{c[0]}-for-{c[1]}-as-{c[2]}" for c in ISSUE_REFUSALS],
)
def test_issuing_is_refused(shared_world, caller, target, learner_id, status, detail):
    w = shared_world
    special = {"launch": w.launch(), "nobody": {}}
    headers = special[caller] if caller in special else w.learners[caller].headers
    study_session_id = w.sessions.get(target, UNKNOWN_SESSION_ID)
    query = "" if learner_id is None else f"?learner_id={w.learners[learner_id].id}"
    before = snapshot(w.engine)

    response = issue(w.client, headers, study_session_id, query)

    assert_refused(response, status, detail)
    assert "token" not in response.get_json()
    assert snapshot(w.engine) == before


def test_the_open_mode_makes_no_launch_tokens(database_url):
    application = make_app(database_url)
    try:
        client = application.test_client()
        response = client.post("/api/study-sessions", json={"group_id": 1, "study_activity_id": 1})
        assert response.status_code == 201
        before = snapshot(engine_of(client))

        refused = issue(client, {}, response.get_json()["id"])

        assert_refused(refused, 403, "accounts mode")
        assert snapshot(engine_of(client)) == before
    finally:
        application.extensions["lang_portal.engine"].dispose()


# --- What a launch token reaches: a table over every route --------------------------------------

ITS_SESSION = "its session"
ITS_LEARNERS_OTHER_SESSION = "its learner's other session"
OTHER_LEARNERS_SESSION = "another learner's session"
ITS_GROUP = "its group"
OTHER_GROUP = "another group"
NO_VARIANT = "-"  # the path names no session and no group
SESSION_VARIANTS = {
    ITS_SESSION: "a1",
    ITS_LEARNERS_OTHER_SESSION: "a2",
    OTHER_LEARNERS_SESSION: "b1",
}
GROUP_VARIANTS = {ITS_GROUP: 1, OTHER_GROUP: 2}  # a1 is of group 1

# Pinned on purpose, not derived from Route.launch: this is the contract's list (the spec's
# "a launch token ... may read the session, the vocabulary and the session's group's words,
# and post reviews into that session"). test_the_allowed_table_is_every_route_with_a_launch
# makes a route that starts admitting launch tokens change this table too.
ALLOWED = {
    ("GET", "/words", NO_VARIANT),
    ("GET", "/words/<id:word_id>", NO_VARIANT),
    ("GET", "/groups/<id:group_id>", ITS_GROUP),
    ("GET", "/groups/<id:group_id>/words", ITS_GROUP),
    ("GET", "/groups/<id:group_id>/words/raw", ITS_GROUP),
    ("GET", "/study-sessions/<id:study_session_id>", ITS_SESSION),
    ("POST", "/study-sessions/<id:study_session_id>/review", ITS_SESSION),
    ("POST", "/study-sessions/<id:study_session_id>/words/<id:word_id>/review", ITS_SESSION),
}


def variants(route: Route) -> dict[str, dict[str, int | str]]:
    """The values of the route's session or group placeholder, by variant name."""
    if "<id:study_session_id>" in route.rule:
        return {name: {"study_session_id": key} for name, key in SESSION_VARIANTS.items()}
    if "<id:group_id>" in route.rule:
        return {name: {"group_id": group} for name, group in GROUP_VARIANTS.items()}
    return {NO_VARIANT: {}}


def filled(world: World, path: str, values: dict[str, int | str]) -> str:
    """``path`` with every ``<id:...>`` placeholder filled in."""
    every = {
        "study_session_id": "a1",
        "group_id": 1,
        "word_id": world.word,
        "learner_id": world.learners["A"].id,
        "study_activity_id": 1,
        **values,
    }
    for name, value in every.items():
        value = world.sessions[value] if isinstance(value, str) else value
        path = path.replace(f"<id:{name}>", str(value))
    assert "<" not in path, path
    return path


def valid_body(world: World, route: Route) -> Any:
    """A body the route accepts, so that an allowed write is a 2xx (None: an empty body)."""
    return {
        "create_study_session": {"group_id": 1, "study_activity_id": 1},
        "review_words": {"reviews": [{"word_id": world.word, "is_correct": True}]},
        "review_word": {"is_correct": True},
        "create_learner": {"name": "Kenji", "role": "learner"},
        "create_study_activity": {
            "title": "Kana Quest",
            "launch_url": "https://kana-quest.example/play",
        },
    }.get(route.endpoint)


def send(world: World, route: Route, path: str, headers: dict[str, str]) -> Any:
    if not route.write:
        return world.client.get(path, headers=headers)
    body = valid_body(world, route)
    if body is None:
        return world.client.post(path, data=b"", headers={**JSON, **headers})
    return world.client.post(path, json=body, headers=headers)


def review_rows(world: World) -> list[tuple[int, int, int]]:
    """Every review row as (learner_id, study_session_id, word_id), in id order."""
    items = schema.word_review_items
    with world.engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(items.c.learner_id, items.c.study_session_id, items.c.word_id).order_by(
                    items.c.id
                )
            )
        ]


def others_rows(world: World) -> dict[str, Any]:
    """Every row of everyone's history but Aiko's."""
    return {name: rows for name, rows in world.everyones_rows().items() if name != "A"}


def check_route(world: World, route: Route) -> list[str]:
    """Every path and variant of ``route`` with a1's launch token; returns what went wrong.

    Allowed: the route's own success status; a write adds one review, Aiko's, in a1, and
    changes nobody else's rows. Refused: 403 with the launch problem, and nothing changes.
    """
    wrong = []
    for path in route.paths():
        for variant, values in variants(route).items():
            url = filled(world, path, values)
            allowed = (route.method, route.rule, variant) in ALLOWED
            before, reviews_before = snapshot(world.engine), review_rows(world)
            others_before = others_rows(world) if allowed and route.write else None

            response = send(world, route, url, world.launch())

            got = f"{route.method} {url} ({variant}): {response.status_code}"
            if allowed:
                if response.status_code != route.status:
                    wrong.append(f"{got}, expected {route.status}")
                elif route.write:
                    added = review_rows(world)[len(reviews_before) :]
                    expected = [(world.learners["A"].id, world.sessions["a1"], world.word)]
                    if added != expected:
                        wrong.append(f"{got}: added {added}, expected {expected}")
                    if others_rows(world) != others_before:
                        wrong.append(f"{got}: changed another learner's rows")
                continue
            if response.status_code != 403:
                wrong.append(f"{got}, expected 403")
                continue
            detail = assert_problem(response, 403)["detail"]
            # The launch scope is checked before the role (routing's documented order), so
            # even a teacher-only route refuses a launch token for what it is.
            if not detail.startswith(SCOPE_REFUSAL):
                wrong.append(f"{got}: {detail!r}")
            if snapshot(world.engine) != before:
                wrong.append(f"{got}: the refused request changed the database")
    return wrong


# The routes a launch token may write through write into a world of their own; every other
# route is refused or only reads, so it shares one (check_route holds a refusal to changing
# nothing).
WRITING_ROUTES = [
    route
    for route in routes.declared
    if route.write and any((route.method, route.rule) == allowed[:2] for allowed in ALLOWED)
]
OTHER_ROUTES = [route for route in routes.declared if route not in WRITING_ROUTES]


@pytest.mark.parametrize("route", OTHER_ROUTES, ids=[r.endpoint for r in OTHER_ROUTES])
def test_a_launch_token_reaches_only_what_its_table_allows(shared_world, route):
    assert check_route(shared_world, route) == []


@pytest.mark.parametrize("route", WRITING_ROUTES, ids=[r.endpoint for r in WRITING_ROUTES])
def test_a_launch_token_writes_only_where_its_table_allows(world, route):
    assert check_route(world, route) == []
    assert_counters_match_rows(world.engine)


def test_the_allowed_table_is_every_route_with_a_launch_scope():
    """A new route must be classified: admitting launch tokens means joining ALLOWED."""
    admitting = {(route.method, route.rule) for route in routes.declared if route.launch}
    assert {(method, rule) for method, rule, _ in ALLOWED} == admitting
    # Each allowed variant is one the route's path has.
    by_rule = {(route.method, route.rule): route for route in routes.declared}
    for method, rule, variant in ALLOWED:
        assert variant in variants(by_rule[method, rule]), (method, rule, variant)


# --- Writes land in its session only ----------------------------------------------------------


def _batch(world: World, study_session_id: int, headers: dict[str, str]) -> Any:
    return world.client.post(
        f"/api/study-sessions/{study_session_id}/review",
        json={"reviews": [{"word_id": world.word, "is_correct": True}]},
        headers=headers,
    )


def _single(world: World, study_session_id: int, headers: dict[str, str]) -> Any:
    return world.client.post(
        f"/api/study-sessions/{study_session_id}/words/{world.word}/review",
        json={"is_correct": True},
        headers=headers,
    )


def _legacy_batch(world: World, study_session_id: int, headers: dict[str, str]) -> Any:
    return world.client.post(
        f"/study_sessions/{study_session_id}/review",
        json={"reviews": [{"word_id": world.word, "correct": True}]},
        headers=headers,
    )


REVIEW_WRITES = {"batch": _batch, "single": _single, "legacy batch": _legacy_batch}


@pytest.mark.parametrize("kind", list(REVIEW_WRITES))
@pytest.mark.parametrize("target", ["a2", "b1"], ids=["its-learners-other-session", "bens"])
def test_a_launch_token_posts_into_no_other_session(shared_world, kind, target):
    w = shared_world
    before = snapshot(w.engine)

    response = REVIEW_WRITES[kind](w, w.sessions[target], w.launch())

    assert_refused(response, 403, SCOPE_REFUSAL)
    assert snapshot(w.engine) == before
    assert [row for row in review_rows(w) if row[1] == w.sessions[target]] == []


def test_a_review_posted_with_a_launch_token_is_its_learners_in_its_session(world):
    client, aiko, a1 = world.client, world.learners["A"], world.sessions["a1"]
    words = client.get("/api/groups/1/words/raw", headers=aiko.headers).get_json()["words"]
    w1, w2 = words[0]["id"], words[1]["id"]
    others_before = others_rows(world)

    batch = client.post(
        f"/api/study-sessions/{a1}/review",
        json={
            "reviews": [{"word_id": w1, "is_correct": True}, {"word_id": w2, "is_correct": False}]
        },
        headers=world.launch(),
    )
    single = client.post(
        f"/api/study-sessions/{a1}/words/{w2}/review",
        json={"is_correct": True},
        headers=world.launch(),
    )

    assert batch.status_code == 201 and single.status_code == 201
    assert batch.get_json()["reviews_created"] == 2
    assert single.get_json()["study_session_id"] == a1
    assert review_rows(world) == [(aiko.id, a1, w1), (aiko.id, a1, w2), (aiko.id, a1, w2)]
    rows = world.everyones_rows()
    assert [
        (r["word_id"], r["correct_count"], r["wrong_count"]) for r in rows["A"]["word_progress"]
    ] == sorted([(w1, 1, 0), (w2, 1, 1)])
    assert others_rows(world) == others_before
    assert_counters_match_rows(world.engine)

    # Read back with the launch token: the session's counts, and the word's card.
    shown = client.get(f"/api/study-sessions/{a1}", headers=world.launch()).get_json()
    assert shown["session"]["review_items_count"] == 3
    assert sorted(
        (w["id"], w["correct_count"], w["wrong_count"]) for w in shown["words"]
    ) == sorted([(w1, 1, 0), (w2, 1, 1)])
    card = client.get(f"/api/words/{w2}", headers=world.launch()).get_json()["word"]["card"]
    posted = single.get_json()["card"]
    for field in ("state", "due", "stability", "difficulty", "reps", "lapses", "last_review_at"):
        assert card[field] == posted[field], field
    assert card["reps"] == 2
    # The learner's own token sees the same history.
    mine = client.get(f"/api/words/{w2}", headers=aiko.headers).get_json()["word"]
    assert (mine["correct_count"], mine["wrong_count"], mine["card"]["reps"]) == (1, 1, 2)


# --- ?learner_id= -----------------------------------------------------------------------------

LAUNCH_ROUTES = [route for route in routes.declared if route.launch]


@pytest.mark.parametrize("route", LAUNCH_ROUTES, ids=[r.endpoint for r in LAUNCH_ROUTES])
def test_a_launch_token_names_no_other_learner(shared_world, route):
    """On every learner-scoped route it reaches, ``?learner_id=`` of another learner is a
    403, even for a teacher's launch token (it acts as a learner), while the teacher's own
    token reads it; naming its own learner is fine. The routes that show no history take no
    ``?learner_id=`` at all: it is ignored there, as for any caller."""
    w = shared_world
    aiko, teacher = w.learners["A"], w.learners["teacher"]
    before = snapshot(w.engine)

    def answer(key: str, learner_id: int, headers: dict[str, str]) -> Any:
        url = filled(w, route.paths()[0], {"study_session_id": key})
        return send(w, route, f"{url}?learner_id={learner_id}", headers)

    aikos_naming_ben = answer("a1", w.learners["B"].id, w.launch("a1"))
    teachers_naming_aiko = answer("t1", aiko.id, w.launch("t1"))

    if route.scoped:
        assert_refused(aikos_naming_ben, 403, "another learner's history")
        assert_refused(teachers_naming_aiko, 403, "another learner's history")
        if not route.write:
            assert answer("a1", aiko.id, teacher.headers).status_code == 200
            assert answer("a1", aiko.id, w.launch("a1")).status_code == 200
        assert snapshot(w.engine) == before
    else:
        assert not route.write
        assert aikos_naming_ben.status_code == teachers_naming_aiko.status_code == 200


# --- When a launch token stops working ----------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "works"),
    [
        (timedelta(hours=24, seconds=1), False),
        (timedelta(hours=23, minutes=59), True),
    ],
    ids=["24h1s", "23h59m"],
)
def test_a_launch_token_expires_24_hours_after_its_session_started(world, age, works):
    a1 = world.sessions["a1"]
    backdate_session(world.engine, a1, datetime.now(UTC) - age)
    before = snapshot(world.engine)

    read = world.client.get(f"/api/study-sessions/{a1}", headers=world.launch())
    write = _batch(world, a1, world.launch())

    if works:
        assert read.status_code == 200 and write.status_code == 201
        assert review_rows(world) == [(world.learners["A"].id, a1, world.word)]
        return
    for response in (read, write):
        assert_refused(response, 401, "expired")
    assert snapshot(world.engine) == before
    # The learner's own token still reads the session: it is the launch token that ended.
    assert (
        world.client.get(
            f"/api/study-sessions/{a1}", headers=world.learners["A"].headers
        ).status_code
        == 200
    )


def _flip_signature_char(world: World) -> str:
    payload, signature = world.tokens["a1"].rsplit(".", 1)
    # The first character: all six of its bits are signature bits (the last one's low
    # bits are base64 padding, which decoding ignores).
    flipped = "B" if signature[0] != "B" else "C"
    return f"{payload}.{flipped}{signature[1:]}"


def _other_secret(world: World) -> str:
    return launch_tokens.issue(OTHER_SECRET_KEY, world.sessions["a1"], world.learners["A"].id)


def _bens_session_as_aiko(world: World) -> str:
    return launch_tokens.issue(SECRET_KEY, world.sessions["b1"], world.learners["A"].id)


def _unknown_session(world: World) -> str:
    return launch_tokens.issue(SECRET_KEY, UNKNOWN_SESSION_ID, world.learners["A"].id)


def _same_key_without_the_salt(world: World) -> str:
    """Signed with SECRET_KEY for another purpose: the salt keeps the two apart."""
    return URLSafeSerializer(SECRET_KEY).dumps([world.sessions["a1"], world.learners["A"].id])


def _not_a_pair(world: World) -> str:
    return URLSafeSerializer(SECRET_KEY, salt="lang-portal launch token").dumps(
        {"study_session_id": world.sessions["a1"], "learner_id": world.learners["A"].id}
    )


def _payload_of_another_token(world: World) -> str:
    """a1's signature on the payload naming Ben's session."""
    signature = world.tokens["a1"].rsplit(".", 1)[1]
    forged_payload = launch_tokens.issue(SECRET_KEY, world.sessions["b1"], world.learners["B"].id)
    return f"{forged_payload.rsplit('.', 1)[0]}.{signature}"


NOT_VALID = "the bearer token is not valid"
GONE = "no longer exists"
# name: (how the token is made, what the 401 says)
FORGERIES = {
    "flipped signature char": (_flip_signature_char, NOT_VALID),
    "another secret": (_other_secret, NOT_VALID),
    "same key without the salt": (_same_key_without_the_salt, NOT_VALID),
    "not a pair": (_not_a_pair, NOT_VALID),
    "another payload": (_payload_of_another_token, NOT_VALID),
    "garbage with a dot": (lambda world: "not.a-launch-token", NOT_VALID),
    # Well signed, but the session is not the named learner's, or is nobody's.
    "bens session naming aiko": (_bens_session_as_aiko, GONE),
    "unknown session": (_unknown_session, GONE),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_launch_token_is_refused(shared_world, forgery):
    w = shared_world
    make, detail = FORGERIES[forgery]
    headers = bearer(make(w))
    before = snapshot(w.engine)

    responses = [
        w.client.get(f"/api/study-sessions/{w.sessions['a1']}", headers=headers),
        w.client.get(f"/api/study-sessions/{w.sessions['b1']}", headers=headers),
        w.client.get("/api/words", headers=headers),
        _batch(w, w.sessions["a1"], headers),
        _batch(w, w.sessions["b1"], headers),
    ]

    for response in responses:
        assert_refused(response, 401, detail)
    assert snapshot(w.engine) == before


def test_a_reset_ends_the_launch_tokens_of_the_sessions_it_deletes(world):
    client, aiko, a1 = world.client, world.learners["A"], world.sessions["a1"]
    response = client.post("/api/study-sessions/reset", data=b"", headers={**JSON, **aiko.headers})
    assert response.status_code == 200
    assert world.everyones_rows()["A"]["study_sessions"] == []
    # A session started after the reset gets a new id: the old token names nothing.
    new = start_session(client, aiko, group_id=1)
    assert new not in world.sessions.values()
    before = snapshot(world.engine)

    read = client.get(f"/api/study-sessions/{a1}", headers=world.launch())
    write = _batch(world, a1, world.launch())
    other_write = _batch(world, new, world.launch())

    for response in (read, write, other_write):
        assert_refused(response, 401, GONE)
    assert snapshot(world.engine) == before


# --- The learner's write budget -------------------------------------------------------------


def test_a_launch_tokens_writes_spend_its_learners_budget(database_url):
    """Limit 3 a minute: Aiko starts a session (1) and gets its launch token (2); refusals
    of the launch token (403) and of forged tokens (401) spend nothing; its review is the
    third write, and then the budget is spent for the launch token and Aiko alike, not for
    Ben."""
    with accounts_app(database_url, RATE_LIMIT="3/minute", RATE_LIMIT_STORAGE="memory://") as app:
        client = app.test_client()
        aiko, ben = add_learner(client, "Aiko"), add_learner(client, "Ben")
        a1 = start_session(client, aiko)
        launch = bearer(issued(client, aiko, a1))
        forged = bearer(launch_tokens.issue(OTHER_SECRET_KEY, a1, aiko.id))
        new_session = {"group_id": 1, "study_activity_id": 1}
        review = {"reviews": [{"word_id": 1, "is_correct": True}]}

        for _ in range(4):
            refused = client.post("/api/study-sessions", json=new_session, headers=launch)
            assert_refused(refused, 403, SCOPE_REFUSAL)
            forgery = client.post(f"/api/study-sessions/{a1}/review", json=review, headers=forged)
            assert_refused(forgery, 401, NOT_VALID)
        third = client.post(f"/api/study-sessions/{a1}/review", json=review, headers=launch)
        assert third.status_code == 201, third.get_json()

        fourth = client.post(f"/api/study-sessions/{a1}/review", json=review, headers=launch)
        assert_problem(fourth, 429)
        assert_problem(
            client.post("/api/study-sessions", json=new_session, headers=aiko.headers), 429
        )
        start_session(client, ben)  # Ben's budget is his own
        assert [
            (r["study_session_id"], r["word_id"])
            for r in learner_rows(engine_of(client), aiko.id)["word_review_items"]
        ] == [(a1, 1)]
