"""The portal in a browser: server-rendered pages and the built-in study activities.

Paths: ``/`` is the dashboard, ``/portal/...`` every other page, and
``/activities/<name>/`` the built-in activities (Flashcards, Review...). None of them
collides with ``/api`` or with the legacy JSON paths (``/words``, ``/groups``,
``/dashboard/...``, ``/study_sessions``).

Pages read through the same query functions as the JSON API (``lang_portal.queries``)
and write study history only by calling the API from the browser, so there is one
write path with its validation, idempotency, identity check and rate limits. In the
open, single-user default the browser has no API token: with ``LANG_PORTAL_API_TOKEN``
set the pages still show everything, but starting a session, saving reviews and
resetting the history answer with a message that explains the 401.

In the ``accounts`` mode every page but the sign-in page needs a sign-in
(lang_portal.sign_in); without one it redirects there. The pages' API calls then go
with the sign-in cookie and the page's CSRF token. The account forms (sign-in,
sign-out, passwords, the teacher's class view) post to the pages themselves, each with
the CSRF token, because they set the cookie or handle secrets that no API answer should
carry.

Errors under these paths are HTML pages written in words, never problem+json.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, current_app, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from lang_portal import db, identity, sign_in

log = logging.getLogger("lang_portal.pages")

blueprint = Blueprint("pages", __name__)

# Pages load scripts, styles and images from lang-portal itself and nothing else;
# there is no inline script or style anywhere, so 'unsafe-inline' is never needed.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

_FAILED = (
    "The page could not be built. Try again; if it keeps failing, the server log has "
    "the details under the request id below."
)
# What a learner reads for each error status, instead of the status phrase.
_ERROR_TITLES = {
    400: "That request doesn't look right",
    403: "That page is for teachers",
    404: "We couldn't find that page",
    405: "That action isn't possible here",
    500: "Something went wrong on our side",
    503: "The database is unavailable",
}


def init_app(app: Flask) -> None:
    """Register the pages and the built-in activities on the app.

    Call after the API is registered: the pages use its ``<id:...>`` URL converter.
    """
    from lang_portal.api.routing import IdConverter
    from lang_portal.pages import (  # noqa: F401 (they declare the routes)
        account,
        activities,
        class_view,
        review,
        views,
    )

    app.url_map.converters.setdefault("id", IdConverter)
    app.register_blueprint(blueprint)


def current_learner_id() -> int:
    """Whose history the pages show: the caller's."""
    return identity.current(write=False).learner_id


@blueprint.app_template_filter("utc")
def format_utc(moment: datetime | None) -> str:
    """``2026-11-22 10:15 UTC``: timestamps are stored and shown in UTC."""
    if moment is None:
        return "–"
    return moment.strftime("%Y-%m-%d %H:%M UTC")


@blueprint.app_template_filter("day")
def format_day(day: date) -> str:
    """``22 Nov``: a short day label for charts."""
    return f"{day.day} {day.strftime('%b')}"


@blueprint.app_template_filter("percent")
def format_percent(fraction: float) -> str:
    """``0.8333`` -> ``83%``."""
    return f"{round(fraction * 100)}%"


def _reserved_by_url_for(name: str) -> bool:
    """``endpoint`` and ``_anchor``, ``_method``, ``_external``...: url_for's own arguments."""
    return name == "endpoint" or name.startswith("_")


@blueprint.app_template_global()
def url_with(**changes: Any) -> str:
    """This page's URL with some query values changed; a value of None removes it.

    The query string is built here rather than by ``url_for``: a client's ``?endpoint=``
    or ``?_method=`` would collide with url_for's own arguments (a 500), and ``?_anchor=``
    or ``?_external=`` would change every link. No page reads such a name, so they are
    dropped; so is a name the path already fills.
    """
    path_values = request.view_args or {}
    query: dict[str, Any] = {
        name: value
        for name, value in request.args.items()
        if name not in path_values and not _reserved_by_url_for(name)
    }
    query.update(changes)
    query = {name: value for name, value in query.items() if value is not None}
    path = url_for(request.endpoint or "pages.dashboard_page", **path_values)
    return f"{path}?{urlencode(query)}" if query else path


@blueprint.context_processor
def page_context() -> dict[str, Any]:
    """Values every page template may use."""
    return {
        "writes_need_token": bool(current_app.config.get("API_TOKEN"))
        and not identity.accounts_mode(),
        "request_id": g.get("request_id"),
        "signed_in": g.get("signed_in"),
    }


