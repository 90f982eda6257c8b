"""Who is asking: each request's identity, resolved once, and whose history it may touch.

LANG_PORTAL_AUTH sets the mode:

- ``open`` (the default): no sign-in. Every request acts as the default learner, a
  teacher. When LANG_PORTAL_API_TOKEN is set, writes need it as a bearer token.
- ``accounts``: every API route needs ``Authorization: Bearer <token>``: a learner's
  token, or LANG_PORTAL_API_TOKEN, which acts as the default learner.

A request without a valid identity gets 401 before anything else is done for it (in
particular before the rate limit, so it spends no learner's budget). Tokens are
compared by their SHA-256 digest, looked up in the database; the operator token is
compared in constant time. No token is ever logged.

Whose history a request reads or writes, its *subject*, is the caller's own, except
that a teacher may read another learner's with ``?learner_id=``. Nobody writes into
another learner's history.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from flask import current_app, g, request

from lang_portal import db, queries
from lang_portal.errors import ApiError
from lang_portal.queries.learners import DEFAULT_LEARNER_ID, TEACHER

OPEN = "open"
ACCOUNTS = "accounts"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="lang-portal"'}


@dataclass(frozen=True)
class Identity:
    """The caller: a learner's id and role."""

    learner_id: int
    role: str

    @property
    def is_teacher(self) -> bool:
        return self.role == TEACHER


DEFAULT_LEARNER = Identity(DEFAULT_LEARNER_ID, TEACHER)


def accounts_mode() -> bool:
    """True when each learner has a history of their own and every route needs an identity."""
    return current_app.config["AUTH"] == ACCOUNTS


def current(write: bool) -> Identity:
    """The caller of this request, resolved on first use and then remembered.

    Raises ApiError 401 when the request needs an identity (any API request in the
    ``accounts`` mode; a write in the ``open`` mode with an API token set) and has
    none, or a wrong one.
    """
    known = g.get("identity")
    if known is not None:
        return known
    caller = _resolve(write)
    g.identity = caller
    return caller


def known() -> Identity | None:
    """The caller, if this request has resolved one already; else None."""
    return g.get("identity")


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _is_operator(token: str | None) -> bool:
    operator = current_app.config["API_TOKEN"]
    return bool(operator and token) and hmac.compare_digest(token.encode(), operator.encode())


def _refused(detail: str) -> ApiError:
    return ApiError(401, detail, headers=CHALLENGE)


def _resolve(write: bool) -> Identity:
    token = _bearer_token()
    if not accounts_mode():
        if write and current_app.config["API_TOKEN"] and not _is_operator(token):
            raise _refused("this write needs the header Authorization: Bearer <token>")
        return DEFAULT_LEARNER
    if token is None:
        raise _refused("this request needs the header Authorization: Bearer <token>")
    if _is_operator(token):
        return DEFAULT_LEARNER
    with db.reading() as connection:
        learner = queries.learners.by_token(connection, token)
    if learner is None:
        raise _refused("the bearer token is not valid")
    return Identity(learner["id"], learner["role"])


def require_teacher(caller: Identity) -> None:
    """Raises ApiError 403 unless the caller is a teacher."""
    if not caller.is_teacher:
        raise ApiError(403, "only a teacher may do this")


def require_self_or_teacher(caller: Identity, learner_id: int) -> None:
    """Raises ApiError 403 unless the caller is this learner, or a teacher."""
    if caller.learner_id != learner_id and not caller.is_teacher:
        raise ApiError(403, "a learner may do this only for themself")


def subject(caller: Identity, requested: int | None, write: bool) -> int:
    """Whose history this request reads or writes: the caller's, or the learner a teacher
    names (``requested``, the request's ``?learner_id=``).

    Raises ApiError 403 when a learner names another learner, or when anyone names
    another learner on a write.
    """
    if requested is None or requested == caller.learner_id:
        return caller.learner_id
    if write:
        raise ApiError(403, "nobody writes into another learner's history")
    if not caller.is_teacher:
        raise ApiError(403, "only a teacher may read another learner's history")
    return requested
