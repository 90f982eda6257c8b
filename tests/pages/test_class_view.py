"""The teacher's class view (accounts mode): every learner's figures, sorted by any
column; a learner's dashboard, read-only; and the teacher's tools: add a learner, set a
temporary password, give a new token. Learners get a 403 page, the open mode a 404.

The class's history is made through the API with each learner's token; the figures it
should show are planned below (PLANNED), not read back from the code under test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import Engine, func, select

from lang_portal import schema
from lang_portal.pages import class_view
from tests.accounts import (
    Learner,
    accounts_app,
    add_learner,
    backdate_session,
    bearer,
    engine_of,
    review,
    start_session,
    token_digest,
)
from tests.conftest import make_app
from tests.pages.html import Page, visible_text
from tests.pages.test_sign_in import (
    PASSWORD,
    TEACHER,
    assert_sent_to_sign_in,
    csrf_of,
    give_password,
    password_of,
    sign_in,
    sign_in_rows,
    use_cheap_argon2,
)

VOCABULARY = 263  # words in the seeded vocabulary
NUMERIC = [key for key, _ in class_view.HEADINGS if key not in ("name", "last_active_at")]

# What the history made in `classroom` shows for each learner. Learner ids follow the
# order of the keys (the teacher is 1); each column's values in id order are sorted
# neither up nor down, so only a real sort puts them in order.
PLANNED: dict[str, dict[str, int]] = {
    TEACHER.name: {"words_studied": 6, "mastered_words": 0, "due_now": 0, "current_streak": 1},
    "Bo": {"words_studied": 1, "mastered_words": 1, "due_now": 0, "current_streak": 1},
    "Aiko": {"words_studied": 3, "mastered_words": 0, "due_now": 3, "current_streak": 3},
    "Chiyo": {"words_studied": 2, "mastered_words": 0, "due_now": 2, "current_streak": 0},
}
# Whose last write came first: the order of last activity.
LAST_ACTIVE = [TEACHER.name, "Chiyo", "Aiko", "Bo"]


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cheap_argon2(monkeypatch)


@dataclass
class Classroom:
    app: Flask
    engine: Engine
    teacher: Any  # a test client signed in as the teacher
    learners: dict[str, Learner]


def _review_at(client: Any, learner: Learner, study_session_id: int, word_ids: list[int]) -> None:
    """Answer these words "again" a minute after the session (backdated) started."""
    with engine_of(client).connect() as connection:
        started = connection.execute(
            select(schema.study_sessions.c.created_at).where(
                schema.study_sessions.c.id == study_session_id
            )
        ).scalar_one()
    answered = (started + timedelta(minutes=1)).isoformat()
    response = client.post(
        f"/api/study-sessions/{study_session_id}/review",
        json={
            "reviews": [
                {"word_id": word_id, "is_correct": False, "reviewed_at": answered}
                for word_id in word_ids
            ]
        },
        headers=learner.headers,
    )
    assert response.status_code == 201, response.get_data(as_text=True)


def _session_days_ago(client: Any, learner: Learner, days: int) -> int:
    study_session_id = start_session(client, learner)
    started = datetime.now(UTC) - timedelta(days=days)
    backdate_session(engine_of(client), study_session_id, started)
    return study_session_id


def _signed_in_teacher(app: Flask) -> Any:
    give_password(app, TEACHER.id)
    client = app.test_client()
    sign_in(client, TEACHER.name)
    return client


@pytest.fixture
def accounts(database_url: str) -> Iterator[Flask]:
    with accounts_app(database_url) as app:
        yield app


@pytest.fixture
def classroom(accounts: Flask) -> Classroom:
    """PLANNED's history, written in LAST_ACTIVE's order, and the teacher signed in."""
    client = accounts.test_client()
    learners = {name: add_learner(client, name) for name in ("Bo", "Aiko", "Chiyo")}
    bo, aiko, chiyo = learners["Bo"], learners["Aiko"], learners["Chiyo"]
    # The teacher: six words right today.
    review(client, TEACHER, start_session(client, TEACHER), [(w, True) for w in range(7, 13)])
    # Chiyo: two words wrong five days ago, due since; no session since.
    _review_at(client, chiyo, _session_days_ago(client, chiyo, 5), [5, 6])
    # Aiko: three words wrong two days ago, due since; sessions yesterday and today.
    _review_at(client, aiko, _session_days_ago(client, aiko, 2), [2, 3, 4])
    _session_days_ago(client, aiko, 1)
    start_session(client, aiko)
    # Bo: one word right five times today: mastered, due again days from now.
    review(client, bo, start_session(client, bo), [(1, True)] * 5)
    return Classroom(accounts, engine_of(client), _signed_in_teacher(accounts), learners)


_ROW = re.compile(r'<tr data-learner-id="(\d+)">(.*?)</tr>', re.S)


def class_rows(document: str) -> list[dict[str, Any]]:
    """The class table's rows, in order: id, name, each figure and the last activity."""
    rows = []
    for learner_id, cells in _ROW.findall(document):
        row: dict[str, Any] = {
            "id": int(learner_id),
            "name": re.search(r"<a href=\"[^\"]*\">([^<]*)</a>", cells).group(1),
        }
        for key in NUMERIC:
            row[key] = int(re.search(rf'class="num col-{key}">\s*(\d+)', cells).group(1))
        shown = re.search(r'class="col-last_active_at"><time datetime="([^"]+)"', cells)
        row["last_active_at"] = datetime.fromisoformat(shown.group(1)) if shown else None
        rows.append(row)
    return rows


