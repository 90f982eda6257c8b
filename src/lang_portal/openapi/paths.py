"""Flask rules as OpenAPI paths, and the path and query parameters of an operation."""

from __future__ import annotations

import re
from typing import Any

from lang_portal.api.routing import MAX_ID

# The converters a rule may use, and the schema of the values each one lets through.
_CONVERTERS: dict[str, dict[str, Any]] = {
    "id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
RULE_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\((?P<args>.*?)\))?:)?(?P<name>\w+)>")


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path: ``/a/<id:x>`` becomes ``/a/{x}``."""
    return RULE_ARGUMENT.sub(lambda match: "{" + match["name"] + "}", rule)


def path_parameters(rule: str) -> list[dict[str, Any]]:
    """One parameter per argument of a rule; raises NotImplementedError for a converter
    this module has no schema for, rather than guessing one.
    """
    parameters = []
    for match in RULE_ARGUMENT.finditer(rule):
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


def query_parameters(schema: dict[str, Any]) -> list[dict[str, Any]]:
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
