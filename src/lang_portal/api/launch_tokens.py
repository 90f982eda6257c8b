"""Launch tokens: what the portal hands an outside study activity for one session.

An activity served from another origin cannot use the portal's cookie, and must not
get the learner's own token. The portal asks for a launch token when it launches
one, and appends it to the activity's URL as ``#token=...``; see
lang_portal.launch_tokens for what the token is, and lang_portal.identity for what
it may do.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import Connection

from lang_portal import identity, launch_tokens, queries
from lang_portal.api.learners import SECRET_HEADERS
from lang_portal.api.lookup import found
from lang_portal.api.routing import Reply, routes
from lang_portal.errors import ApiError


class LaunchToken(BaseModel):
    """A launch token for one study session, and when it stops working."""

    token: str = Field(
        description="Send it as `Authorization: Bearer <token>`. It may read this session, "
        "the vocabulary and the session's group, and post reviews into this session."
    )
    expires_at: AwareDatetime = Field(description="24 hours after the session started.")


@routes.post(
    "/study-sessions/<id:study_session_id>/launch-token",
    response=LaunchToken,
    status=201,
    scoped=True,
    errors=(403, 404),
)
def create_launch_token(connection: Connection, learner_id: int, study_session_id: int) -> Reply:
    """Make a launch token for one of the learner's study sessions, to hand to an outside
    activity.

    Only in the `accounts` mode (in the `open` mode an activity needs no token: 403). A
    launch token cannot make another. The same session always gets the same token,
    and every token of a session stops 24 hours after the session started.
    """
    if not identity.accounts_mode():
        raise ApiError(403, "launch tokens are made in the accounts mode only")
    study_session: dict[str, Any] = found(
        queries.study_sessions.launch_of(connection, learner_id, study_session_id),
        "study session",
    )
    token = launch_tokens.issue(current_app.config["SECRET_KEY"], study_session_id, learner_id)
    expires_at = launch_tokens.expires_at(study_session["created_at"])
    return Reply({"token": token, "expires_at": expires_at}, 201, headers=SECRET_HEADERS)
