"""Study sessions: start one, read them back, record reviews, reset the history."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import Response, after_this_request, current_app, g
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from lang_portal import queries, scheduling
from lang_portal.api.cards import (
    Answer,
    Card,
    RatingName,
    WordCard,
    answer_schema,
    card_body,
    current_scheduler,
)
from lang_portal.api.lookup import found
from lang_portal.api.pagination import CursorQuery, PageQuery, cursor, page_body
from lang_portal.api.routing import MAX_ID, Reply, routes
from lang_portal.api.words import WordItem
from lang_portal.identity import LAUNCH_SESSION

log = logging.getLogger("lang_portal.study_sessions")

WRITE_ERRORS = (400, 401, 409, 413, 415, 422, 429)


class NewStudySession(BaseModel):
    """Start a study session. Both ids are strict JSON integers; extra fields are ignored."""

    model_config = ConfigDict(
        strict=True, json_schema_extra={"examples": [{"group_id": 1, "study_activity_id": 1}]}
    )
    group_id: int = Field(ge=1, le=MAX_ID, description="The word group studied.")
    study_activity_id: int = Field(ge=1, le=MAX_ID, description="The activity launched.")


class CreatedStudySession(BaseModel):
    """The session just created. ``session_id`` repeats ``id`` for older clients."""

    id: int
    session_id: int
    group_id: int
    study_activity_id: int
    created_at: AwareDatetime


class StudySessionItem(BaseModel):
    """A session as lists show it. ``end_time`` is its last review, or its start."""

    id: int
    group_id: int
    group_name: str
    activity_id: int
    activity_name: str
    start_time: AwareDatetime
    end_time: AwareDatetime
    review_items_count: int


class StudySessionPage(BaseModel):
    """A page of sessions, newest first."""

    items: list[StudySessionItem]
    total: int
    page: int | None = Field(description="The page number; null for a page asked by `after`.")
    per_page: int
    total_pages: int
    next_after: str | None = Field(
        description="Read on after this page with `?after=` and this value, a page that "
        "costs what the first does however deep it is; null on the last page."
    )


class SessionPageQuery(CursorQuery, PageQuery):
    """``?page&per_page``, or ``?after&per_page``: the page after a ``next_after`` cursor."""


def session_page(
    connection: Connection,
    learner_id: int,
    query: SessionPageQuery,
    total: int,
    study_activity_id: int | None = None,
) -> dict[str, Any]:
    """The learner's sessions (of one activity, if given), newest first, on the page the
    query asks for by number or by ``after``, as a :class:`StudySessionPage`."""
    after = query.after_key
    if after is None:
        if study_activity_id is None:
            items = queries.study_sessions.page(
                connection, learner_id, query.offset, query.per_page, total
            )
        else:
            items = queries.study_sessions.activity_page(
                connection, learner_id, study_activity_id, query.offset, query.per_page, total
            )
        more = query.offset + len(items) < total
    else:  # one more than the page: whether a page follows
        items = queries.study_sessions.page_after(
            connection, learner_id, after, query.per_page + 1, study_activity_id
        )
        more = len(items) > query.per_page
        items = items[: query.per_page]
    return {
        **page_body(items, total, query),
        "page": None if after else query.page,
        "next_after": cursor(items[-1]["start_time"], items[-1]["id"]) if more and items else None,
    }


class SessionWord(WordItem):
    """A word reviewed in a session; its counts are this session's, not the word's totals."""


class StudySessionDetail(BaseModel):
    """One session and a page of the words reviewed in it."""

    session: StudySessionItem
    words: list[SessionWord]
    total: int
    page: int
    per_page: int
    total_pages: int


class Review(Answer):
    """One review: the word, and how the learner answered it."""

    word_id: int = Field(ge=1, le=MAX_ID)

    def to_new_review(self) -> queries.reviews.NewReview:
        """The review as the query layer records it."""
        return _new_review(self.word_id, self)


class ReviewBatch(BaseModel):
    """1 to 500 reviews, recorded all together or not at all."""

    model_config = ConfigDict(
        strict=True,
        json_schema_extra={"examples": [{"reviews": [{"word_id": 1, "is_correct": True}]}]},
    )
    reviews: list[Review] = Field(min_length=1, max_length=500)


class ReviewsCreated(BaseModel):
    """How many reviews a batch recorded, and each reviewed word's card after it."""

    session_id: int
    reviews_created: int
    cards: list[WordCard]


class SingleReview(Answer):
    """The answer for one word."""

    model_config = ConfigDict(
        strict=True,
        json_schema_extra=answer_schema({"correct": True}, {"rating": "hard"}),
    )


class ReviewItem(BaseModel):
    """A recorded review, and the word's card after it."""

    id: int
    word_id: int
    study_session_id: int
    correct: bool
    rating: RatingName
    reviewed_at: AwareDatetime
    duration_ms: int | None
    created_at: AwareDatetime
    card: Card


class ResetDone(BaseModel):
    """Confirmation that the study history is empty."""

    message: str


def _new_review(word_id: int, answer: Answer) -> queries.reviews.NewReview:
    return queries.reviews.NewReview(
        word_id, answer.rating_number, answer.reviewed_at, answer.duration_ms
    )


def _review_body(review: dict[str, Any]) -> dict[str, Any]:
    return {**review, "rating": scheduling.RATING_NAMES[review["rating"]]}


