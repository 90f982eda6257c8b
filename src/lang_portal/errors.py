"""One error shape for every error the service produces.

Errors are RFC 9457 problem details with an extra ``error`` member that earlier
clients read, plus the request's ``request_id``. Flask's own errors (404, 405,
413, 415, ...), rate limiting, database failures and unhandled exceptions all
pass through here. A 5xx body never carries internals: the details go to the log
under the same request_id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, g, json, request
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from lang_portal import db
from lang_portal.queries.problems import (
    NameTaken,
    NotFound,
    ReviewTimeOutOfRange,
    TitleTaken,
    UnknownWord,
)

log = logging.getLogger("lang_portal.errors")

PROBLEM_JSON = "application/problem+json"


@dataclass
class FieldError:
    """One problem with one field: a JSON pointer such as ``#/reviews/3/word_id``."""

    pointer: str
    detail: str


@dataclass
class ApiError(Exception):
    """An error the client can act on. Raise it from anywhere in a request."""

    status: int
    detail: str
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.detail


def bad_request(pointer: str, detail: str) -> ApiError:
    """A 400 about one field: ``error`` reads e.g. "group_id must be an integer"."""
    name = pointer.removeprefix("#/").replace("/", ".")
    return ApiError(400, f"{name} {detail}", [FieldError(pointer, detail)])


def not_found(what: str) -> ApiError:
    """A 404 for a resource named in the URL."""
    return ApiError(404, f"{what} not found")


def problem(
    status: int,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build the JSON problem response for a status and a human-readable detail."""
    body: dict[str, Any] = {
        "error": detail,
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = [{"pointer": e.pointer, "detail": e.detail} for e in errors]
    body["request_id"] = g.get("request_id")
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def missing_row(error: NotFound) -> ApiError:
    """The API's answer when a query finds no row for an id the request gave.

    An id in the URL names the resource itself: a 404 ("word not found"). An id in
    the body is a bad field: a 400 pointing at it, ``#/group_id``, or for a review in
    a batch ``#/reviews/{index}/word_id``.
    """
    if error.id_name in (request.view_args or {}):
        return not_found(error.what)
    if isinstance(error, UnknownWord):
        field_name = f"reviews.{error.index}.{error.id_name}"
        pointer = "#/" + field_name.replace(".", "/")
        detail = f"{field_name}: {error}"
        return ApiError(400, detail, [FieldError(pointer, "does not exist")])
    return bad_request(f"#/{error.id_name}", "does not exist")


NOT_SET_UP = (
    "lang-portal is not set up: its database file does not exist; run `lang-portal init-db`"
)

_HTTP_DETAILS = {
    404: "no such resource",
    405: "method not allowed for this resource",
    413: "request body is larger than the limit",
    415: "Content-Type must be application/json",
}


def init_app(app: Flask) -> None:
    """Route every kind of error through :func:`problem`."""

    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        return problem(error.status, error.detail, error.errors, error.headers)

    @app.errorhandler(NotFound)
    def handle_missing_row(error: NotFound) -> Response:
        return handle_api_error(missing_row(error))

    @app.errorhandler(ReviewTimeOutOfRange)
    def handle_review_time(error: ReviewTimeOutOfRange) -> Response:
        # The single-review route names its word in the URL and has no list of reviews.
        single = "word_id" in (request.view_args or {})
        field_name = "reviewed_at" if single else f"reviews.{error.index}.reviewed_at"
        pointer = "#/" + field_name.replace(".", "/")
        return problem(400, f"{field_name} {error}", [FieldError(pointer, str(error))])

    @app.errorhandler(NameTaken)
    def handle_name_taken(error: NameTaken) -> Response:
        return problem(409, str(error), [FieldError("#/name", "is taken")])

    @app.errorhandler(TitleTaken)
    def handle_title_taken(error: TitleTaken) -> Response:
        return problem(409, str(error), [FieldError("#/title", "is taken")])

    @app.errorhandler(CSRFError)
    def handle_csrf(error: CSRFError) -> Response:
        # Flask-WTF's reason ("The CSRF token is missing.") and what to send instead.
        reason = (error.description or "The CSRF token is missing.").rstrip(".").lower()
        detail = (
            f"{reason}: a write signed in with the portal's cookie needs the page's CSRF "
            "token in the X-CSRFToken header (or use Authorization: Bearer <token>)"
        )
        return problem(400, detail)

    @app.errorhandler(RateLimitExceeded)
    def handle_rate_limit(error: RateLimitExceeded) -> Response:
        # Flask-Limiter adds Retry-After and the X-RateLimit headers after this.
        return problem(429, f"rate limit exceeded ({error.description}); retry later")

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> Response:
        status = error.code or 500
        if status == 413:
            limit = app.config["MAX_BODY_BYTES"]
            detail = f"request body is larger than the limit of {limit} bytes"
        else:
            detail = _HTTP_DETAILS.get(status, HTTPStatus(status).phrase.lower())
        headers = {k: v for k, v in error.get_headers() if k.lower() in ("allow", "retry-after")}
        return problem(status, detail, headers=headers)

    @app.errorhandler(db.DatabaseNotSetUp)
    def handle_database_not_set_up(error: db.DatabaseNotSetUp) -> Response:
        # A set-up step, not an outage: no Retry-After, since waiting will not help.
        log.error("%s (request_id=%s)", error, g.get("request_id"))
        return problem(503, NOT_SET_UP)

    @app.errorhandler(SQLAlchemyError)
    def handle_database_error(error: SQLAlchemyError) -> Response:
        log.error("database error (request_id=%s)", g.get("request_id"), exc_info=error)
        if db.is_unavailable(error):
            return problem(
                503, "the database is unavailable; try again shortly", headers={"Retry-After": "1"}
            )
        return problem(500, "internal server error")

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        log.error("unhandled error (request_id=%s)", g.get("request_id"), exc_info=error)
        return problem(500, "internal server error")
