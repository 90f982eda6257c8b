"""Cards as the API shows them, and the review fields every review route takes.

The scheduling is :mod:`lang_portal.scheduling`'s; this module holds what the HTTP
layer adds: the request fields of an answer (``rating``, ``is_correct``,
``reviewed_at``, ``duration_ms``) with their rules, the response model of a card,
and the scheduler for the app's desired retention.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import fsrs
from flask import current_app
from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)

from lang_portal import scheduling

# RFC 3339's date-time: a full date and time with seconds, and an offset (Z or ±hh:mm).
_RFC_3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def rfc_3339(raw: Any) -> Any:
    """Parse an RFC 3339 time with an offset into UTC; anything else is refused with one
    message.

    Strict models take no text for datetimes, so the text is parsed here. Digits of a
    second beyond the microsecond are dropped (the database keeps microseconds). A time
    UTC cannot hold (the year 1 east of Greenwich, 9999 west of it) is refused here,
    not left to fail where it is stored.
    """
    if not isinstance(raw, str) or not _RFC_3339.fullmatch(raw):
        raise ValueError("must be an RFC 3339 date-time with an offset, like 2026-01-31T09:30:00Z")
    try:
        moment = datetime.fromisoformat(raw.upper())
    except ValueError:
        raise ValueError("is not a real date and time") from None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range: years 1 to 9999 in UTC") from None


ReviewTime = Annotated[
    AwareDatetime,
    BeforeValidator(rfc_3339),
    Field(
        description="When the learner answered, for activities that queue reviews offline: "
        "RFC 3339 with an offset, not before the session started and at most 60 s ahead. "
        "Default: when the server records it."
    ),
]
RatingName = Literal["again", "hard", "good", "easy"]


def _rating(raw: Any) -> str | int:
    """A rating's name, or its number as a JSON integer (not true, not 2.0)."""
    if (isinstance(raw, str) and raw in scheduling.RATINGS) or (
        type(raw) is int and raw in scheduling.RATING_NAMES
    ):
        return raw
    raise ValueError('must be "again", "hard", "good" or "easy", or 1 to 4')


Rating = Annotated[
    str | int,
    PlainValidator(_rating),
    WithJsonSchema(
        {
            "enum": [*scheduling.RATINGS, *scheduling.RATING_NAMES],
            "description": "FSRS rating: again, hard, good or easy (or 1 to 4).",
        }
    ),
]


def answer_schema(*examples: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """The JSON Schema touches of an answer model: at least one of rating and is_correct
    (or correct), no ``default: null`` on fields that take no null, and ``examples``."""

    def drop_null_defaults(node: Any) -> None:
        if isinstance(node, dict):
            if "default" in node and node["default"] is None:
                del node["default"]
            for value in node.values():
                drop_null_defaults(value)
        elif isinstance(node, list):
            for value in node:
                drop_null_defaults(value)

    def adjust(schema: dict[str, Any]) -> None:
        drop_null_defaults(schema)  # the copies made for ``correct`` included
        schema["anyOf"] = [{"required": [name]} for name in ("rating", "is_correct", "correct")]
        if examples:
            schema["examples"] = list(examples)

    return adjust


class Answer(BaseModel):
    """How the learner answered: ``rating`` and/or ``is_correct`` (``correct`` is a
    synonym), at least one; both given must agree (only again is incorrect).

    Each field may be left out but not sent as null: None here only means "not given".
    """

    model_config = ConfigDict(strict=True, json_schema_extra=answer_schema())
    is_correct: bool = Field(  # type: ignore[assignment]
        None,
        validation_alias=AliasChoices("is_correct", "correct"),
        description="Was the answer right? Without a rating, false means again, true good.",
    )
    rating: Rating = None  # type: ignore[assignment]
    reviewed_at: ReviewTime = None  # type: ignore[assignment]
    duration_ms: int = Field(  # type: ignore[assignment]
        None, ge=0, le=3_600_000, description="How long the answer took, 0 to 3,600,000 ms."
    )

    @model_validator(mode="after")
    def _rating_and_correctness_agree(self) -> Answer:
        if self.rating is None and self.is_correct is None:
            raise ValueError("give is_correct or rating (or both)")
        given_both = self.rating is not None and self.is_correct is not None
        if given_both and scheduling.is_correct(self.rating_number) != self.is_correct:
            raise ValueError(
                f"rating {self.rating!r} disagrees with is_correct {self.is_correct}: "
                "again is the only incorrect rating"
            )
        return self

    @property
    def rating_number(self) -> int:
        """The rating as fsrs numbers it: given, or good/again from is_correct."""
        if self.rating is None:
            assert self.is_correct is not None
            return scheduling.rating_of(self.is_correct)
        if isinstance(self.rating, str):
            return scheduling.RATINGS[self.rating]
        return self.rating


class Card(BaseModel):
    """A learner's FSRS card for a word."""

    state: Literal["learning", "review", "relearning"]
    due: AwareDatetime
    stability: float = Field(description="Days until the chance of recall falls to 90 %.")
    difficulty: float = Field(description="1 (easy) to 10 (hard).")
    retrievability: float = Field(description="The chance of recall now, 0 to 1.")
    reps: int = Field(description="Reviews of the word.")
    lapses: int = Field(description="Times the word was forgotten once learned.")
    last_review_at: AwareDatetime


class WordCard(Card):
    """The card of one word a batch reviewed, after the batch."""

    word_id: int


def current_scheduler() -> fsrs.Scheduler:
    """The scheduler for this app's LANG_PORTAL_DESIRED_RETENTION."""
    return scheduling.scheduler(current_app.config["DESIRED_RETENTION"])


def card_body(card: scheduling.Card | None, now: datetime) -> dict[str, Any] | None:
    """A card as the API shows it at ``now``; None for a word never reviewed."""
    return None if card is None else scheduling.public(current_scheduler(), card, now)