def _planned(key: str, name: str) -> Any:
    if key == "name":
        return name.casefold()
    if key == "last_active_at":
        return LAST_ACTIVE.index(name)
    return PLANNED[name][key]


def _get(client: Any, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, response.headers.get("Location")
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def _last_active_at(engine: Engine) -> dict[str, datetime | None]:
    learners = schema.learners
    with engine.connect() as connection:
        return dict(connection.execute(select(learners.c.name, learners.c.last_active_at)).all())


def test_the_teacher_sees_every_learner_with_their_figures(classroom):
    rows = class_rows(_get(classroom.teacher, "/portal/class"))

    assert [row["name"] for row in rows] == sorted(PLANNED, key=str.casefold)  # by name
    for row in rows:
        assert {key: row[key] for key in NUMERIC} == PLANNED[row["name"]], row["name"]
    stored = _last_active_at(classroom.engine)
    assert {row["name"]: row["last_active_at"] for row in rows} == stored
    assert sorted(stored, key=lambda name: stored[name]) == LAST_ACTIVE


@pytest.mark.parametrize("sort_by", [key for key, _ in class_view.HEADINGS])
def test_the_class_sorts_by_each_column_both_ways(classroom, sort_by):
    in_id_order = [_planned(sort_by, name) for name in PLANNED]
    assert in_id_order not in (sorted(in_id_order), sorted(in_id_order, reverse=True))

    for order, direction in [("asc", "ascending"), ("desc", "descending")]:
        document = _get(classroom.teacher, f"/portal/class?sort_by={sort_by}&order={order}")

        shown = [_planned(sort_by, row["name"]) for row in class_rows(document)]
        assert sorted(shown) == sorted(in_id_order), order  # everyone, once
        assert shown == sorted(shown, reverse=order == "desc"), order
        (heading,) = re.findall(r'<th[^>]*aria-sort="(\w+)"[^>]*>\s*<a[^>]*>([^<]*)', document)
        assert heading == (direction, dict(class_view.HEADINGS)[sort_by])


@pytest.mark.parametrize(
    "query", ["sort_by=password_hash", "sort_by=", "order=sideways", "page=0", "page=x"]
)
def test_a_bad_sort_or_page_is_a_400_page(accounts, query):
    teacher = _signed_in_teacher(accounts)
    document = _get(teacher, f"/portal/class?{query}", status=400)
    assert "class-table" not in document


def test_a_learner_s_dashboard_is_read_only_and_shows_their_figures(classroom):
    aiko = classroom.learners["Aiko"]

    document = _get(classroom.teacher, f"/portal/class/{aiko.id}")

    page = Page(document)
    assert "Aiko's dashboard" in visible_text(document)
    assert "read-only" in page.text("read-only-note")
    assert page.text("stat-studied") == f"3 of {VOCABULARY}"
    assert page.text("stat-due-now") == "3"
    assert page.text("stat-streak") == "3 days"
    assert page.text("stat-sessions") == "3"
    assert page.text("signed-in-name") == TEACHER.name
    # Nothing that would act as Aiko: no launch form, no "review the 3 due" or "study
    # again" button, no reset; the only forms are the teacher's tools and signing out.
    assert "data-launch" not in document
    assert 'class="button' not in re.sub(r"<(button|form)[^>]*>", "", document)
    assert "reset-open" not in document
    actions = re.findall(r'<form method="post" action="([^"]+)"', document)
    assert sorted(actions) == sorted(
        [f"/portal/class/{aiko.id}/password", f"/portal/class/{aiko.id}/token", "/portal/sign-out"]
    )
    own = Page(_get(classroom.teacher, "/"))
    assert own.text("stat-studied") == f"6 of {VOCABULARY}"


@pytest.fixture
def teacher(accounts: Flask) -> Any:
    return _signed_in_teacher(accounts)


def _learner_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(schema.learners)).scalar_one()


