"""Names people give things (a word group, a learner): what makes one storable.

One rule for every name column (String(100); SQLite would store a longer one
unchecked): 1 to 100 characters after trimming, and no control characters.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints, TypeAdapter, ValidationError


def _no_control_characters(text: str) -> str:
    if any(unicodedata.category(character) == "Cc" for character in text):
        raise ValueError("must not contain control characters")
    return text


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_no_control_characters),
]
_NAME = TypeAdapter(Name)


class BadName(ValueError):
    """The name cannot be stored; the message says why, in one line."""


def checked(raw: str) -> str:
    """The name, trimmed. Raises BadName when it breaks the rule above."""
    try:
        return _NAME.validate_python(raw)
    except ValidationError as failure:
        message = failure.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
        raise BadName(message) from None
