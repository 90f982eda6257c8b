"""The API's description, served by lang-portal itself: the OpenAPI document and Swagger UI.

``GET /api/openapi.json`` is the document built by :mod:`lang_portal.openapi` from
the route registry. ``GET /api/docs`` is Swagger UI, whose assets come from the
PyPI package flask-swagger-ui (Swagger UI 5, which reads OpenAPI 3.1) and are
served from ``/api/docs/assets/`` so the page works with no network access. The
page's Content-Security-Policy allows nothing but this server: its start-up code is
a served file, not an inline script.

These routes are not in the JSON route registry, so they are not in the document
they serve: it describes the JSON API only.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, send_from_directory, url_for
from markupsafe import escape

from lang_portal import openapi

SWAGGER_UI_DIST = Path(str(files("flask_swagger_ui") / "dist"))
OWN_ASSETS = Path(__file__).resolve().parent.parent / "static" / "docs"
# Every file the page may load, and where it lives. Nothing else is served.
ASSETS: dict[str, Path] = {
    "swagger-ui.css": SWAGGER_UI_DIST,
    "swagger-ui-bundle.js": SWAGGER_UI_DIST,
    "favicon-32x32.png": SWAGGER_UI_DIST,
    "favicon-16x16.png": SWAGGER_UI_DIST,
    "docs.css": OWN_ASSETS,
    "docs.js": OWN_ASSETS,
}
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_EXTENSION = "lang_portal.openapi"

docs = Blueprint("docs", __name__)


def document(app: Flask) -> dict:
    """The app's OpenAPI document, built once per app on first use."""
    if _EXTENSION not in app.extensions:
        app.extensions[_EXTENSION] = openapi.build_document(auth_mode=app.config["AUTH"])
    return app.extensions[_EXTENSION]


@docs.get("/api/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI 3.1 document of every JSON route."""
    body = json.dumps(document(current_app), ensure_ascii=False)
    return Response(body, mimetype="application/json")


@docs.get("/api/docs")
def page() -> Response:
    """Swagger UI on the OpenAPI document."""

    def asset(name: str) -> str:
        return str(escape(url_for("docs.asset", name=name)))

    html = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>lang-portal API</title>
  <link rel="stylesheet" href="{asset("swagger-ui.css")}">
  <link rel="stylesheet" href="{asset("docs.css")}">
  <link rel="icon" type="image/png" sizes="32x32" href="{asset("favicon-32x32.png")}">
  <link rel="icon" type="image/png" sizes="16x16" href="{asset("favicon-16x16.png")}">
</head>
<body>
  <div id="swagger-ui" data-spec-url="{escape(url_for("docs.openapi_document"))}">
    <noscript><p>This page needs JavaScript. The API description is
      <a href="{escape(url_for("docs.openapi_document"))}">openapi.json</a>.</p></noscript>
  </div>
  <script src="{asset("swagger-ui-bundle.js")}"></script>
  <script src="{asset("docs.js")}"></script>
</body>
</html>
"""
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCS_CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@docs.get("/api/docs/assets/<name>")
def asset(name: str) -> Response:
    """One of the page's assets, from the allowlist; anything else is a 404."""
    directory = ASSETS.get(name)
    if directory is None:
        abort(404)
    return send_from_directory(directory, name, max_age=3600)


def init_app(app: Flask) -> None:
    """Serve the OpenAPI document and the docs page."""
    app.register_blueprint(docs)