def _log_when_created(created: dict[str, Any]) -> None:
    request_id = g.get("request_id")

    @after_this_request
    def log_created(response: Response) -> Response:
        if response.status_code == 201:  # only once the transaction has committed
            log.info(
                "study session %s created: group %s, activity %s, request_id=%s",
                created["id"],
                created["group_id"],
                created["study_activity_id"],
                request_id,
            )
        return response


@routes.post(
    "/study-sessions",
    body=NewStudySession,
    response=CreatedStudySession,
    status=201,
    legacy=True,
    idempotent=True,
    scoped=True,
    errors=WRITE_ERRORS,
)
def create_study_session(connection: Connection, learner_id: int, body: NewStudySession) -> Reply:
    """Start a study session for a word group and a study activity.

    Called by a study activity, or the portal, when a learner launches an activity.
    The session is committed before the 201 is sent.
    """
    created = queries.study_sessions.create(
        connection, learner_id, body.group_id, body.study_activity_id
    )
    _log_when_created(created)
    return Reply(created, 201, location=f"/api/study-sessions/{created['id']}")


@routes.get(
    "/study-sessions",
    query=SessionPageQuery,
    response=StudySessionPage,
    scoped=True,
    errors=(400,),
)
def list_study_sessions(
    connection: Connection, learner_id: int, query: SessionPageQuery
) -> dict[str, Any]:
    """List the learner's study sessions, newest first, by page number or, however deep,
    after the `next_after` cursor of the page before."""
    total = queries.study_sessions.count(connection, learner_id)
    return session_page(connection, learner_id, query, total)


@routes.get(
    "/study-sessions/<id:study_session_id>",
    query=PageQuery,
    response=StudySessionDetail,
    scoped=True,
    launch=LAUNCH_SESSION,
    errors=(400, 404),
)
def get_study_session(
    connection: Connection, learner_id: int, study_session_id: int, query: PageQuery
) -> dict[str, Any]:
    """Show one of the learner's study sessions and a page of the words reviewed in it.

    Another learner's session is a 404, as if it did not exist.
    """
    study_session = found(
        queries.study_sessions.get(connection, learner_id, study_session_id), "study session"
    )
    reviewed, total = queries.study_sessions.reviewed_words(
        connection, learner_id, study_session_id, query.offset, query.per_page
    )
    return {"session": study_session, **page_body(reviewed, total, query, name="words")}


def _queues_statements() -> bool:
    """Whether reviews queue their xAPI statements for the LRS (lang_portal.xapi_sender):
    only with LANG_PORTAL_XAPI_ENDPOINT set, so that no outbox grows with nobody to
    send it."""
    return bool(current_app.config["XAPI_ENDPOINT"])


@routes.post(
    "/study-sessions/<id:study_session_id>/review",
    body=ReviewBatch,
    response=ReviewsCreated,
    status=201,
    legacy=True,
    idempotent=True,
    scoped=True,
    launch=LAUNCH_SESSION,
    errors=(*WRITE_ERRORS, 404),
)
def review_words(
    connection: Connection, learner_id: int, study_session_id: int, body: ReviewBatch
) -> Reply:
    """Record a batch of reviews in one of the learner's study sessions, all or nothing,
    and answer with the card of each word reviewed."""
    reviews = [review.to_new_review() for review in body.reviews]
    schedule = current_scheduler()
    recorded = queries.reviews.add_reviews(
        connection,
        learner_id,
        study_session_id,
        reviews,
        schedule,
        queue_statements=_queues_statements(),
    )
    now = datetime.now(UTC)
    cards = [
        {"word_id": word_id, **scheduling.public(schedule, card, now)}
        for word_id, card in recorded.cards.items()
    ]
    body_out = {
        "session_id": study_session_id,
        "reviews_created": len(recorded.reviews),
        "cards": cards,
    }
    return Reply(body_out, 201)


@routes.post(
    "/study-sessions/<id:study_session_id>/words/<id:word_id>/review",
    body=SingleReview,
    response=ReviewItem,
    status=201,
    idempotent=True,
    scoped=True,
    launch=LAUNCH_SESSION,
    errors=(*WRITE_ERRORS, 404),
)
def review_word(
    connection: Connection,
    learner_id: int,
    study_session_id: int,
    word_id: int,
    body: SingleReview,
) -> Reply:
    """Record one review of one word in one of the learner's study sessions.

    An unknown word is a 404 here, not a 400 as in a batch: its id is in the URL.
    """
    recorded = queries.reviews.add_reviews(
        connection,
        learner_id,
        study_session_id,
        [_new_review(word_id, body)],
        current_scheduler(),
        queue_statements=_queues_statements(),
    )
    (review,) = recorded.reviews
    card = card_body(recorded.cards[word_id], datetime.now(UTC))
    return Reply({**_review_body(review), "card": card}, 201)


@routes.post(
    "/study-sessions/reset",
    response=ResetDone,
    scoped=True,
    errors=(400, 401, 413, 415, 429),
)
def reset_study_history(connection: Connection, learner_id: int) -> dict[str, str]:
    """Delete the learner's study sessions and reviews; words, groups and activities stay,
    and so does every other learner's history.

    The body is ignored, and may be empty (the lang-portal frontend sends an empty one),
    but like every write it must be sent as ``Content-Type: application/json``: a page
    on another site cannot send that without a CORS preflight, so it cannot reset.
    """
    queries.study_sessions.reset(connection, learner_id)
    return {"message": "study history reset"}
