"""Signing in to the portal (accounts mode): the form, its cookie, its limits, signing
out, the 12-hour lifetime, where the browser goes next, and a learner's own password.

Every write is checked in the database afterwards: the sign_ins rows (only digests of
the cookie's token), and learners.password_hash / password_is_temporary. Passwords are
argon2id at the lowest cost (CHEAP_HASHER), and each is hashed once per run
(:func:`hash_of`).

The helpers here (a password for a learner, a sign-in through the form, the CSRF token
of a page, the sign-in rows) serve tests/test_csrf.py and tests/pages/test_class_view.py
too.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import Engine, select, update

from lang_portal import db, passwords, queries, schema
from lang_portal.pages.account import NO_MATCH
from tests.accounts import (
    OPERATOR_TOKEN,
    Learner,
    accounts_app,
    add_learner,
    bearer,
    engine_of,
    token_digest,
)
from tests.conftest import make_app
from tests.pages.html import Page, visible_text

PASSWORD = "a long enough password"
OTHER_PASSWORD = "another long password"
SIGN_IN = "/portal/sign-in"
COOKIE = "lang_portal_sign_in"
# The seeded teacher, learner 1, as whom the operator token acts.
TEACHER = Learner(1, "default", "teacher", OPERATOR_TOKEN)


# argon2id at the lowest cost argon2 allows. At the portal's cost (lang_portal.passwords)
# a hash or a check takes 0.1-0.2 s here, and these tests make about a hundred checks
# per engine; what they test is which checks are made and what follows from them.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def use_cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make lang_portal.passwords hash and check at CHEAP_HASHER's cost (with its dummy
    hash for learners without a password made again at that cost)."""
    monkeypatch.setattr(passwords, "_HASHER", CHEAP_HASHER)
    dummy_hash = functools.cache(passwords._dummy_hash.__wrapped__)
    monkeypatch.setattr(passwords, "_dummy_hash", dummy_hash)


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cheap_argon2(monkeypatch)


@functools.cache
def hash_of(password: str) -> str:
    """The argon2id hash of a password (at CHEAP_HASHER's cost), made once per run."""
    return CHEAP_HASHER.hash(password)


def give_password(
    app: Flask, learner_id: int, password: str = PASSWORD, temporary: bool = False
) -> None:
    """Set a learner's password the way the contract says a test does (and end their
    sign-ins, as set_password does)."""
    with app.app_context(), db.writing() as connection:
        queries.sign_ins.set_password(
            connection, learner_id, hash_of(password), temporary=temporary
        )


def form_token(document: str) -> str:
    """The CSRF token in a page's first form (its hidden ``csrf_token`` field)."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', document)
    assert found, "the page has no form with a csrf_token field"
    return found.group(1)


def page_token(document: str) -> str:
    """The CSRF token a signed-in page gives its scripts: ``<meta name="csrf-token">``."""
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', document)
    assert found, "the page has no csrf-token meta tag"
    return found.group(1)


def client_at(app: Flask, address: str = "127.0.0.1") -> Any:
    """A test client whose requests come from ``address``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def post_sign_in(client: Any, name: str, password: str, next_path: str | None = None) -> Any:
    """Fill in and send the sign-in form, as a browser would (token from the form)."""
    form = client.get(SIGN_IN)
    assert form.status_code == 200, form.status_code
    token = form_token(form.get_data(as_text=True))
    data = {"csrf_token": token, "name": name, "password": password}
    if next_path is not None:
        data["next"] = next_path
    return client.post(SIGN_IN, data=data)


