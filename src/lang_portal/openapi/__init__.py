"""The OpenAPI 3.1 document, generated from the route registry and its pydantic models.

Nothing here is written by hand beside the code it describes: each operation comes
from a :class:`~lang_portal.api.routing.Route` (its paths, method, query, body and
response models, status and error statuses), the schemas come from pydantic's
JSON-schema generation (requests in "validation" mode, responses in
"serialization" mode), the summaries from the views' docstrings and the
idempotency policy from :mod:`lang_portal.idempotency`. A route added to the
registry therefore appears in the document, on every one of its paths, without
touching this module; a route feature this module cannot describe raises instead
of being documented wrongly.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from lang_portal import idempotency, sign_in
from lang_portal.api import routing
from lang_portal.api.routing import Route
from lang_portal.openapi import operations
from lang_portal.openapi.error_responses import error_response, error_statuses, response_name
from lang_portal.openapi.operations import ALIASES_TAG, alias_label
from lang_portal.openapi.paths import openapi_path
from lang_portal.openapi.schemas import Schemas
from lang_portal.setting_parsers import ACCOUNTS, OPEN

__all__ = ["IDEMPOTENCY_KEY_PATTERN", "build_document", "idempotency_policy", "openapi_path"]

OPENAPI_VERSION = "3.1.0"
# What lang_portal.idempotency.key_from_request accepts: a bare token (not both starting and
# ending with a quote) or a non-empty quoted string, of printable ASCII. (An escaped quoted
# string is measured after unescaping, so a few over 255 characters long are accepted too.)
IDEMPOTENCY_KEY_PATTERN = r'^(?:[!-~]|[!#-~][ -~]{0,253}[!-~]|"[ -~]{0,253}[!#-~]|"[ -~]{1,255}")$'


def _package_version() -> str:
    try:
        return version("lang-portal")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"


def idempotency_policy() -> str:
    """The Idempotency-Key policy, as written once in :mod:`lang_portal.idempotency`.

    Raises RuntimeError when that docstring no longer has its policy list, so the
    document can never go out without it.
    """
    paragraphs = inspect.cleandoc(idempotency.__doc__ or "").split("\n\n")
    for intro, policy in itertools.pairwise(paragraphs):
        if intro.rstrip().endswith("API docs:") and policy.lstrip().startswith("- "):
            return policy.replace("``", "`")
    raise RuntimeError("lang_portal.idempotency's docstring has lost its policy list")


def _idempotency_parameter(policy: str) -> dict[str, Any]:
    return {
        "name": idempotency.HEADER,
        "in": "header",
        "required": False,
        "description": (
            "Makes the write safe to retry. A bare token or a quoted structured-field "
            'string (`"8e03..."`) of 1 to 255 printable ASCII characters.\n\n' + policy
        ),
        "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
        "example": "8e03978e-40d5-43e8-bc93-6894a57f9324",
    }


def build_document(routes: Iterable[Route] | None = None, auth_mode: str = OPEN) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (by default every route in the registry),
    for a server in ``auth_mode`` (LANG_PORTAL_AUTH): ``open`` or ``accounts``."""
    accounts = auth_mode == ACCOUNTS
    routes = list(routing.routes.declared if routes is None else routes)
    schemas = Schemas(routes)
    policy = idempotency_policy()
    paths: dict[str, dict[str, Any]] = {}
    aliases: dict[str, dict[str, Any]] = {}
    tags: list[str] = []
    links = [operations.links(route, routes) for route in routes]
    for index, route in enumerate(routes):
        for path in route.paths():
            target = paths if alias_label(route, path) is None else aliases
            operation = operations.operation(route, index, path, schemas, links[index], accounts)
            target.setdefault(openapi_path(path), {})[route.method.lower()] = operation
            tags.extend(operation["tags"])
    for path, item in aliases.items():
        paths.setdefault(path, {}).update(item)

    error_names = sorted({status for route in routes for status in error_statuses(route, accounts)})
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "lang-portal",
            "version": _package_version(),
            "summary": "Vocabulary, study sessions and review results for a language portal.",
            "description": _INFO_DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "tags": [
            {"name": tag, "description": _tag_description(tag)}
            for tag in dict.fromkeys(t for t in tags if t != ALIASES_TAG)
        ]
        + [{"name": ALIASES_TAG, "description": _tag_description(ALIASES_TAG)}],
        "paths": paths,
        "components": {
            "schemas": schemas.components(),
            "responses": {response_name(status): error_response(status) for status in error_names},
            "parameters": {"IdempotencyKey": _idempotency_parameter(policy)},
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": _BEARER[accounts],
                },
                **({"cookieAuth": _COOKIE} if accounts else {}),
            },
        },
    }


def _tag_description(tag: str) -> str:
    if tag == ALIASES_TAG:
        return (
            "The same operations under `/api/v1`, the underscore spellings (`study_sessions`, "
            "`study_activities`) and the legacy paths without `/api` that the lang-portal "
            "React frontend calls. They answer exactly like their canonical `/api` twins."
        )
    return f"Operations on `/api/{tag}`."


_BEARER = {
    False: "The `open` mode (this server's): every request acts as the default learner. "
    "A token is needed on writes only when the server sets LANG_PORTAL_API_TOKEN (then a "
    "write without it is a 401); with none configured, the single-user default, writes "
    "are open.",
    True: "The `accounts` mode (this server's): every operation needs a token, a "
    "learner's own (from `lang-portal learners add` or `POST /api/learners`) or the "
    "operator's LANG_PORTAL_API_TOKEN, which acts as the default learner. Roles: a "
    "`learner` reads and writes only their own history; a `teacher` also manages "
    "learners and reads any learner's history with `?learner_id=`. Nobody writes into "
    "another learner's history, and another learner's study session is a 404. A launch "
    "token (from `POST /api/study-sessions/{study_session_id}/launch-token`, handed to an "
    "outside activity as `#token=`) acts as its session's learner for 24 hours after the "
    "session started, on the operations that say so; any other is a 403.",
}

_COOKIE = {
    "type": "apiKey",
    "in": "cookie",
    "name": sign_in.COOKIE_NAME,
    "description": "The portal's sign-in cookie (`/portal/sign-in`), for the portal's own "
    "pages and built-in activities. A write made with it must carry the page's CSRF token "
    "in the `X-CSRFToken` header; without it, 400 and nothing changes.",
}

_INFO_DESCRIPTION = """\
The HTTP API of lang-portal. Study activities (flashcards, typing tutors, ...) are launched \
for a word group, fetch its words and post review results here.

- Every response is JSON; errors are `application/problem+json` (see the `Problem` schema).
- The canonical prefix is `/api`. Each operation also answers under `/api/v1`, the underscore \
spelling and, for some, the legacy path without `/api`; those aliases are listed under the \
`aliases` tag and marked deprecated.
- Ids are integers from 1 to 9223372036854775807. Timestamps are RFC 3339 in UTC with an offset.
- Paginated lists take `page` (from 1) and `per_page` (1 to 100); out-of-range values are a \
400, never clamped. Unknown query parameters are ignored.
- Writes may carry an `Idempotency-Key` header for safe retries, and need \
`Authorization: Bearer <token>` only when the server sets LANG_PORTAL_API_TOKEN.
"""
