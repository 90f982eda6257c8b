"""The fields of a study activity a school registers, and the one rule each follows.

``POST /api/study-activities`` takes :class:`NewStudyActivity` as its body and
``lang-portal activities add`` checks its arguments with :func:`checked`, so the API
and the CLI cannot drift apart:

- ``title``: a name (:mod:`lang_portal.names`): 1 to 100 characters after trimming;
- ``description``: at most 1000 characters; no control characters but line breaks and
  tabs (PostgreSQL cannot store a NUL, and the rest only garble the page);
- ``launch_url``, and ``preview_url`` unless empty: an absolute ``http`` or ``https``
  URL (see :func:`_web_url`).

Learners open these URLs from the launchpad, so anything that runs in the portal's own
page (``javascript:``, ``data:``) or is not a web address is refused, never stored. A
relative path is refused too: only the bundled activities, which lang-portal serves
itself, are stored as paths (see ``queries.study_activities``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated
from urllib.parse import SplitResult, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from lang_portal.names import Name

# The sizes of the study_activities columns (description is Text: this limit is ours).
MAX_URL_LENGTH = 500
MAX_DESCRIPTION_LENGTH = 1000
WEB_SCHEMES = ("http", "https")
# Every URL the rule accepts starts like this; the OpenAPI document says so, so a client
# (or schemathesis) learns the rule from it. The rule itself is _web_url's.
WEB_URL_PATTERN = "^[Hh][Tt][Tt][Pp][Ss]?://"
_LINE_BREAKS_AND_TABS = frozenset("\n\r\t")
# What urlsplit leaves in a host name that WHATWG's URL standard forbids in one.
_FORBIDDEN_IN_HOST = frozenset("<>[]^|%")
_BRACKETED_HOST = re.compile(r"\[[0-9A-Fa-f:.]+\](?::[0-9]*)?")


def _web_url(text: str) -> str:
    """The URL unchanged, if it is an absolute http or https URL a browser reads as we do.

    Refused: any whitespace, control or format character (a zero-width space, a
    right-to-left override), a backslash (a browser reads it as ``/`` in an http URL,
    Python does not, so the two would disagree on the host), another scheme or none,
    a user name or password (``https://user:pass@host/`` hides the real host from a
    reader), no host or one no browser takes, and a port that is not 0 to 65535.
    """
    if any(character.isspace() or _is_control(character) for character in text):
        raise ValueError("must not contain whitespace or control characters")
    if "\\" in text:
        raise ValueError("must not contain a backslash")
    try:
        parts = urlsplit(text)
    except ValueError:  # an unclosed or malformed [IPv6] host
        raise ValueError("is not a valid URL") from None
    if parts.scheme.lower() not in WEB_SCHEMES or not text[len(parts.scheme) :].startswith("://"):
        raise ValueError("must be an absolute http or https URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain a user name or password")
    if not _has_valid_host(parts):
        raise ValueError("must name a valid host")
    try:
        _ = parts.port  # reading it checks it
    except ValueError:
        raise ValueError("must have a port from 0 to 65535") from None
    return text


def _is_control(character: str) -> bool:
    """A control or a format character (a zero-width space): none belongs in an address."""
    return unicodedata.category(character) in ("Cc", "Cf")


def _has_valid_host(parts: SplitResult) -> bool:
    """A host a browser takes: a name without the characters WHATWG's URL standard
    forbids in one, or an IPv6 address in brackets followed by nothing but a port.

    ``parts`` has no user name or password (they are refused first).
    """
    if parts.netloc.startswith("["):
        return _BRACKETED_HOST.fullmatch(parts.netloc) is not None
    return bool(parts.hostname) and not _FORBIDDEN_IN_HOST.intersection(parts.hostname)


def _empty_or_web_url(text: str) -> str:
    return text if text == "" else _web_url(text)


def _no_control_characters_but_line_breaks(text: str) -> str:
    if any(
        unicodedata.category(character) == "Cc" and character not in _LINE_BREAKS_AND_TABS
        for character in text
    ):
        raise ValueError("must not contain control characters other than line breaks and tabs")
    return text


WebUrl = Annotated[str, StringConstraints(max_length=MAX_URL_LENGTH), AfterValidator(_web_url)]
EmptyOrWebUrl = Annotated[
    str, StringConstraints(max_length=MAX_URL_LENGTH), AfterValidator(_empty_or_web_url)
]
Description = Annotated[
    str,
    StringConstraints(max_length=MAX_DESCRIPTION_LENGTH),
    AfterValidator(_no_control_characters_but_line_breaks),
]


class NewStudyActivity(BaseModel):
    """An outside study activity to register.

    Titles are unique as the database compares them: exactly, case included.
    """

    model_config = ConfigDict(
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "title": "Kana Quest",
                    "description": "Race through hiragana and katakana.",
                    "launch_url": "https://kana-quest.example/play",
                    "preview_url": "https://kana-quest.example/preview.png",
                }
            ]
        },
    )
    title: Name = Field(
        description="1 to 100 characters after trimming; unique, compared exactly (case included)."
    )
    description: Description = Field(
        "",
        description="At most 1000 characters; no control characters but line breaks and tabs.",
    )
    launch_url: WebUrl = Field(
        description="Where the launchpad opens the activity: an absolute http or https URL "
        "with a host and no user name or password, at most 500 characters. The launchpad "
        "adds `group_id` and `session_id` to its query string.",
        json_schema_extra={"pattern": WEB_URL_PATTERN},
    )
    preview_url: EmptyOrWebUrl = Field(
        "",
        description="An image shown on the launchpad, by the same rule as `launch_url`; "
        "empty: none.",
        json_schema_extra={"pattern": f"^$|{WEB_URL_PATTERN}"},
    )


class BadField(ValueError):
    """One field cannot be stored: ``field`` names it, the message says why in one line."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


def checked(title: str, description: str, launch_url: str, preview_url: str) -> NewStudyActivity:
    """The activity with its title trimmed. Raises BadField for the first field to fix,
    in the order of the arguments."""
    try:
        return NewStudyActivity(
            title=title, description=description, launch_url=launch_url, preview_url=preview_url
        )
    except ValidationError as failure:
        first = failure.errors(include_url=False)[0]
        reason = first["msg"].removeprefix("Value error, ")
        raise BadField(str(first["loc"][0]), reason[:1].lower() + reason[1:]) from None
