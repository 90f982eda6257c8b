"""Spaced repetition: a learner's card for a word, as FSRS schedules it.

The scheduling itself is the ``fsrs`` package's (py-fsrs, from the
open-spaced-repetition project); this module only turns review logs into cards
and cards into what the API shows. It knows nothing of the database or of HTTP.

A card is a pure function of its reviews in ``(reviewed_at, id)`` order:
:func:`apply` continues a card with reviews that come after its last one, and
:func:`replay` rebuilds it from the whole log, with the same result. fsrs's own
fuzzing draws from the process-wide ``random`` and would make two replays
disagree, so it is off: the same reviews always give the same due time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import fsrs

# Ratings as the API spells them, and as stored (fsrs's numbers).
RATINGS = {"again": 1, "hard": 2, "good": 3, "easy": 4}
RATING_NAMES = {number: name for name, number in RATINGS.items()}
AGAIN, GOOD = RATINGS["again"], RATINGS["good"]
# fsrs's states, as stored (its numbers) and as the API spells them.
LEARNING, REVIEW, RELEARNING = (state.value for state in fsrs.State)
STATE_NAMES = {state.value: state.name.lower() for state in fsrs.State}
# A card is mature once FSRS expects it to be remembered for three weeks (Anki's line).
MATURE_STABILITY_DAYS = 21.0


def rating_of(correct: bool) -> int:
    """The rating an activity that only knows right and wrong gives: good or again."""
    return GOOD if correct else AGAIN


def is_correct(rating: int) -> bool:
    """Every rating but again is a correct answer."""
    return rating != AGAIN


@dataclass(frozen=True, slots=True)
class LoggedReview:
    """One review as the log holds it: its id, when it was answered, and its rating."""

    id: int
    reviewed_at: datetime
    rating: int

    @property
    def order(self) -> tuple[datetime, int]:
        """The key that puts a word's reviews in the order the card takes them."""
        return (self.reviewed_at, self.id)


@dataclass(frozen=True, slots=True)
class Card:
    """A learner's card for one word, as stored in its ``word_progress`` row.

    ``reps`` counts every review and ``lapses`` the again answers given in the review
    state; fsrs keeps neither. ``last_review_id`` breaks ties between reviews answered
    at the same instant.
    """

    state: int
    step: int | None
    stability: float
    difficulty: float
    due: datetime
    last_review_at: datetime
    last_review_id: int
    first_reviewed_at: datetime
    reps: int
    lapses: int

    @property
    def order(self) -> tuple[datetime, int]:
        """The order key of the last review the card took."""
        return (self.last_review_at, self.last_review_id)


CARD_FIELDS = tuple(Card.__dataclass_fields__)
CARD_TIMES = frozenset({"due", "last_review_at", "first_reviewed_at"})  # the timestamps


@lru_cache(maxsize=8)
def scheduler(desired_retention: float) -> fsrs.Scheduler:
    """The scheduler for a desired retention: fsrs's defaults, without fuzz (see above)."""
    return fsrs.Scheduler(desired_retention=desired_retention, enable_fuzzing=False)


# fsrs's enums by their numbers, looked up rather than constructed on the hot path.
_FSRS_STATES = {state.value: state for state in fsrs.State}
_FSRS_RATINGS = {rating.value: rating for rating in fsrs.Rating}


def _utc(moment: datetime) -> datetime:
    """fsrs insists on the ``timezone.utc`` object itself, not any zero offset."""
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def _to_fsrs(card: Card, card_id: int) -> fsrs.Card:
    return fsrs.Card(
        card_id=card_id,
        state=_FSRS_STATES[card.state],
        step=card.step,
        stability=card.stability,
        difficulty=card.difficulty,
        due=_utc(card.due),
        last_review=_utc(card.last_review_at),
    )


def _new_fsrs_card(card_id: int, first_review_at: datetime) -> fsrs.Card:
    # A due time given, so that fsrs neither reads the clock nor waits for a unique id.
    return fsrs.Card(card_id=card_id, due=_utc(first_review_at))


