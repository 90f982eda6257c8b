"""The errors in the OpenAPI document: the Problem schema, what each status means, and
which statuses each operation can answer with.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lang_portal.api.routing import Route
from lang_portal.errors import PROBLEM_JSON
from lang_portal.openapi.paths import RULE_ARGUMENT

PROBLEM_REF = "#/components/schemas/Problem"

# What each error status means here; the body is always a Problem.
_ERROR_MEANINGS: dict[int, str] = {
    400: "Bad request: malformed JSON, a missing or invalid field, a reference to a row "
    "that does not exist, a bad query parameter or a bad Idempotency-Key. `errors` "
    "points at each field to fix.",
    401: "No valid identity: in the `accounts` mode any request without a valid "
    "`Authorization: Bearer <token>` or sign-in cookie (a launch token also stops 24 hours "
    "after its session started); in the `open` mode a write without the token, when the "
    "server has LANG_PORTAL_API_TOKEN set. Comes with `WWW-Authenticate`.",
    403: "The caller may not do this: a teacher-only operation asked by a learner, "
    "`?learner_id=` naming another learner from a learner, or on a write from anyone, or "
    "a launch token used beyond its session.",
    404: "The resource named in the URL does not exist (ids are integers from 1 to "
    "9223372036854775807; anything else is a 404 too).",
    409: "A request with the same Idempotency-Key is still being processed; retry shortly.",
    413: "The request body is larger than LANG_PORTAL_MAX_BODY_BYTES (64 KiB by default).",
    415: "The request body's Content-Type is not `application/json`.",
    414: "The request line (method, path and query string) is longer than the HTTP server "
    "accepts: about 4 KiB under `lang-portal serve`. gunicorn answers before lang-portal "
    "sees the request, so this body is HTML, not a Problem.",
    422: "This Idempotency-Key was already used with a different request.",
    429: "Too many writes from this learner (in the `accounts` mode) or client address "
    "(LANG_PORTAL_RATE_LIMIT); wait for `Retry-After` seconds.",
    500: "Server failure. The body carries no internals; quote `request_id` when reporting it.",
    503: "The database is unavailable; retry after `Retry-After` seconds.",
}
# Every operation can fail like this, whatever it declares.
GENERIC_ERRORS = (414, 500, 503)
# Answered by the HTTP server in front of the app, in its own format.
_FROM_HTTP_SERVER = {414: "text/html"}


class ProblemFieldError(BaseModel):
    """One problem with one field of the request."""

    pointer: str = Field(
        description="JSON pointer to the field, e.g. `#/reviews/3/word_id`; query "
        "parameters are `#/<name>` and headers `#/headers/<name>`."
    )
    detail: str = Field(description="What is wrong with it, e.g. `must be an integer`.")


class Problem(BaseModel):
    """An error, as RFC 9457 problem details plus ``error`` and ``request_id``."""

    model_config = ConfigDict(
        title="Problem",
        json_schema_extra={
            "examples": [
                {
                    "error": "group_id must be an integer",
                    "type": "about:blank",
                    "title": "Bad Request",
                    "status": 400,
                    "detail": "group_id must be an integer",
                    "errors": [{"pointer": "#/group_id", "detail": "must be an integer"}],
                    "request_id": "6f1c0e4d9b2a4f0c8d7e5a3b1c9d8e7f",
                }
            ]
        },
    )

    error: str = Field(description="Same text as `detail`; older clients read this member.")
    type: str = Field(description="Always `about:blank`: the status says what happened.")
    title: str = Field(description="The HTTP status phrase, e.g. `Bad Request`.")
    status: int = Field(ge=400, le=599, description="The HTTP status code.")
    detail: str = Field(description="What went wrong, for a person to read.")
    errors: list[ProblemFieldError] = Field(
        default_factory=list,
        description="Each field to fix; present only when the error is about fields.",
    )
    request_id: str = Field(
        description="The request's id, also sent as the X-Request-ID header; the server "
        "log has the details under it."
    )


def error_response(status: int) -> dict[str, Any]:
    """The shared response of an error status: a Problem, or the HTTP server's own body."""
    description = _ERROR_MEANINGS.get(status, HTTPStatus(status).phrase)
    if status in _FROM_HTTP_SERVER:
        media = {_FROM_HTTP_SERVER[status]: {"schema": {"type": "string"}}}
        return {"description": description, "content": media}
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
    }
    if status in (429, 503):
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "required": status == 429,
                "schema": {"type": "integer", "minimum": 0},
            }
        }
    return response


def error_statuses(route: Route, accounts: bool) -> list[int]:
    """Every error status an operation can answer with, declared or implied by its features.

    ``accounts``: the document is for the ``accounts`` mode, where every operation needs
    an identity.
    """
    statuses = set(route.errors) | set(GENERIC_ERRORS)
    if accounts:
        statuses |= {401, 403}  # no identity; a launch token beyond its session
    if route.scoped or route.teacher_only:
        statuses |= {400, 403}  # ?learner_id= that is no id, or not the caller's to name
    if route.scoped and not route.write:
        statuses.add(404)  # ?learner_id= naming no learner
    if RULE_ARGUMENT.search(route.rule):
        statuses.add(404)
    if route.query is not None or route.body is not None or route.idempotent:
        statuses.add(400)
    if route.write:  # every write reads its body: JSON only, within the size limit
        statuses |= {400, 401, 413, 415, 429}
    if route.idempotent:
        statuses |= {409, 422}
    return sorted(statuses)


def response_name(status: int) -> str:
    """The name of a status's shared response in the components, e.g. ``BadRequest``."""
    return "".join(word.capitalize() for word in re.split(r"[^A-Za-z]+", HTTPStatus(status).phrase))
