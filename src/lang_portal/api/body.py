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


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def json_object() -> dict[str, Any]:
    """The request body as a JSON object.

    Raises ApiError: 415 unless the Content-Type is application/json, 400 for an
    empty body, invalid UTF-8, invalid JSON or anything but an object. Werkzeug
    raises 413 itself when the body is over MAX_CONTENT_LENGTH.
    """
    if request.mimetype != "application/json":
        raise ApiError(415, "Content-Type must be application/json")
    raw = raw_body()
    if not raw.strip():
        raise ApiError(400, "request body is empty; send a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "request body is not valid UTF-8") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ApiError(400, "request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    return data


def raw_body() -> bytes:
    """The request body, refused with 413 when it is over MAX_CONTENT_LENGTH.

    Werkzeug refuses a body whose Content-Length is over the limit, but it stops
    reading a chunked body (no Content-Length) at the limit without a word, which
    would hand on a truncated body. So one byte past the limit is read here.
    """
    raw = request.get_data(cache=True)
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
