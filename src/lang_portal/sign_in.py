"""The portal's sign-in (accounts mode): its cookie, and the CSRF check of cookie writes.

The cookie is Flask's signed session cookie (signed with SECRET_KEY): HttpOnly,
SameSite=Lax, and Secure when PUBLIC_URL is https. It carries the random token of a
sign-in (stored in the database only as a digest; see queries.sign_ins) and
Flask-WTF's CSRF token, nothing else. Every sign-in starts a new cookie and a new
token; signing out deletes the sign-in row, so even a copy of the cookie stops
working.

A write authenticated by the cookie must carry the CSRF token (Flask-WTF's
CSRFProtect): the portal's forms in a hidden field, the pages' own ``fetch`` calls in
the ``X-CSRFToken`` header. CSRFProtect checks nothing by itself here
(WTF_CSRF_CHECK_DEFAULT is off): :func:`protect` is called where a cookie is the
identity, so requests with a bearer token, which no other site can send, need none.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask, session
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Connection

from lang_portal import db, queries

COOKIE_NAME = "lang_portal_sign_in"
_SIGN_IN_KEY = "sign_in"

csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    """Sign the cookie with SECRET_KEY, set its flags, and set up CSRFProtect."""
    app.secret_key = app.config["SECRET_KEY"] or None
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config["PUBLIC_URL"].startswith("https://"),
        WTF_CSRF_CHECK_DEFAULT=False,
        # The token lives as long as the sign-in (queries.sign_ins.LIFETIME), not an hour:
        # a learner half-way through a long session must still be able to save.
        WTF_CSRF_TIME_LIMIT=None,
    )
    csrf.init_app(app)


def token() -> str | None:
    """The sign-in token the request's cookie carries, if any."""
    value = session.get(_SIGN_IN_KEY)
    return value if isinstance(value, str) else None


def signed_in_learner() -> dict[str, Any] | None:
    """``{id, name, role, password_is_temporary}`` of the learner signed in with the
    request's cookie, or None (no cookie, a forged one, signed out, or run out)."""
    sign_in_token = token()
    if sign_in_token is None:
        return None
    with db.reading() as connection:
        return queries.sign_ins.signed_in(connection, sign_in_token, datetime.now(UTC))


def begin(connection: Connection, learner_id: int) -> None:
    """Sign the learner in: a new cookie, with a new sign-in token and a new CSRF token."""
    session.clear()
    session[_SIGN_IN_KEY] = queries.sign_ins.begin(connection, learner_id, datetime.now(UTC))


def end() -> None:
    """Sign out: the sign-in is deleted and the cookie emptied."""
    sign_in_token = token()
    if sign_in_token is not None:
        with db.writing() as connection:
            queries.sign_ins.end(connection, sign_in_token)
    session.clear()


def protect() -> None:
    """Refuse a cookie-authenticated write without the right CSRF token: raises
    flask_wtf.csrf.CSRFError, a 400."""
    csrf.protect()
