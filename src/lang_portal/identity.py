"""Who is asking: each request's identity, resolved once, and whose history it may touch.

LANG_PORTAL_AUTH sets the mode:

- ``open`` (the default): no sign-in. Every request acts as the default learner, a
  teacher. When LANG_PORTAL_API_TOKEN is set, writes need it as a bearer token.
- ``accounts``: every API route needs an identity: ``Authorization: Bearer <token>``
  with a learner's token, a launch token (see lang_portal.launch_tokens) or
  LANG_PORTAL_API_TOKEN (the default learner); else the portal's sign-in cookie
  (lang_portal.sign_in), whose writes must carry the CSRF token.

A request without a valid identity gets 401 before anything else is done for it (in
particular before the rate limit, so it spends no learner's budget). Tokens are
compared by their SHA-256 digest, looked up in the database; the operator token is
compared in constant time. No token is ever logged.

Whose history a request reads or writes, its *subject*, is the caller's own, except
that a teacher may read another learner's with ``?learner_id=``. Nobody writes into
another learner's history. A launch token acts as its session's learner, and only on
the routes that admit it (:func:`require_launch_scope`).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app, g, request

from lang_portal import db, launch_tokens, queries, sign_in
from lang_portal.errors import ApiError
from lang_portal.queries.learners import DEFAULT_LEARNER_ID, LEARNER, TEACHER
from lang_portal.setting_parsers import ACCOUNTS

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="lang-portal"'}


# What a launch token may reach, route by route (the ``launch`` of each API route):
# the vocabulary; its session's group (the route's ``group_id``); its session (the
# route's ``study_session_id``). Every other route refuses it with a 403.
LAUNCH_VOCABULARY = "vocabulary"
LAUNCH_GROUP = "group"
LAUNCH_SESSION = "session"
_LAUNCH_LIMITS = (
    "a launch token may only read its study session, the vocabulary and its session's "
    "group, and post reviews into its session"
)


@dataclass(frozen=True)
class Launch:
    """What a launch token was issued for: one study session, of one group."""

    study_session_id: int
    group_id: int


@dataclass(frozen=True)
class Identity:
    """The caller: a learner's id and role; ``launch`` when a launch token is the identity."""

    learner_id: int
    role: str
    launch: Launch | None = None

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
        return _signed_in(write)
    if _is_operator(token):
        return DEFAULT_LEARNER
    if launch_tokens.looks_like_one(token):
        return _launched(token)
    with db.reading() as connection:
        learner = queries.learners.by_token(connection, token)
    if learner is None:
        raise _refused("the bearer token is not valid")
    return Identity(learner["id"], learner["role"])


def _signed_in(write: bool) -> Identity:
    """The learner signed in to the portal with this request's cookie; a write must
    also carry the CSRF token (a 400 without it)."""
    learner = sign_in.signed_in_learner()
    if learner is None:
        raise _refused(
            "this request needs the header Authorization: Bearer <token>, or a sign-in to "
            "the portal"
        )
    if write:
        sign_in.protect()
    return Identity(learner["id"], learner["role"])


def _launched(token: str) -> Identity:
    """The learner of the study session a launch token was issued for, acting as a
    learner (a teacher's launch token carries no teacher's rights), within 24 hours
    of the session's start."""
    named = launch_tokens.read(current_app.config["SECRET_KEY"], token)
    if named is None:
        raise _refused("the bearer token is not valid")
    study_session_id, learner_id = named
    with db.reading() as connection:
        started = queries.study_sessions.launch_of(connection, learner_id, study_session_id)
    if started is None:
        raise _refused("the launch token's study session no longer exists")
    if datetime.now(UTC) >= launch_tokens.expires_at(started["created_at"]):
        raise _refused("the launch token has expired: launch the activity again")
    return Identity(learner_id, LEARNER, Launch(study_session_id, started["group_id"]))


def require_launch_scope(caller: Identity, scope: str | None, view_args: dict[str, Any]) -> None:
    """Raises ApiError 403 when the caller is a launch token and the route (its
    ``scope``, one of the LAUNCH_* names or None, and its URL values) is beyond it."""
    launch = caller.launch
    if launch is None:
        return
    allowed = (
        scope == LAUNCH_VOCABULARY
        or (scope == LAUNCH_GROUP and view_args.get("group_id") == launch.group_id)
        or (
            scope == LAUNCH_SESSION and view_args.get("study_session_id") == launch.study_session_id
        )
    )
    if not allowed:
        raise ApiError(403, _LAUNCH_LIMITS)


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
