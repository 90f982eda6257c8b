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

import copy
import inspect
import itertools
import json
import re
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from lang_portal import idempotency
from lang_portal.api import routing
from lang_portal.api.routing import MAX_ID, Route
from lang_portal.errors import PROBLEM_JSON

OPENAPI_VERSION = "3.1.0"
REF_TEMPLATE = "#/components/schemas/{model}"
PROBLEM_REF = "#/components/schemas/Problem"
ALIASES_TAG = "aliases"
# What lang_portal.idempotency.key_from_request accepts: a bare token (not both starting and
# ending with a quote) or a non-empty quoted string, of printable ASCII. (An escaped quoted
# string is measured after unescaping, so a few over 255 characters long are accepted too.)
IDEMPOTENCY_KEY_PATTERN = r'^(?:[!-~]|[!#-~][ -~]{0,253}[!-~]|"[ -~]{0,253}[!#-~]|"[ -~]{1,255}")$'

# The converters a rule may use, and the schema of the values each one lets through.
_CONVERTERS: dict[str, dict[str, Any]] = {
    "id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
_RULE_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\((?P<args>.*?)\))?:)?(?P<name>\w+)>")

# What each error status means here; the body is always a Problem.
_ERROR_MEANINGS: dict[int, str] = {
    400: "Bad request: malformed JSON, a missing or invalid field, a reference to a row "
    "that does not exist, a bad query parameter or a bad Idempotency-Key. `errors` "
    "points at each field to fix.",
    401: "A write without `Authorization: Bearer <token>`, when the server has "
    "LANG_PORTAL_API_TOKEN set.",
    404: "The resource named in the URL does not exist (ids are integers from 1 to "
    "9223372036854775807; anything else is a 404 too).",
    409: "A request with the same Idempotency-Key is still being processed; retry shortly.",
    413: "The request body is larger than LANG_PORTAL_MAX_BODY_BYTES (64 KiB by default).",
    415: "The request body's Content-Type is not `application/json`.",
    414: "The request line (method, path and query string) is longer than the HTTP server "
    "accepts: about 4 KiB under `lang-portal serve`. gunicorn answers before lang-portal "
    "sees the request, so this body is HTML, not a Problem.",
    422: "This Idempotency-Key was already used with a different request.",
    429: "Too many writes from this client address (LANG_PORTAL_RATE_LIMIT); wait for "
    "`Retry-After` seconds.",
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


class _Generator(GenerateJsonSchema):
    """pydantic's generator, plus fields that accept several names (``AliasChoices``).

    pydantic documents only the first name. The server takes the first name that
    is present and validates only that one, so the schema says exactly this: the
    first name is validated whenever present; otherwise the first alternative
    present must be valid (and, for a required field, one of them must be present).
    """

    def model_fields_schema(self, schema: core_schema.ModelFieldsSchema) -> JsonSchemaValue:
        json_schema = super().model_fields_schema(schema)
        if self.mode != "validation":
            return json_schema
        for name, field in schema["fields"].items():
            names = _alias_names(name, field.get("validation_alias"))
            if len(names) > 1:
                _document_alias_choices(json_schema, names, self.field_is_required(field, True))
        return json_schema


def _alias_names(name: str, alias: Any) -> list[str]:
    if not isinstance(alias, list):
        return []
    names = []
    for path in alias:
        if not (isinstance(path, list) and len(path) == 1 and isinstance(path[0], str)):
            raise NotImplementedError(f"field {name!r}: only plain AliasChoices are documented")
        names.append(path[0])
    return names


def _document_alias_choices(json_schema: dict[str, Any], names: list[str], required: bool) -> None:
    primary, alternatives = names[0], names[1:]
    field_schema = json_schema["properties"][primary]
    if primary in json_schema.get("required", []):
        json_schema["required"].remove(primary)
        if not json_schema["required"]:
            del json_schema["required"]
    branches: list[dict[str, Any]] = [{"required": [primary]}]
    for index, alternative in enumerate(alternatives):
        branch: dict[str, Any] = {
            "required": [alternative],
            "properties": {alternative: copy.deepcopy(field_schema)},
        }
        earlier = alternatives[:index]
        if earlier:
            branch["not"] = {"anyOf": [{"required": [other]} for other in earlier]}
        branches.append(branch)
    if not required:
        branches.append({"not": {"anyOf": [{"required": [other]} for other in alternatives]}})
    names_text = ", ".join(f"`{n}`" for n in alternatives)
    field_schema["description"] = (
        field_schema.get("description", "") + f" Also accepted under the name {names_text}."
    ).strip()
    json_schema.setdefault("allOf", []).append({"anyOf": branches})


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


def _docstring(route: Route) -> tuple[str, str]:
    """The view's docstring as (summary, description)."""
    text = inspect.cleandoc(route.view.__doc__ or route.endpoint.replace("_", " "))
    text = text.replace("``", "`")  # reStructuredText literals read as Markdown ones
    summary, _, rest = text.partition("\n")
    return summary.strip().rstrip("."), " ".join(rest.split())


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path: ``/a/<id:x>`` becomes ``/a/{x}``."""
    return _RULE_ARGUMENT.sub(lambda match: "{" + match["name"] + "}", rule)


def _path_parameters(rule: str) -> list[dict[str, Any]]:
    parameters = []
    for match in _RULE_ARGUMENT.finditer(rule):
        converter = match["converter"] or "default"
        if converter not in _CONVERTERS or match["args"]:
            raise NotImplementedError(f"{rule}: no OpenAPI schema for the converter {converter!r}")
        parameters.append(
            {
                "name": match["name"],
                "in": "path",
                "required": True,
                "description": "A positive integer id; out of range or malformed is a 404.",
                "schema": dict(_CONVERTERS[converter]),
            }
        )
    return parameters


def _query_parameters(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """One query parameter per property of a query model's validation schema."""
    if set(schema) - {"type", "title", "description", "properties", "required"}:
        raise NotImplementedError(f"query model {schema.get('title')}: only flat fields")
    required = set(schema.get("required", []))
    parameters = []
    for name, property_schema in schema.get("properties", {}).items():
        property_schema = dict(property_schema)
        property_schema.pop("title", None)
        description = property_schema.pop("description", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": property_schema,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _error_response(status: int) -> dict[str, Any]:
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


def error_statuses(route: Route) -> list[int]:
    """Every error status an operation can answer with, declared or implied by its features."""
    statuses = set(route.errors) | set(GENERIC_ERRORS)
    if _RULE_ARGUMENT.search(route.rule):
        statuses.add(404)
    if route.query is not None or route.body is not None or route.idempotent:
        statuses.add(400)
    if route.body is not None:
        statuses.add(415)
    if route.write:  # every write reads its body, so every write can be too large
        statuses |= {401, 413, 429}
    if route.idempotent:
        statuses |= {409, 422}
    return sorted(statuses)


def _media_example(schema: dict[str, Any], definitions: dict[str, Any]) -> Any:
    """The first example of a schema (following one $ref), or None."""
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        schema = definitions.get(ref.rsplit("/", 1)[1], {})
    examples = schema.get("examples")
    return examples[0] if isinstance(examples, list) and examples else None


def _alias_label(route: Route, path: str) -> str | None:
    """None for the canonical path, else a short name for the alias, for operationIds."""
    if path == "/api" + route.rule:
        return None
    if path.startswith("/api/v1/"):
        return "v1" if path == "/api/v1" + route.rule else "v1_underscore"
    if path.startswith("/api/"):
        return "underscore"
    return "legacy"


class _Schemas:
    """Generates every schema in one pass so that shared models are defined once."""

    def __init__(self, routes: Sequence[Route]) -> None:
        inputs: list[tuple[Any, Any, TypeAdapter[Any]]] = [
            ("problem", "serialization", TypeAdapter(Problem))
        ]
        for index, route in enumerate(routes):
            if route.query is not None:
                inputs.append(((index, "query"), "validation", TypeAdapter(route.query)))
            if route.body is not None:
                inputs.append(((index, "body"), "validation", TypeAdapter(route.body)))
            if route.response is not None:
                adapter = route.adapter or TypeAdapter(route.response)
                inputs.append(((index, "response"), "serialization", adapter))
        schemas, definitions = TypeAdapter.json_schemas(
            inputs, ref_template=REF_TEMPLATE, schema_generator=_Generator
        )
        self.by_key = {key: schema for (key, _mode), schema in schemas.items()}
        self.definitions: dict[str, Any] = definitions.get("$defs", {})
        self._query_refs = {
            self.by_key[(index, "query")].get("$ref")
            for index, route in enumerate(routes)
            if route.query is not None
        }

    def query(self, index: int) -> dict[str, Any]:
        schema = self.by_key[(index, "query")]
        ref = schema.get("$ref", "")
        return self.definitions[ref.rsplit("/", 1)[1]] if ref else schema

    def components(self) -> dict[str, Any]:
        """The definitions, minus the query models that only became parameters."""
        definitions = dict(self.definitions)
        for ref in self._query_refs - {None}:
            name = ref.rsplit("/", 1)[1]
            rest = json.dumps({k: v for k, v in definitions.items() if k != name})
            if f'"{ref}"' not in rest:
                del definitions[name]
        return dict(sorted(definitions.items()))


def _links(route: Route, routes: Sequence[Route]) -> dict[str, Any]:
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


def _operation(
    route: Route,
    index: int,
    path: str,
    schemas: _Schemas,
    policy: str,
    links: dict[str, Any],
) -> dict[str, Any]:
    summary, description = _docstring(route)
    label = _alias_label(route, path)
    canonical = "/api" + openapi_path(route.rule)
    operation: dict[str, Any] = {
        "tags": [route.rule.strip("/").split("/")[0] if label is None else ALIASES_TAG],
        "summary": summary,
        "operationId": route.endpoint if label is None else f"{route.endpoint}__{label}",
    }
    if label is not None:
        operation["deprecated"] = True
        description = (
            f"Alias of `{route.method} {canonical}`, kept for older clients; use that path. "
            + description
        ).strip()
    if description:
        operation["description"] = description

    parameters = _path_parameters(route.rule)
    if route.query is not None:
        parameters += _query_parameters(schemas.query(index))
    if route.idempotent:
        parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
    if parameters:
        operation["parameters"] = parameters

    if route.body is not None:
        body_schema = schemas.by_key[(index, "body")]
        media: dict[str, Any] = {"schema": body_schema}
        example = _media_example(body_schema, schemas.definitions)
        if example is not None:
            media["example"] = example
        operation["requestBody"] = {"required": True, "content": {"application/json": media}}

    success: dict[str, Any] = {"description": HTTPStatus(route.status).phrase}
    if route.response is not None:
        response_schema = schemas.by_key[(index, "response")]
        media = {"schema": response_schema}
        example = _media_example(response_schema, schemas.definitions)
        if example is not None:
            media["example"] = example
        success["content"] = {"application/json": media}
    else:
        success["content"] = {"application/json": {"schema": {}}}
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
    responses: dict[str, Any] = {str(route.status): success}
    for status in error_statuses(route):
        responses[str(status)] = {"$ref": f"#/components/responses/{_response_name(status)}"}
    operation["responses"] = responses

    if route.write:
        operation["security"] = [{}, {"bearerAuth": []}]
    return operation


def _response_name(status: int) -> str:
    return "".join(word.capitalize() for word in re.split(r"[^A-Za-z]+", HTTPStatus(status).phrase))


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


def build_document(routes: Iterable[Route] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (by default every route in the registry)."""
    routes = list(routing.routes.declared if routes is None else routes)
    schemas = _Schemas(routes)
    policy = idempotency_policy()
    paths: dict[str, dict[str, Any]] = {}
    aliases: dict[str, dict[str, Any]] = {}
    tags: list[str] = []
    links = [_links(route, routes) for route in routes]
    for index, route in enumerate(routes):
        for path in route.paths():
            target = paths if _alias_label(route, path) is None else aliases
            operation = _operation(route, index, path, schemas, policy, links[index])
            target.setdefault(openapi_path(path), {})[route.method.lower()] = operation
            tags.extend(operation["tags"])
    for path, item in aliases.items():
        paths.setdefault(path, {}).update(item)

    error_names = sorted({status for route in routes for status in error_statuses(route)})
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
            "responses": {
                _response_name(status): _error_response(status) for status in error_names
            },
            "parameters": {"IdempotencyKey": _idempotency_parameter(policy)},
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Needed on writes only when the server sets "
                    "LANG_PORTAL_API_TOKEN (then a write without it is a 401). With no token "
                    "configured, the single-user default, writes are open.",
                }
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
