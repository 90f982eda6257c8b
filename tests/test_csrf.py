"""Cross-site request forgery: every write authenticated by the portal's sign-in cookie
needs the CSRF token of the signed-in pages (accounts mode).

Each write below is sent as another site could send it: as ``fetch`` JSON, as a
``<form>`` post (``application/x-www-form-urlencoded``) and as ``navigator.sendBeacon``
(``text/plain``); from another origin and from the portal's own; without a token and
with a token of another browser's session. Every one is a 400 that changes nothing in
the database. The same write with the right token (the form's ``csrf_token`` field, or
the page's ``<meta name="csrf-token">`` in ``X-CSRFToken``) succeeds, so the refusals
are about the token. A bearer token needs none, and the open mode checks none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, func, select

from lang_portal import schema
from tests.accounts import (
    Learner,
    accounts_app,
    add_learner,
    engine_of,
    start_session,
)
from tests.conftest import make_app
from tests.pages.test_sign_in import (
    OTHER_PASSWORD,
    PASSWORD,
    SIGN_IN,
    TEACHER,
    csrf_of,
    form_token,
    give_password,
    sign_in,
    use_cheap_argon2,
)

EVIL = "https://evil.example"
SAME_ORIGIN = "http://localhost"
# What a write may change: the whole of each table, compared before and after.
TABLES = (
    schema.learners,
    schema.learner_tokens,
    schema.sign_ins,
    schema.study_sessions,
    schema.word_review_items,
    schema.word_progress,
    schema.idempotency_keys,
)


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cheap_argon2(monkeypatch)


@dataclass(frozen=True)
class Write:
    """One write the portal makes with its cookie: a page's form, or an API call."""

    path: str  # {study_session} and {learner}: ids made by the fixture
    fields: dict[str, Any] = field(default_factory=dict)  # the form's fields, or the JSON
    form: bool = False  # a page's form (the token in a field), else an API call (header)
    status: int = 201  # with the right token
    changes: str = ""  # the table the write changes
    anonymous: bool = False  # sent before signing in (the sign-in form itself)