def _token_rows(engine: Engine, learner_id: int) -> list[dict[str, Any]]:
    tokens = schema.learner_tokens
    with engine.connect() as connection:
        return [
            row._asdict()
            for row in connection.execute(select(tokens).where(tokens.c.learner_id == learner_id))
        ]


def _assert_only_the_digest_is_stored(engine: Engine, learner_id: int, token: str) -> None:
    rows = _token_rows(engine, learner_id)
    assert [row["token_hash"] for row in rows] == [token_digest(token)]
    assert token not in {str(value) for row in rows for value in row.values()}


def test_adding_a_learner_shows_their_token_once(accounts, teacher):
    engine = engine_of(teacher)

    response = teacher.post(
        "/portal/class/learners",
        data={"csrf_token": csrf_of(teacher), "name": "Daichi", "role": "learner"},
    )

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    document = response.get_data(as_text=True)
    token = Page(document).text("new-token")
    assert "Daichi's dashboard" in visible_text(document)
    me = accounts.test_client().get("/api/me", headers=bearer(token))
    assert me.status_code == 200
    assert (me.get_json()["name"], me.get_json()["role"]) == ("Daichi", "learner")
    learner_id = me.get_json()["id"]
    _assert_only_the_digest_is_stored(engine, learner_id, token)
    assert token not in _get(teacher, f"/portal/class/{learner_id}")
    assert token not in _get(teacher, "/portal/class")


@pytest.mark.parametrize(
    ("name", "role", "status"),
    [("aIKO", "learner", 409), ("", "learner", 400), ("Daichi", "admin", 400)],
    ids=["taken name", "no name", "no such role"],
)
def test_a_learner_that_cannot_be_added_is_not(accounts, teacher, name, role, status):
    add_learner(accounts.test_client(), "Aiko")
    engine = engine_of(teacher)
    before = _learner_count(engine)

    response = teacher.post(
        "/portal/class/learners", data={"csrf_token": csrf_of(teacher), "name": name, "role": role}
    )

    assert response.status_code == status
    document = response.get_data(as_text=True)
    assert Page(document).text("add-error")
    assert "new-token" not in document
    assert _learner_count(engine) == before


def test_a_temporary_password_replaces_theirs_and_signs_them_out(accounts, teacher):
    engine = engine_of(teacher)
    aiko = add_learner(accounts.test_client(), "Aiko")
    give_password(accounts, aiko.id)
    aikos_browser = accounts.test_client()
    sign_in(aikos_browser, "Aiko")
    assert len(sign_in_rows(engine, aiko.id)) == 1

    response = teacher.post(
        f"/portal/class/{aiko.id}/password",
        data={"csrf_token": csrf_of(teacher), "password": "temporary 1234"},
    )

    assert response.status_code == 302
    assert response.headers["Location"] == f"/portal/class/{aiko.id}?done=temporary"
    password_hash, temporary = password_of(engine, aiko.id)
    assert temporary is True
    assert PasswordHasher().verify(password_hash, "temporary 1234")
    assert sign_in_rows(engine, aiko.id) == []
    assert_sent_to_sign_in(aikos_browser.get("/"))
    assert len(sign_in_rows(engine, TEACHER.id)) == 1  # the teacher's own stays
    assert Page(_get(teacher, response.headers["Location"])).text("password-set")


