"""Queries for the portal's sign-ins: passwords, and one row per signed-in browser.

A password is stored only as its argon2id hash (made by lang_portal.passwords, not
here); a sign-in only as the SHA-256 digest of the random token its cookie carries.
A sign-in lasts :data:`LIFETIME` from the moment it began, or until sign-out, or
until the learner's password changes (every other sign-in of theirs ends).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from lang_portal import schema
from lang_portal.queries.learners import TOKEN_BYTES, name_key, token_digest
from lang_portal.queries.problems import UnknownLearner

# Long enough for a school day; short enough that a forgotten browser on a shared
# computer does not stay signed in for long.
LIFETIME = timedelta(hours=12)

_learners = schema.learners
_sign_ins = schema.sign_ins


def credentials(connection: Connection, name: str) -> dict[str, Any] | None:
    """``{id, name, role, password_hash}`` of the learner with this name, in any case."""
    row = connection.execute(
        select(_learners.c.id, _learners.c.name, _learners.c.role, _learners.c.password_hash).where(
            _learners.c.name_key == name_key(name)
        )
    ).one_or_none()
    return dict(row._mapping) if row else None


def password_hash_of(connection: Connection, learner_id: int) -> str | None:
    """The learner's password hash; None when they have none (or do not exist)."""
    return connection.execute(
        select(_learners.c.password_hash).where(_learners.c.id == learner_id)
    ).scalar_one_or_none()


def set_password(
    connection: Connection,
    learner_id: int,
    password_hash: str,
    temporary: bool,
    keep_token: str | None = None,
) -> None:
    """Give the learner a new password hash; every sign-in of theirs ends, except the one
    whose token is ``keep_token`` (the browser that changed it). A ``temporary`` password
    is one a teacher set: the learner is asked for a new one at sign-in.

    Raises UnknownLearner.
    """
    changed = connection.execute(
        update(_learners)
        .where(_learners.c.id == learner_id)
        .values(password_hash=password_hash, password_is_temporary=temporary)
    ).rowcount
    if not changed:
        raise UnknownLearner(learner_id)
    others = _sign_ins.c.learner_id == learner_id
    if keep_token is not None:
        others = and_(others, _sign_ins.c.token_hash != token_digest(keep_token))
    connection.execute(delete(_sign_ins).where(others))


def rehash(connection: Connection, learner_id: int, password_hash: str) -> None:
    """Store a stronger hash of the same password (see passwords.needs_rehash)."""
    connection.execute(
        update(_learners).where(_learners.c.id == learner_id).values(password_hash=password_hash)
    )


def begin(connection: Connection, learner_id: int, now: datetime) -> str:
    """A new sign-in for the learner; returns its token, for the cookie only.

    The learner's sign-ins that have run out are deleted on the way.
    """
    connection.execute(
        delete(_sign_ins).where(
            _sign_ins.c.learner_id == learner_id, _sign_ins.c.created_at <= now - LIFETIME
        )
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    connection.execute(
        insert(_sign_ins).values(
            learner_id=learner_id, token_hash=token_digest(token), created_at=now
        )
    )
    return token


def signed_in(connection: Connection, token: str, now: datetime) -> dict[str, Any] | None:
    """``{id, name, role, password_is_temporary}`` of the learner a live sign-in belongs
    to, or None (no such sign-in, or it ran out)."""
    row = connection.execute(
        select(
            _learners.c.id,
            _learners.c.name,
            _learners.c.role,
            _learners.c.password_is_temporary,
        )
        .join(_sign_ins, _sign_ins.c.learner_id == _learners.c.id)
        .where(
            _sign_ins.c.token_hash == token_digest(token), _sign_ins.c.created_at > now - LIFETIME
        )
    ).one_or_none()
    return dict(row._mapping) if row else None


def end(connection: Connection, token: str) -> None:
    """End one sign-in (signing out): its cookie stops working, wherever a copy is."""
    connection.execute(delete(_sign_ins).where(_sign_ins.c.token_hash == token_digest(token)))
