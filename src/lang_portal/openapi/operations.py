"""One OpenAPI operation per path of a route: summary, parameters, bodies, responses, links."""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from lang_portal import identity
from lang_portal.api.routing import LearnerQuery, Route
from lang_portal.openapi.error_responses import error_statuses, response_name
from lang_portal.openapi.paths import openapi_path, path_parameters, query_parameters
from lang_portal.openapi.schemas import Schemas, media_example

ALIASES_TAG = "aliases"


# What a launch token may do on the operations that admit one (Route.launch).
_LAUNCH_NOTES = {
    identity.LAUNCH_VOCABULARY: "A launch token may call this.",
    identity.LAUNCH_GROUP: "A launch token may call this for its session's group only.",
    identity.LAUNCH_SESSION: "A launch token may call this for its own session only.",
}


def _docstring(route: Route) -> tuple[str, str]:
    """The view's docstring as (summary, description)."""
    text = inspect.cleandoc(route.view.__doc__ or route.endpoint.replace("_", " "))
    text = text.replace("``", "`")  # reStructuredText literals read as Markdown ones
    summary, _, rest = text.partition("\n")
    return summary.strip().rstrip("."), " ".join(rest.split())


def alias_label(route: Route, path: str) -> str | None:
    """None for the canonical path, else a short name for the alias, for operationIds."""
    if path == "/api" + route.rule:
        return None
    if path.startswith("/api/v1/"):
        return "v1" if path == "/api/v1" + route.rule else "v1_underscore"
    if path.startswith("/api/"):
        return "underscore"
    return "legacy"


def links(route: Route, routes: Sequence[Route]) -> dict[str, Any]:
    """OpenAPI links from a created resource to the operations on its URL.

    A 201 whose body has an ``id``, on a collection rule such as ``/study-sessions``,
    links to every operation under ``/study-sessions/<id:...>`` with that id, so
    that clients (and schemathesis' stateful tests) can follow it.
    """
    fields = getattr(route.response, "model_fields", {})
    if route.status != 201 or "id" not in fields:
        return {}
    links = {}
    for other in routes:
        match = re.match(re.escape(route.rule) + r"/<id:(\w+)>", other.rule)
        if match:
            links[other.endpoint] = {
                "operationId": other.endpoint,
                "parameters": {match[1]: "$response.body#/id"},
                "description": f"`id` is `{match[1]}` in "
                f"`{other.method} /api{openapi_path(other.rule)}`.",
            }
    return links


# ?learner_id= on a learner-scoped read, from the model the route registry validates it with
# (only when it is given: it is optional).
LEARNER_ID_PARAMETER = {**query_parameters(LearnerQuery.model_json_schema())[0], "required": False}


def operation(
    route: Route,
    index: int,
    path: str,
    schemas: Schemas,
    links: dict[str, Any],
    accounts: bool,
) -> dict[str, Any]:
    """The operation of route number ``index`` on one of its paths (canonical or alias).

    ``links`` are the route's :func:`links`, computed once for all of its paths.
    ``accounts``: the document is for the ``accounts`` mode (see :mod:`lang_portal.identity`).
    """
    summary, description = _docstring(route)
    label = alias_label(route, path)
    canonical = "/api" + openapi_path(route.rule)
    document: dict[str, Any] = {
        "tags": [route.rule.strip("/").split("/")[0] if label is None else ALIASES_TAG],
        "summary": summary,
        "operationId": route.endpoint if label is None else f"{route.endpoint}__{label}",
    }
    if label is not None:
        document["deprecated"] = True
        description = (
            f"Alias of `{route.method} {canonical}`, kept for older clients; use that path. "
            + description
        ).strip()
    if description:
        document["description"] = description

    parameters = path_parameters(route.rule)
    if route.query is not None:
        parameters += query_parameters(schemas.query(index))
    if route.scoped and not route.write:
        parameters.append(LEARNER_ID_PARAMETER)
    if route.idempotent:
        parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
    if parameters:
        document["parameters"] = parameters

    if route.body is not None:
        body = _json_content(schemas.by_key[(index, "body")], schemas)
        document["requestBody"] = {"required": True, "content": body}
    elif route.write:
        # A write without a body model (the reset) still takes only JSON: any value, or
        # an empty body, sent as application/json (anything else is a 415).
        document["requestBody"] = {
            "required": False,
            "description": "Ignored; the Content-Type must still be application/json.",
            "content": {"application/json": {"schema": {}, "example": {}}},
        }

    responses: dict[str, Any] = {str(route.status): _success(route, index, schemas, links)}
    for status in error_statuses(route, accounts):
        responses[str(status)] = {"$ref": f"#/components/responses/{response_name(status)}"}
    document["responses"] = responses

    if accounts:
        document["security"] = [{"bearerAuth": []}, {"cookieAuth": []}]
    elif route.write:
        document["security"] = [{}, {"bearerAuth": []}]
    if route.teacher_only:
        document["description"] = (description + " Teachers only.").strip()
    if route.launch is not None:
        document["description"] = (
            document.get("description", description) + f" {_LAUNCH_NOTES[route.launch]}"
        ).strip()
    return document


def _json_content(
    schema: dict[str, Any], schemas: Schemas, media_type: str = "application/json"
) -> dict[str, Any]:
    """A body of this schema, with the schema's first example if it has one."""
    media: dict[str, Any] = {"schema": schema}
    example = media_example(schema, schemas.definitions)
    if example is not None:
        media["example"] = example
    return {media_type: media}


def _success(route: Route, index: int, schemas: Schemas, links: dict[str, Any]) -> dict[str, Any]:
    """The route's success response: its model, its headers and its links."""
    success: dict[str, Any] = {
        "description": HTTPStatus(route.status).phrase,
        "content": _json_content(schemas.by_key[(index, "response")], schemas, route.media_type),
    }
    headers: dict[str, Any] = {}
    if route.status == 201:
        headers["Location"] = {
            "description": "The URL of the created resource, when it has one of its own.",
            "schema": {"type": "string"},
        }
    if route.idempotent:
        headers["Idempotent-Replayed"] = {
            "description": "`true` when this is the stored response of an earlier request "
            "with the same Idempotency-Key.",
            "schema": {"type": "string", "enum": ["true"]},
        }
    if headers:
        success["headers"] = headers
    if links:
        success["links"] = links
    return success