def test_a_too_short_temporary_password_changes_nothing(accounts, teacher):
    engine = engine_of(teacher)
    aiko = add_learner(accounts.test_client(), "Aiko")
    give_password(accounts, aiko.id)
    before = password_of(engine, aiko.id)

    response = teacher.post(
        f"/portal/class/{aiko.id}/password",
        data={"csrf_token": csrf_of(teacher), "password": "short"},
    )

    assert response.status_code == 400
    assert "at least 8 characters" in Page(response.get_data(as_text=True)).text("password-error")
    assert password_of(engine, aiko.id) == before


def test_a_new_token_replaces_the_old_one(accounts, teacher):
    engine = engine_of(teacher)
    aiko = add_learner(accounts.test_client(), "Aiko")
    api = accounts.test_client()
    assert api.get("/api/me", headers=aiko.headers).status_code == 200

    response = teacher.post(f"/portal/class/{aiko.id}/token", data={"csrf_token": csrf_of(teacher)})

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    token = Page(response.get_data(as_text=True)).text("new-token")
    assert token != aiko.token
    assert api.get("/api/me", headers=aiko.headers).status_code == 401
    assert api.get("/api/me", headers=bearer(token)).get_json()["id"] == aiko.id
    _assert_only_the_digest_is_stored(engine, aiko.id, token)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/portal/class/999"),
        ("POST", "/portal/class/999/password"),
        ("POST", "/portal/class/999/token"),
    ],
)
def test_an_unknown_learner_is_a_404_page(accounts, teacher, method, path):
    engine = engine_of(teacher)
    before = _learner_count(engine)
    data = {"csrf_token": csrf_of(teacher), "password": "a temporary password"}

    response = teacher.open(path, method=method, data=data if method == "POST" else None)

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "no learner with id 999" in visible_text(response.get_data(as_text=True))
    assert _learner_count(engine) == before
    assert _token_rows(engine, 999) == []


CLASS_PAGES = [
    ("GET", "/portal/class"),
    ("GET", "/portal/class/1"),
    ("POST", "/portal/class/learners"),
    ("POST", "/portal/class/1/password"),
    ("POST", "/portal/class/1/token"),
]


@pytest.mark.parametrize(("method", "path"), CLASS_PAGES)
def test_a_learner_gets_a_403_page(accounts, method, path):
    engine = engine_of(accounts.test_client())
    aiko = add_learner(accounts.test_client(), "Aiko")
    give_password(accounts, aiko.id)
    client = accounts.test_client()
    sign_in(client, "Aiko")
    data = {"csrf_token": csrf_of(client), "name": "Daichi", "password": "a temporary password"}
    before = (_learner_count(engine), password_of(engine, TEACHER.id), _token_rows(engine, 1))

    response = client.open(path, method=method, data=data if method == "POST" else None)

    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "Only a teacher" in visible_text(response.get_data(as_text=True))
    assert (_learner_count(engine), password_of(engine, TEACHER.id), _token_rows(engine, 1)) == (
        before
    )
    assert "/portal/class" not in client.get("/").get_data(as_text=True)  # no Class link


@pytest.mark.parametrize(("method", "path"), CLASS_PAGES)
def test_the_open_mode_has_no_class(database_url, method, path):
    app = make_app(database_url)
    try:
        client = app.test_client()
        before = _learner_count(engine_of(client))
        response = client.open(path, method=method, data={"name": "Daichi", "password": PASSWORD})
        assert response.status_code == 404
        assert response.mimetype == "text/html"
        assert "no class" in visible_text(response.get_data(as_text=True))
        assert _learner_count(engine_of(client)) == before
    finally:
        app.extensions["lang_portal.engine"].dispose()