@dataclass(frozen=True, slots=True)
class Applied:
    """The card after some reviews, and the state it was in before each of them."""

    card: Card
    states_before: list[int]


def apply(schedule: fsrs.Scheduler, card: Card | None, reviews: Sequence[LoggedReview]) -> Applied:
    """Continue ``card`` (None: a word never reviewed) with ``reviews``, taken in
    ``(reviewed_at, id)`` order; every one of them must come after the card's last.

    ``states_before[i]`` is the card's state when the i-th review (in that order) was
    answered (a new card is learning).
    """
    ordered = sorted(reviews, key=lambda review: review.order)
    if not ordered:
        raise ValueError("apply needs at least one review")
    if card is not None and ordered[0].order <= card.order:
        raise ValueError("these reviews do not all come after the card's last: replay")
    first = ordered[0]
    current = _new_fsrs_card(0, first.reviewed_at) if card is None else _to_fsrs(card, 0)
    reps = card.reps if card else 0
    lapses = card.lapses if card else 0
    states_before: list[int] = []
    for review in ordered:
        before = current.state.value
        states_before.append(before)
        if before == REVIEW and review.rating == AGAIN:
            lapses += 1
        rating = _FSRS_RATINGS[review.rating]
        current, _ = schedule.review_card(current, rating, _utc(review.reviewed_at))
        reps += 1
    last = ordered[-1]
    assert current.stability is not None and current.difficulty is not None
    return Applied(
        Card(
            state=current.state.value,
            step=current.step,
            stability=current.stability,
            difficulty=current.difficulty,
            due=current.due,
            last_review_at=last.reviewed_at,
            last_review_id=last.id,
            first_reviewed_at=card.first_reviewed_at if card else first.reviewed_at,
            reps=reps,
            lapses=lapses,
        ),
        states_before,
    )


def replay(schedule: fsrs.Scheduler, log: Sequence[LoggedReview]) -> Applied:
    """The card that a word's whole review log gives, rebuilt from nothing."""
    return apply(schedule, None, log)


def needs_replay(card: Card | None, reviews: Iterable[LoggedReview]) -> bool:
    """True when a review comes before the card's last: then only a replay is right."""
    return card is not None and min(review.order for review in reviews) < card.order


def retrievability(schedule: fsrs.Scheduler, card: Card, now: datetime) -> float:
    """The chance, 0 to 1, that the learner recalls the word at ``now``."""
    return schedule.get_card_retrievability(_to_fsrs(card, 0), _utc(now))


def intervals(schedule: fsrs.Scheduler, card: Card | None, now: datetime) -> dict[str, datetime]:
    """The due time each rating would give if answered at ``now``, by rating name."""
    current = _new_fsrs_card(0, now) if card is None else _to_fsrs(card, 0)
    moment = _utc(now)
    return {
        name: schedule.review_card(current, _FSRS_RATINGS[number], moment)[0].due
        for name, number in RATINGS.items()
    }


def public(schedule: fsrs.Scheduler, card: Card, now: datetime) -> dict[str, Any]:
    """The card as the API shows it."""
    return {
        "state": STATE_NAMES[card.state],
        "due": card.due,
        "stability": card.stability,
        "difficulty": card.difficulty,
        "retrievability": retrievability(schedule, card, now),
        "reps": card.reps,
        "lapses": card.lapses,
        "last_review_at": card.last_review_at,
    }


def from_row(row: Any) -> Card | None:
    """The card of a ``word_progress`` row (or any row with its columns), None if it
    has none."""
    mapping = row._mapping if hasattr(row, "_mapping") else row
    if mapping["state"] is None:
        return None
    return Card(**{name: mapping[name] for name in CARD_FIELDS})


def to_row(card: Card) -> dict[str, Any]:
    """The ``word_progress`` columns that hold ``card``."""
    return {name: getattr(card, name) for name in CARD_FIELDS}