WRITES = {
    "sign in": Write(
        SIGN_IN,
        {"name": TEACHER.name, "password": PASSWORD},
        form=True,
        status=302,
        changes="sign_ins",
        anonymous=True,
    ),
    "sign out": Write("/portal/sign-out", form=True, status=302, changes="sign_ins"),
    "own password": Write(
        "/portal/settings/password",
        {
            "current_password": PASSWORD,
            "new_password": OTHER_PASSWORD,
            "repeat_password": OTHER_PASSWORD,
        },
        form=True,
        status=302,
        changes="learners",
    ),
    "add a learner (page)": Write(
        "/portal/class/learners",
        {"name": "Chiyo", "role": "learner"},
        form=True,
        changes="learners",
    ),
    "temporary password": Write(
        "/portal/class/{learner}/password",
        {"password": "a temporary password"},
        form=True,
        status=302,
        changes="learners",
    ),
    "new token (page)": Write("/portal/class/{learner}/token", form=True, changes="learner_tokens"),
    "start a session": Write(
        "/api/study-sessions", {"group_id": 1, "study_activity_id": 1}, changes="study_sessions"
    ),
    "review a batch": Write(
        "/api/study-sessions/{study_session}/review",
        {"reviews": [{"word_id": 1, "is_correct": True}]},
        changes="word_review_items",
    ),
    "review a word": Write(
        "/api/study-sessions/{study_session}/words/1/review",
        {"is_correct": False},
        changes="word_review_items",
    ),
    "reset": Write("/api/study-sessions/reset", status=200, changes="study_sessions"),
    # A launch token is signed, not stored: the write only marks the caller active.
    "launch token": Write("/api/study-sessions/{study_session}/launch-token", changes="learners"),
    "add a learner (API)": Write(
        "/api/learners", {"name": "Chiyo", "role": "learner"}, changes="learners"
    ),
    "new token (API)": Write("/api/learners/{learner}/token", changes="learner_tokens"),
    "start a session (legacy path)": Write(
        "/study_sessions", {"group_id": 1, "study_activity_id": 1}, changes="study_sessions"
    ),
}


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a write may change."""
    with engine.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in TABLES
        }


@dataclass
class Portal:
    app: Flask
    engine: Engine
    aiko: Learner
    study_session: int


@pytest.fixture
def portal(database_url: str) -> Iterator[Portal]:
    """The accounts mode with a teacher (learner 1, password PASSWORD) who has a study
    session, and a learner, Aiko."""
    with accounts_app(database_url) as app:
        client = app.test_client()
        aiko = add_learner(client, "Aiko")
        give_password(app, TEACHER.id)
        yield Portal(app, engine_of(client), aiko, start_session(client, TEACHER))


def _path(portal: Portal, write: Write) -> str:
    return write.path.format(study_session=portal.study_session, learner=portal.aiko.id)


def _as_form(fields: dict[str, Any]) -> dict[str, str]:
    return {name: v if isinstance(v, str) else json.dumps(v) for name, v in fields.items()}


def send(client: Any, path: str, write: Write, style: str, origin: str, token: str | None):
    """POST ``write`` as ``style`` does, with ``token`` where that style can carry one."""
    headers = {"Origin": origin}
    if style == "fetch":
        if token is not None:
            headers["X-CSRFToken"] = token
        return client.post(path, json=write.fields, headers=headers)
    if style == "form":
        fields = _as_form(write.fields)
        if token is not None:
            fields["csrf_token"] = token
        return client.post(path, data=fields, headers=headers)
    assert style == "sendBeacon"  # no headers of its own; a body of any text
    body = dict(write.fields, csrf_token=token) if token is not None else write.fields
    return client.post(path, data=json.dumps(body), content_type="text/plain", headers=headers)


def _refused(response: Any, write: Write) -> bool:
    if response.status_code != 400:
        return False
    if write.form:
        return response.mimetype == "text/html" and b"could not be accepted" in response.data
    if response.mimetype != "application/problem+json":
        return False
    return "csrf token" in response.get_json()["detail"]


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_cookie_write_without_its_csrf_token_is_refused_and_changes_nothing(portal, write):
    client = portal.app.test_client()
    if write.anonymous:
        token = form_token(client.get(SIGN_IN).get_data(as_text=True))
    else:
        sign_in(client, TEACHER.name)
        token = csrf_of(client)
    stranger = portal.app.test_client()  # another browser: its token is not this one's
    strangers_token = form_token(stranger.get(SIGN_IN).get_data(as_text=True))
    path = _path(portal, write)
    before = snapshot(portal.engine)

    for style in ("fetch", "form", "sendBeacon"):
        for origin in (EVIL, SAME_ORIGIN):
            for sent_token in (None, strangers_token):
                response = send(client, path, write, style, origin, sent_token)
                attempt = f"{style} from {origin} with token {sent_token!r}"
                assert _refused(response, write), (attempt, response.status_code)
                assert snapshot(portal.engine) == before, attempt

    style = "form" if write.form else "fetch"
    response = send(client, path, write, style, SAME_ORIGIN, token)
    assert response.status_code == write.status, response.get_data(as_text=True)[:500]
    after = snapshot(portal.engine)
    assert after[write.changes] != before[write.changes]


def test_a_bearer_token_wins_over_the_cookie_and_needs_no_csrf_token(portal):
    """A bearer token is not sent by a browser on its own, so it needs no CSRF token; the
    write is the token's learner's, not the signed-in teacher's."""
    client = portal.app.test_client()
    sign_in(client, TEACHER.name)

    response = client.post(
        "/api/study-sessions",
        json={"group_id": 2, "study_activity_id": 1},
        headers={**portal.aiko.headers, "Origin": EVIL},
    )

    assert response.status_code == 201
    sessions = schema.study_sessions
    with portal.engine.connect() as connection:
        owner = connection.execute(
            select(sessions.c.learner_id).where(sessions.c.id == response.get_json()["id"])
        ).scalar_one()
    assert owner == portal.aiko.id


def test_a_wrong_bearer_token_is_refused_even_with_a_sign_in_cookie(portal):
    client = portal.app.test_client()
    sign_in(client, TEACHER.name)
    before = snapshot(portal.engine)

    response = client.post(
        "/api/study-sessions",
        json={"group_id": 1, "study_activity_id": 1},
        headers={"Authorization": "Bearer not-a-token", "X-CSRFToken": csrf_of(client)},
    )

    assert response.status_code == 401
    assert snapshot(portal.engine) == before


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/study-sessions", {"group_id": 1, "study_activity_id": 1}, 201),
        ("/study_sessions", {"group_id": 1, "study_activity_id": 1}, 201),
        ("/api/study-sessions/reset", {}, 200),
    ],
)
def test_the_open_mode_checks_no_csrf_token(database_url, path, body, status):
    app = make_app(database_url)
    try:
        client = app.test_client()
        client.post("/api/study-sessions", json={"group_id": 3, "study_activity_id": 1})
        before = _count(engine_of(client))

        response = client.post(path, json=body, headers={"Origin": SAME_ORIGIN})

        assert response.status_code == status
        assert _count(engine_of(client)) == (before + 1 if status == 201 else 0)
    finally:
        app.extensions["lang_portal.engine"].dispose()


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(schema.study_sessions)
        ).scalar_one()