def sign_in(client: Any, name: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the sign-in token the new cookie carries."""
    response = post_sign_in(client, name, password)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    token = sign_in_token(client)
    assert token is not None
    return token


def cookie_value(client: Any) -> str | None:
    """The sign-in cookie as the browser holds it, or None."""
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie else None


def sign_in_token(client: Any) -> str | None:
    """The sign-in token inside the client's cookie (a signed Flask session), or None."""
    value = cookie_value(client)
    if value is None:
        return None
    app = client.application
    content = app.session_interface.get_signing_serializer(app).loads(value)
    return content.get("sign_in")


def csrf_of(client: Any, path: str = "/") -> str:
    """The CSRF token of a signed-in page (its meta tag)."""
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return page_token(response.get_data(as_text=True))


def sign_in_rows(engine: Engine, learner_id: int | None = None) -> list[dict[str, Any]]:
    """The sign_ins rows (of one learner, or all), by id."""
    query = select(schema.sign_ins).order_by(schema.sign_ins.c.id)
    if learner_id is not None:
        query = query.where(schema.sign_ins.c.learner_id == learner_id)
    with engine.connect() as connection:
        return [row._asdict() for row in connection.execute(query)]


def password_of(engine: Engine, learner_id: int) -> tuple[str | None, bool]:
    """A learner's (password_hash, password_is_temporary)."""
    learners = schema.learners
    with engine.connect() as connection:
        row = connection.execute(
            select(learners.c.password_hash, learners.c.password_is_temporary).where(
                learners.c.id == learner_id
            )
        ).one()
    return row.password_hash, row.password_is_temporary


def signed_in_name(client: Any) -> str:
    """Whose name the dashboard's navigation shows as signed in."""
    response = client.get("/")
    assert response.status_code == 200, response.headers.get("Location")
    return Page(response.get_data(as_text=True)).text("signed-in-name")


def assert_sent_to_sign_in(response: Any) -> None:
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == SIGN_IN


@pytest.fixture
def accounts(database_url: str) -> Iterator[Flask]:
    """The app in the accounts mode on a fresh seeded database."""
    with accounts_app(database_url) as application:
        yield application


@pytest.fixture
def aiko(accounts: Flask) -> Learner:
    """A learner with the password PASSWORD."""
    learner = add_learner(accounts.test_client(), "Aiko")
    give_password(accounts, learner.id)
    return learner


def test_a_right_password_signs_in_with_a_new_cookie(accounts, aiko):
    engine = engine_of(accounts.test_client())
    client = accounts.test_client()
    client.get(SIGN_IN)
    anonymous_cookie = cookie_value(client)

    response = post_sign_in(client, "Aiko", PASSWORD, next_path="/portal/words")

    assert response.status_code == 302
    assert response.headers["Location"] == "/portal/words"
    assert cookie_value(client) not in (None, anonymous_cookie)
    token = sign_in_token(client)
    (row,) = sign_in_rows(engine, aiko.id)
    assert row["token_hash"] == token_digest(token)
    assert token not in {str(value) for row in sign_in_rows(engine) for value in row.values()}
    assert signed_in_name(client) == "Aiko"
    assert client.get("/").headers["Cache-Control"] == "no-store"


def test_names_are_matched_in_any_case(accounts, aiko):
    client = accounts.test_client()
    sign_in(client, "  aIKO ")
    assert signed_in_name(client) == "Aiko"


def _comparable(document: str) -> str:
    """A sign-in page without what differs from one answer to the next by design: the
    CSRF token's signature and the name typed, which the form gives back."""
    without_token = re.sub(r'(name="csrf_token" value=")[^"]*', r"\1", document)
    return re.sub(r'(id="name" name="name"[^>]*value=")[^"]*', r"\1", without_token)


def test_unknown_name_no_password_and_wrong_password_get_the_same_answer(accounts, aiko):
    """Status, headers, message and page do not tell which names exist or which learners
    have a password; only the name typed is given back in its field."""
    add_learner(accounts.test_client(), "Bo")  # no password
    answers = {}
    for case, name, password in [
        ("unknown name", "Nobody", PASSWORD),
        ("no password", "Bo", PASSWORD),
        ("wrong password", "Aiko", OTHER_PASSWORD),
    ]:
        client = accounts.test_client()
        response = post_sign_in(client, name, password)
        document = response.get_data(as_text=True)
        assert Page(document).text("sign-in-error") == NO_MATCH, case
        assert re.search(rf'id="name" name="name"[^>]*value="{name}"', document), case
        assert sign_in_token(client) is None, case
        answers[case] = (
            response.status_code,
            response.headers["WWW-Authenticate"],
            response.headers["Cache-Control"],
            visible_text(document),
            _comparable(document),
        )
    assert answers["unknown name"][0] == 401
    assert answers["unknown name"] == answers["no password"] == answers["wrong password"]
    assert sign_in_rows(engine_of(accounts.test_client())) == []


@pytest.mark.parametrize(
    ("name", "password"),
    [
        pytest.param("Nobody", PASSWORD, id="unknown name"),
        pytest.param("Bo", PASSWORD, id="no password"),
        pytest.param("Aiko", OTHER_PASSWORD, id="wrong password"),
        pytest.param("Aiko", PASSWORD, id="right password"),
    ],
)
def test_every_sign_in_does_the_same_argon2_work(accounts, aiko, monkeypatch, name, password):
    """One argon2 check per answer, at the stored hash's cost (the dummy hash of a learner
    without a password has the same parameters): counted, not timed."""
    add_learner(accounts.test_client(), "Bo")  # no password
    checked: list[str] = []
    real_verify = PasswordHasher.verify

    def counting_verify(hasher: PasswordHasher, hash: str, password: str) -> bool:
        checked.append(hash)
        return real_verify(hasher, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    client = accounts.test_client()
    token = form_token(client.get(SIGN_IN).get_data(as_text=True))

    client.post(SIGN_IN, data={"csrf_token": token, "name": name, "password": password})

    assert len(checked) == 1
    parameters = checked[0].rsplit("$", 2)[0]  # "$argon2id$v=19$m=...,t=...,p=..."
    assert parameters == hash_of(PASSWORD).rsplit("$", 2)[0]


def test_five_failures_for_a_name_refuse_even_the_right_password(accounts, aiko):
    assert accounts.config["RATE_LIMIT"] == "off"  # the write limit; this one stays on
    guesser = client_at(accounts, "10.0.0.1")
    token = form_token(guesser.get(SIGN_IN).get_data(as_text=True))
    for _ in range(5):
        wrong = {"csrf_token": token, "name": "Aiko", "password": OTHER_PASSWORD}
        assert guesser.post(SIGN_IN, data=wrong).status_code == 401

    # From another address, so that it is the name that is limited, not the address.
    owner = client_at(accounts, "10.0.0.2")
    response = post_sign_in(owner, "aiko", PASSWORD)

    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert "Too many failed sign-ins" in Page(response.get_data(as_text=True)).text("sign-in-error")
    assert sign_in_token(owner) is None
    assert sign_in_rows(engine_of(owner)) == []


def test_five_failures_from_an_address_refuse_any_name_from_it(accounts, aiko):
    assert accounts.config["RATE_LIMIT"] == "off"
    guesser = client_at(accounts, "10.0.0.3")
    token = form_token(guesser.get(SIGN_IN).get_data(as_text=True))
    for number in range(5):
        wrong = {"csrf_token": token, "name": f"Guess {number}", "password": PASSWORD}
        assert guesser.post(SIGN_IN, data=wrong).status_code == 401

    right = {"csrf_token": token, "name": "Aiko", "password": PASSWORD}
    refused = guesser.post(SIGN_IN, data=right)

    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert sign_in_rows(engine_of(guesser)) == []
    # The name itself is not limited: from another address the same form signs in.
    assert post_sign_in(client_at(accounts, "10.0.0.4"), "Aiko", PASSWORD).status_code == 302
    assert len(sign_in_rows(engine_of(guesser), aiko.id)) == 1


def test_signing_in_again_changes_the_cookie_and_the_sign_in(accounts, aiko):
    engine = engine_of(accounts.test_client())
    client = accounts.test_client()
    client.get(SIGN_IN)
    anonymous_cookie = cookie_value(client)
    first_token = sign_in(client, "Aiko")
    first_cookie = cookie_value(client)

    # Already signed in, the form is not shown again: the nav's sign-out form has a token.
    again = {"csrf_token": csrf_of(client), "name": "Aiko", "password": PASSWORD}
    assert client.post(SIGN_IN, data=again).status_code == 302

    second_token = sign_in_token(client)
    assert cookie_value(client) not in (first_cookie, anonymous_cookie)
    assert second_token != first_token
    assert token_digest(second_token) in {row["token_hash"] for row in sign_in_rows(engine)}
    # The cookie from before the sign-in (holding only a CSRF token) opens nothing.
    planted = accounts.test_client()
    planted.set_cookie(COOKIE, anonymous_cookie)
    assert_sent_to_sign_in(planted.get("/"))
    assert planted.get("/api/me").status_code == 401


@pytest.mark.parametrize(
    ("public_url", "secure"),
    [("http://localhost:5000", False), ("https://portal.example.org", True)],
)
def test_the_cookie_is_http_only_same_site_lax_and_secure_over_https(
    database_url, public_url, secure
):
    with accounts_app(database_url, PUBLIC_URL=public_url) as app:
        learner = add_learner(app.test_client(), "Aiko")
        give_password(app, learner.id)
        client = app.test_client()
        response = post_sign_in(client, "Aiko", PASSWORD)
        assert response.status_code == 302

        (set_cookie,) = response.headers.getlist("Set-Cookie")
        flags = {flag.strip().lower() for flag in set_cookie.split(";")[1:]}
        assert set_cookie.startswith(f"{COOKIE}=")
        assert "httponly" in flags
        assert "samesite=lax" in flags
        assert ("secure" in flags) is secure
        assert sign_in_token(client) is not None


def test_signing_out_ends_the_sign_in_for_every_copy_of_the_cookie(accounts, aiko):
    engine = engine_of(accounts.test_client())
    client = accounts.test_client()
    sign_in(client, "Aiko")
    copy = accounts.test_client()
    copy.set_cookie(COOKIE, cookie_value(client))
    assert signed_in_name(copy) == "Aiko"

    response = client.post("/portal/sign-out", data={"csrf_token": csrf_of(client)})

    assert response.status_code == 302
    assert response.headers["Location"] == f"{SIGN_IN}?signed_out=1"
    assert sign_in_rows(engine, aiko.id) == []
    assert sign_in_token(client) is None
    assert_sent_to_sign_in(copy.get("/"))
    assert copy.get("/api/me").status_code == 401
    assert Page(client.get(SIGN_IN + "?signed_out=1").get_data(as_text=True)).text("signed-out")


# The page forms' addresses, which take POST only.
FORM_ADDRESSES = [
    "/portal/sign-out",
    "/portal/settings/password",
    "/portal/class/learners",
    "/portal/class/2/password",
    "/portal/class/2/token",
]


def test_get_on_a_form_s_address_is_a_405_page(accounts, aiko):
    teacher = accounts.test_client()
    give_password(accounts, TEACHER.id)
    sign_in(teacher, TEACHER.name)

    for path in FORM_ADDRESSES:
        response = teacher.get(path)

        assert response.status_code == 405, path
        assert response.mimetype == "text/html"
        assert "GET is not used on this page" in visible_text(response.get_data(as_text=True))
        assert len(sign_in_rows(engine_of(teacher), TEACHER.id)) == 1  # still signed in


@pytest.mark.parametrize(
    ("age", "works"),
    [(timedelta(hours=11, minutes=59), True), (timedelta(hours=12, minutes=1), False)],
)
def test_a_sign_in_lasts_twelve_hours(accounts, aiko, age, works):
    client = accounts.test_client()
    token = sign_in(client, "Aiko")
    with engine_of(client).begin() as connection:
        connection.execute(
            update(schema.sign_ins)
            .where(schema.sign_ins.c.token_hash == token_digest(token))
            .values(created_at=datetime.now(UTC) - age)
        )

    page = client.get("/")
    api = client.get("/api/me")

    if works:
        assert page.status_code == 200
        assert api.status_code == 200
        assert api.get_json()["name"] == "Aiko"
    else:
        assert_sent_to_sign_in(page)
        assert api.status_code == 401


@pytest.mark.parametrize(
    ("next_path", "goes_to"),
    [
        ("https://evil.example", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/\t/evil.example", "/"),  # browsers drop the tab: //evil.example
        ("javascript:alert(1)", "/"),
        ("evil.example", "/"),
        ("", "/"),
        ("/portal/words?page=2", "/portal/words?page=2"),
    ],
)
def test_after_signing_in_the_browser_goes_only_to_a_path_of_this_portal(
    accounts, aiko, next_path, goes_to
):
    response = post_sign_in(accounts.test_client(), "Aiko", PASSWORD, next_path=next_path)
    assert response.status_code == 302
    assert response.headers["Location"] == goes_to


def test_the_page_asked_for_is_where_the_sign_in_leads(accounts, aiko):
    client = accounts.test_client()
    asked = client.get("/portal/words?page=2")
    assert_sent_to_sign_in(asked)
    form_page = client.get(asked.headers["Location"])
    (next_path,) = re.findall(r'name="next" value="([^"]*)"', form_page.get_data(as_text=True))
    assert next_path == "/portal/words?page=2"
    assert parse_qs(urlsplit(asked.headers["Location"]).query)["next"] == [next_path]

    response = client.post(
        SIGN_IN,
        data={
            "csrf_token": form_token(form_page.get_data(as_text=True)),
            "next": next_path,
            "name": "Aiko",
            "password": PASSWORD,
        },
    )

    assert response.headers["Location"] == "/portal/words?page=2"
    assert client.get("/portal/words?page=2").status_code == 200


def _change_password(client: Any, current: str, new: str, repeated: str) -> Any:
    return client.post(
        "/portal/settings/password",
        data={
            "csrf_token": csrf_of(client, "/portal/settings"),
            "current_password": current,
            "new_password": new,
            "repeat_password": repeated,
        },
    )


@pytest.mark.parametrize(
    ("current", "new", "repeated", "message"),
    [
        (OTHER_PASSWORD, "a new password 1", "a new password 1", "current password is not right"),
        (PASSWORD, "short", "short", "at least 8 characters"),
        (PASSWORD, "a new password 1", "a new password 2", "not the same"),
    ],
    ids=["wrong current password", "too short", "repeated differently"],
)
def test_a_refused_password_change_changes_nothing(accounts, aiko, current, new, repeated, message):
    client = accounts.test_client()
    token = sign_in(client, "Aiko")
    engine = engine_of(client)
    before = password_of(engine, aiko.id)

    response = _change_password(client, current, new, repeated)

    assert response.status_code == 400
    assert message in Page(response.get_data(as_text=True)).text("password-error")
    assert password_of(engine, aiko.id) == before == (hash_of(PASSWORD), False)
    assert [row["token_hash"] for row in sign_in_rows(engine, aiko.id)] == [token_digest(token)]


def test_a_new_password_ends_every_other_sign_in_and_replaces_the_old(accounts, aiko):
    engine = engine_of(accounts.test_client())
    other_browser = accounts.test_client()
    sign_in(other_browser, "Aiko")
    this_browser = accounts.test_client()
    kept = sign_in(this_browser, "Aiko")

    response = _change_password(this_browser, PASSWORD, OTHER_PASSWORD, OTHER_PASSWORD)

    assert response.status_code == 302
    assert response.headers["Location"] == "/portal/settings?done=password#password"
    new_hash, temporary = password_of(engine, aiko.id)
    assert not temporary
    assert new_hash != hash_of(PASSWORD)
    assert PasswordHasher().verify(new_hash, OTHER_PASSWORD)
    assert [row["token_hash"] for row in sign_in_rows(engine, aiko.id)] == [token_digest(kept)]
    assert signed_in_name(this_browser) == "Aiko"
    assert_sent_to_sign_in(other_browser.get("/"))
    assert post_sign_in(accounts.test_client(), "Aiko", PASSWORD).status_code == 401
    assert post_sign_in(accounts.test_client(), "Aiko", OTHER_PASSWORD).status_code == 302


def test_a_temporary_password_leads_to_settings_until_it_is_changed(accounts):
    engine = engine_of(accounts.test_client())
    learner = add_learner(accounts.test_client(), "Aiko")
    give_password(accounts, learner.id, temporary=True)
    client = accounts.test_client()
    sign_in(client, "Aiko")
    # A learner's answer once the password is their own (the class is for teachers).
    pages = {"/": 200, "/portal/words": 200, "/portal/review": 200, "/portal/class": 403}

    for path in pages:
        assert client.get(path).headers["Location"] == "/portal/settings#password", path
    settings = client.get("/portal/settings")
    assert settings.status_code == 200
    assert Page(settings.get_data(as_text=True)).text("temporary-password")

    changed = _change_password(client, PASSWORD, OTHER_PASSWORD, OTHER_PASSWORD)

    assert changed.status_code == 302
    new_hash, temporary = password_of(engine, learner.id)
    assert (new_hash != hash_of(PASSWORD), temporary) == (True, False)
    assert {path: client.get(path).status_code for path in pages} == pages


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", SIGN_IN),
        ("POST", SIGN_IN),
        ("POST", "/portal/sign-out"),
        ("POST", "/portal/settings/password"),
    ],
)
def test_the_open_mode_has_nothing_to_sign_in_to(database_url, method, path):
    app = make_app(database_url)
    try:
        client = app.test_client()
        response = client.open(path, method=method, data={"name": "default", "password": "x"})
        assert response.status_code == 404
        assert response.mimetype == "text/html"
        assert "nothing to sign in to" in visible_text(response.get_data(as_text=True))
        assert sign_in_rows(engine_of(client)) == []
        home = client.get("/")
        assert home.status_code == 200
        assert "signed-in-name" not in home.get_data(as_text=True)
        assert client.get("/api/me").get_json()["name"] == "default"
    finally:
        app.extensions["lang_portal.engine"].dispose()


def test_a_bearer_token_alone_does_not_sign_in_to_the_pages(accounts, aiko):
    client = accounts.test_client()
    assert_sent_to_sign_in(client.get("/", headers=bearer(aiko.token)))
    assert sign_in_token(client) is None
