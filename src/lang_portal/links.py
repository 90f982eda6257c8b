"""Absolute links to lang-portal's own pages, activities and previews.

Activities and previews that lang-portal serves itself are stored as paths. They are
made absolute here, from LANG_PORTAL_PUBLIC_URL when it is set (a deployment behind a
proxy that rewrites hosts), else from the URL the request came in on, host and port
included: the links then work on 127.0.0.1, localhost or any other port alike, and
behind a reverse proxy whose X-Forwarded-* headers are trusted (TRUSTED_PROXIES).
"""

from __future__ import annotations

from flask import current_app, request


def base_url() -> str:
    """The scheme, host and port lang-portal's own links start with, without a slash."""
    return current_app.config["PUBLIC_URL"] or request.host_url.rstrip("/")