# A global, not a context value: macros imported from _macros.html see globals only.
blueprint.add_app_template_global(identity.accounts_mode, "accounts_mode")


# Pages that need no sign-in: the sign-in page itself.
_OPEN_ENDPOINTS = frozenset({"pages.sign_in_page", "pages.sign_in_submit"})
# Pages a learner with a teacher's temporary password may still reach.
_TEMPORARY_PASSWORD_ENDPOINTS = frozenset(
    {"pages.settings_page", "pages.change_password", "pages.sign_out"}
)


@blueprint.before_request
def pages_need_a_sign_in() -> ResponseReturnValue | None:
    """In the accounts mode: every form carries the CSRF token (400 without it), and every
    page but the sign-in page needs a sign-in (a redirect to it, then back here). A
    learner with a temporary password is sent to Settings to choose their own first."""
    if not identity.accounts_mode():
        return None
    if request.method == "POST":
        sign_in.protect()
    if request.endpoint in _OPEN_ENDPOINTS:
        return None
    learner = sign_in.signed_in_learner()
    if learner is None:
        return redirect(url_for("pages.sign_in_page", next=request.full_path.rstrip("?")))
    g.signed_in = learner
    g.identity = identity.Identity(learner["id"], learner["role"])
    if learner["password_is_temporary"] and request.endpoint not in _TEMPORARY_PASSWORD_ENDPOINTS:
        return redirect(url_for("pages.settings_page", _anchor="password"))
    return None


@blueprint.after_request
def page_headers(response: Response) -> Response:
    """A strict Content-Security-Policy and referrer policy on every HTML answer; in the
    accounts mode, no page is kept by any cache (the back button after signing out must
    ask the server again, which sends the browser to the sign-in page)."""
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = PAGE_CSP
        response.headers["Referrer-Policy"] = "same-origin"
        if identity.accounts_mode():
            response.headers["Cache-Control"] = "no-store"
    return response


def error_page(
    status: int, message: str, headers: dict[str, str] | None = None
) -> ResponseReturnValue:
    """An HTML error page: what went wrong in words, and where to go from here."""
    title = _ERROR_TITLES.get(status, HTTPStatus(status).phrase)
    body = render_template("error.html", status=status, title=title, message=message)
    return body, status, headers or {}


@blueprint.errorhandler(CSRFError)
def form_without_its_token(error: CSRFError) -> ResponseReturnValue:
    """A form posted without its CSRF token, with an old one, or from another site."""
    return error_page(
        400,
        "This form could not be accepted: it came from another site, or from a page "
        "opened before you last signed in. Reload the page and try again.",
    )


@blueprint.errorhandler(HTTPException)
def http_error(error: HTTPException) -> ResponseReturnValue:
    """404s, 400s and the rest, as a page. ``abort(404, "...")`` gives the message."""
    status = error.code or 500
    if status == 405:
        return error_page(status, f"{request.method} is not used on this page.")
    return error_page(status, error.description or HTTPStatus(status).description)


@blueprint.errorhandler(db.DatabaseNotSetUp)
def database_not_set_up(error: db.DatabaseNotSetUp) -> ResponseReturnValue:
    """No database file yet: a page that names the missing set-up step, not an outage."""
    log.error("%s (request_id=%s)", error, g.get("request_id"))
    message = (
        "lang-portal is not set up: its database file does not exist. "
        "Run `lang-portal init-db`, then reload this page."
    )
    title = "lang-portal is not set up"
    return render_template("error.html", status=503, title=title, message=message), 503


@blueprint.errorhandler(SQLAlchemyError)
def database_error(error: SQLAlchemyError) -> ResponseReturnValue:
    """A database failure: a page that says so; the details go to the log only."""
    log.error("database error (request_id=%s)", g.get("request_id"), exc_info=error)
    if db.is_unavailable(error):
        return error_page(
            503,
            "The portal cannot reach its database right now. Try again in a moment.",
            {"Retry-After": "1"},
        )
    return error_page(500, _FAILED)


@blueprint.errorhandler(Exception)
def unexpected_error(error: Exception) -> ResponseReturnValue:
    """Anything else: a 500 page; the traceback goes to the log with the request id."""
    log.error("unhandled error (request_id=%s)", g.get("request_id"), exc_info=error)
    return error_page(500, _FAILED)
