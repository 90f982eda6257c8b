"""Who may write, and how often: the optional API token and write rate limits."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from lang_portal.errors import ApiError


def require_token() -> None:
    """Refuse the request with 401 unless it carries the configured bearer token.

    Does nothing when LANG_PORTAL_API_TOKEN is empty (the single-user default).
    The comparison takes the same time whatever the given token is.
    """
    token = current_app.config["API_TOKEN"]
    if not token:
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        raise ApiError(
            401,
            "this write needs the header Authorization: Bearer <token>",
            headers={"WWW-Authenticate": 'Bearer realm="lang-portal"'},
        )


def write_limit(app: Flask) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator that applies the RATE_LIMIT setting per client address.

    The counters live in RATE_LIMIT_STORAGE: per process with ``memory://``,
    shared by every worker and host with ``redis://``.
    """
    enabled = app.config["RATE_LIMIT"].strip().lower() != "off"

    # Registered before the limiter, so it runs after the limiter adds its headers.
    @app.after_request
    def retry_after_only_on_refusals(response: Response) -> Response:
        # Flask-Limiter puts Retry-After on every limited response, even a 201.
        if response.status_code not in (409, 429, 503):
            response.headers.pop("Retry-After", None)
        return response

    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=app.config["RATE_LIMIT_STORAGE"],
        headers_enabled=True,
        enabled=enabled,
        default_limits=[],
    )
    if not enabled:
        return lambda view: view
    return limiter.limit(app.config["RATE_LIMIT"])
