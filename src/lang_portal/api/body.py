"""Reading request bodies and turning validation failures into clear 400s.

The JSON parser here is stricter than Flask's: it refuses NaN and Infinity,
invalid UTF-8 and absurdly deep nesting, and it insists on a JSON object.
Validation failures are reported in the order a client should fix them: missing
fields first, then wrong types, then out-of-range values.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from lang_portal.errors import ApiError, FieldError

M = TypeVar("M", bound=BaseModel)

_TYPE_NAMES = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "bool_type": "must be a boolean",
    "bool_parsing": "must be a boolean",
    "list_type": "must be a list",
    "model_type": "must be an object",
    "dict_type": "must be an object",
    "string_type": "must be a string",
}
# Lower ranks are reported first: presence, then type, then value.
_RANK = {"missing": 0, **dict.fromkeys(_TYPE_NAMES, 1)}


# Deeper than any request lang-portal takes (a review batch is 3 levels deep), and far
# short of where Python's own recursion limit would turn a body into a 500.
MAX_DEPTH = 64


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (a scalar is 0)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item)
    return deepest


def json_payload() -> Any:
    """The body of a write, read once and parsed as strict JSON; None when it is empty.

    Every write needs ``Content-Type: application/json``, even with an empty body: a
    browser cannot send that type to another origin without a CORS preflight, so no
    plain form, ``no-cors`` fetch or beacon from another site can write.

    Raises ApiError: 415 for another Content-Type, 400 for invalid UTF-8, invalid JSON
    or nesting deeper than MAX_DEPTH; RequestEntityTooLarge (413) over the size limit.
    """
    if request.mimetype != "application/json":
        raise ApiError(415, "Content-Type must be application/json")
    raw = _raw_body()
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "request body is not valid UTF-8") from None
    too_deep = ApiError(400, f"request body is nested deeper than {MAX_DEPTH} levels")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise too_deep from None
    except ValueError:
        raise ApiError(400, "request body is not valid JSON") from None
    if _depth(data) > MAX_DEPTH:
        raise too_deep
    return data


def json_object(payload: Any) -> dict[str, Any]:
    """A write's parsed body as the JSON object a body model needs, else a 400."""
    if payload is None:
        raise ApiError(400, "request body is empty; send a JSON object")
    if not isinstance(payload, dict):
        raise ApiError(400, "request body must be a JSON object")
    return payload


def _raw_body() -> bytes:
    """The request body, refused with 413 when it is over MAX_CONTENT_LENGTH.

    Werkzeug refuses a body whose Content-Length is over the limit, but it stops
    reading a chunked body (no Content-Length) at the limit without a word, which
    would hand on a truncated body. So one byte past the limit is read here.
    """
    raw = request.get_data(cache=False)
    limit = request.max_content_length
    at_limit = request.content_length is None and limit is not None and len(raw) >= limit
    if at_limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    return raw


def _describe(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind in _TYPE_NAMES:
        return _TYPE_NAMES[kind]
    context = error.get("ctx") or {}
    if kind == "greater_than_equal":
        return f"must be >= {context['ge']}"
    if kind == "less_than_equal":
        return f"must be <= {context['le']}"
    if kind == "value_error":  # a validator's own words, e.g. names.py's
        return str(context.get("error", error["msg"]))
    if kind == "literal_error":  # keep the case of choices such as startTime
        return f"must be one of {context['expected']}"
    if kind == "too_short":
        return f"must have at least {context['min_length']} items"
    if kind == "too_long":
        return f"must have at most {context['max_length']} items"
    return str(error["msg"]).lower()


def validate(model: type[M], data: Any) -> M:
    """Validate ``data`` against ``model``.

    Raises ApiError 400 whose ``error`` names the first field to fix and whose
    ``errors`` list every problem with a JSON pointer such as ``#/reviews/3/word_id``.
    """
    try:
        return model.model_validate(data)
    except ValidationError as failure:
        problems = sorted(failure.errors(), key=lambda e: _RANK.get(e["type"], 2))
        errors = [
            FieldError("#/" + "/".join(str(part) for part in e["loc"]), _describe(e))
            for e in problems
        ]
        first = errors[0]
        name = first.pointer.removeprefix("#/").replace("/", ".") or "body"
        raise ApiError(400, f"{name} {first.detail}", errors) from None
