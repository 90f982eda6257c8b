"""Launch tokens: what the portal gives an outside study activity for one session.

When the portal launches an activity served from another origin, it appends
``#token=<launch token>`` to the activity's URL (a fragment never reaches a server
log or a Referer header). The token names one study session and its learner, signed
with SECRET_KEY (itsdangerous, HMAC-SHA1 compared in constant time), so nothing is
stored: the session row itself says when the token expires, :data:`LIFETIME` after
the session started. What a launch token may do is decided per route (see
``lang_portal.identity.require_launch_scope``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

LIFETIME = timedelta(hours=24)
# Keeps these signatures apart from any other use of the same key (cookies, CSRF).
_SALT = "lang-portal launch token"


def issue(secret_key: str, study_session_id: int, learner_id: int) -> str:
    """The launch token of one learner's study session."""
    return URLSafeSerializer(secret_key, salt=_SALT).dumps([study_session_id, learner_id])


def read(secret_key: str, token: str) -> tuple[int, int] | None:
    """``(study_session_id, learner_id)`` named by a well-signed token, else None."""
    try:
        payload = URLSafeSerializer(secret_key, salt=_SALT).loads(token)
    except BadSignature:
        return None
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or not all(type(value) is int for value in payload)
    ):
        return None
    return payload[0], payload[1]


def looks_like_one(token: str) -> bool:
    """True for a token of the launch kind: a learner's token never holds a dot."""
    return "." in token


def expires_at(started_at: datetime) -> datetime:
    """When the launch token of a session that started at ``started_at`` stops working."""
    return started_at + LIFETIME
