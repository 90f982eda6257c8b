"""A learner's data export: their whole history as one JSON document, streamed.

``GET /api/me/export`` sends the learner's study sessions, reviews and cards as a
:class:`LearnerExport`, written while it is read, one batch of rows at a time
(:mod:`lang_portal.queries.learner_export`): a learner with 100k reviews never has
100k rows in memory. Each batch is serialised through the same models that document
the body, so the stream and the OpenAPI schema cannot drift apart.

The registry's read snapshot ends when the view returns, before the body is sent, so
the document is read in a snapshot of its own, opened by the view: every check (the
caller, ``?learner_id=``, the learner's existence) and the opening of that snapshot
happen before the first byte, and a failure there is an ordinary problem response.
Once the body has started, a failure can only cut it short: the client then holds
a document that does not parse, never one that looks complete.

The body needs nothing of the request: the engine, the scheduler and the moment are
taken before it starts. So it is sent without the request's context, which
``flask.stream_with_context`` would keep pushed for as long as a half-read response
lives (until a server, or a test client, closes it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import fsrs
from flask import Response
from pydantic import AwareDatetime, BaseModel, Field, TypeAdapter
from sqlalchemy import Connection, Engine

from lang_portal import db, queries, scheduling
from lang_portal.api.cards import RatingName, WordCard, current_scheduler
from lang_portal.api.learners import Role
from lang_portal.api.lookup import found
from lang_portal.api.routing import routes
from lang_portal.api.study_sessions import StudySessionItem


class ExportedLearner(BaseModel):
    """Whose history the document holds."""

    id: int
    name: str
    role: Role
    created_at: AwareDatetime


class ExportedStudySession(StudySessionItem):
    """A study session, with its counts of right and wrong answers."""

    correct_count: int
    wrong_count: int


class ExportedReview(BaseModel):
    """A review as it was recorded: the word, the session, and the answer."""

    id: int
    word_id: int
    study_session_id: int
    correct: bool
    rating: RatingName
    reviewed_at: AwareDatetime = Field(description="When the learner answered.")
    duration_ms: int | None = Field(description="How long the answer took; null: not told.")
    created_at: AwareDatetime = Field(description="When the server recorded it.")


class ExportedCard(WordCard):
    """The learner's FSRS card of one word, with its retrievability at ``exported_at``."""


class LearnerExport(BaseModel):
    """A learner's whole history, as of one moment: every study session (oldest first),
    every review (by word, each word's in the order its card took them: when answered,
    then id) and every card (by word id)."""

    learner: ExportedLearner
    exported_at: AwareDatetime = Field(description="The moment the document shows.")
    study_sessions: list[ExportedStudySession]
    reviews: list[ExportedReview]
    cards: list[ExportedCard]


# A download, never kept by a cache: it is one learner's whole history.
EXPORT_HEADERS = {"Cache-Control": "no-store"}

# Built once: building an adapter costs more than serialising a batch.
_LEARNER = TypeAdapter(ExportedLearner)
_MOMENT = TypeAdapter(AwareDatetime)
_SESSIONS = TypeAdapter(list[ExportedStudySession])
_REVIEWS = TypeAdapter(list[ExportedReview])
_CARDS = TypeAdapter(list[ExportedCard])


def export_filename(learner_id: int) -> str:
    """The name a browser saves the document under."""
    return f"lang-portal-export-learner-{learner_id}.json"


@routes.get("/me/export", response=LearnerExport, scoped=True)
def export_learner_history(connection: Connection, learner_id: int) -> Response:
    """Download the learner's whole history (sessions, reviews, cards) as one JSON document.

    The document is streamed as it is read, in one snapshot of the database, and saved
    by a browser as ``lang-portal-export-learner-<id>.json``. Reviews come by word, each
    word's in the order its card took them, so any card can be replayed from them.
    """
    document = _document(db.engine(), learner_id, current_scheduler(), datetime.now(UTC))
    next(document)  # the snapshot opened and the learner found: still before any byte
    # Closing the response closes the generator, and so ends the snapshot, also when its
    # body was never read (a HEAD request, a client gone first).
    return Response(
        document,
        mimetype="application/json",
        headers={
            **EXPORT_HEADERS,
            "Content-Disposition": f'attachment; filename="{export_filename(learner_id)}"',
        },
    )


def _document(
    engine: Engine, learner_id: int, schedule: fsrs.Scheduler, exported_at: datetime
) -> Iterator[bytes]:
    """The document's bytes, a :class:`LearnerExport`, read in one snapshot.

    Its first item is empty: taking it opens the snapshot and reads the learner
    (ApiError 404 if there is none), so the caller can do that before responding.
    """
    with db.reading(engine) as connection:
        learner = found(queries.learners.profile(connection, learner_id), "learner")
        yield b""
        yield b'{"learner":' + _LEARNER.dump_json(_LEARNER.validate_python(learner))
        yield b',"exported_at":' + _MOMENT.dump_json(exported_at)
        yield b',"study_sessions":'
        yield from _array(
            queries.learner_export.session_batches(connection, learner_id),
            _SESSIONS,
            lambda row: row,
        )
        yield b',"reviews":'
        yield from _array(
            queries.learner_export.review_batches(connection, learner_id),
            _REVIEWS,
            _review_body,
        )
        yield b',"cards":'
        yield from _array(
            queries.learner_export.card_batches(connection, learner_id),
            _CARDS,
            lambda row: _card_body(row, schedule, exported_at),
        )
        yield b"}"


def _array(
    batches: Iterable[list[dict[str, Any]]],
    adapter: TypeAdapter[Any],
    shape: Callable[[dict[str, Any]], dict[str, Any]],
) -> Iterator[bytes]:
    """A JSON array written one batch at a time, each row ``shape``d and serialised
    through the adapter of a list of the item model, as routing serialises a response."""
    yield b"["
    first = True
    for batch in batches:
        if not batch:
            continue
        if not first:
            yield b","
        first = False
        # The batch's items without the brackets of their list.
        items = adapter.dump_json(adapter.validate_python([shape(row) for row in batch]))[1:-1]
        del batch  # let go of the rows, and once sent, of their JSON: the next batch
        yield items  # is read with neither of them held
        del items
    yield b"]"


def _review_body(review: dict[str, Any]) -> dict[str, Any]:
    return {**review, "rating": scheduling.RATING_NAMES[review["rating"]]}


def _card_body(row: dict[str, Any], schedule: fsrs.Scheduler, now: datetime) -> dict[str, Any]:
    return {"word_id": row["word_id"], **scheduling.public(schedule, row["card"], now)}
