"""lang-portal: vocabulary, study sessions and review results for a language-learning portal."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application.

    ``config`` overrides settings by name (``{"DATABASE_URL": ...}``); anything not
    given comes from ``LANG_PORTAL_*`` environment variables or the defaults in
    :mod:`lang_portal.settings`. The database is not migrated here: run
    ``lang-portal init-db`` (``lang-portal serve`` does it first).
    """
    from lang_portal import (
        api,
        db,
        errors,
        hosts,
        observability,
        pages,
        security,
        settings,
        sign_in,
    )
    from lang_portal.api import docs as api_docs

    app = Flask(__name__)
    app.config.update(settings.load(config))
    names = {setting.name for setting in settings.SETTINGS}
    app.config.update({k: v for k, v in (config or {}).items() if k not in names})
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY_BYTES"]
    app.json.sort_keys = False

    observability.init_app(app)
    errors.init_app(app)
    hosts.init_app(app)
    db.init_app(app)
    CORS(
        app,
        resources={r"/*": {"origins": _cors_origins(app.config["CORS_ORIGINS"])}},
        send_wildcard=app.config["CORS_ORIGINS"] == "*",
        methods=["GET", "HEAD", "POST", "OPTIONS"],  # all the service answers
        expose_headers=[
            "Location",
            "X-Request-ID",
            "Idempotent-Replayed",
            "Retry-After",
            "WWW-Authenticate",
        ],
        max_age=600,
    )
    security.init_app(app)
    sign_in.init_app(app)
    api.init_app(app)
    pages.init_app(app)
    api_docs.init_app(app)
    if app.config["TRUSTED_PROXIES"]:
        # Only behind known proxies may X-Forwarded-For name the client (rate limits, logs)
        # and X-Forwarded-Host the host (ALLOWED_HOSTS, links).
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )
    return app


def _cors_origins(origins: str | list[str | re.Pattern[str]]) -> str | list[re.Pattern[str]]:
    """The CORS_ORIGINS setting as flask-cors matches it: each origin a whole-string pattern.

    flask-cors takes a string with ``[`` or ``]`` for a regular expression, so an IPv6
    origin such as ``http://[::1]:3000`` is escaped rather than passed as text.
    """
    if origins == "*":
        return "*"
    return [
        origin if isinstance(origin, re.Pattern) else re.compile(re.escape(origin) + r"\Z", re.I)
        for origin in origins
    ]
