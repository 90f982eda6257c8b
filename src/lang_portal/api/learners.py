"""Learners: who is asking (``/me``), and the teacher's management of learners and tokens.

A token is shown once, in the answer that creates it, and stored only as a digest.
These writes take no Idempotency-Key: a stored response would keep the token.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from lang_portal import identity, queries
from lang_portal.api.lookup import found
from lang_portal.api.pagination import PageQuery, page_body
from lang_portal.api.routing import Reply, routes
from lang_portal.names import Name

# An answer that carries a token is never kept by any cache.
SECRET_HEADERS = {"Cache-Control": "no-store"}

Role = Literal[queries.learners.ROLES]  # type: ignore[valid-type]


class Me(BaseModel):
    """The caller."""

    id: int
    name: str
    role: Role
    created_at: AwareDatetime


class LearnerItem(BaseModel):
    """A learner and their progress in figures."""

    id: int
    name: str
    role: Role
    created_at: AwareDatetime
    last_active_at: AwareDatetime | None = Field(description="Their last write; null: none yet.")
    total_sessions: int
    words_studied: int = Field(description="Words with at least one review.")
    mastered_words: int = Field(description="Words with >= 5 reviews, >= 80 % of them correct.")
    due_now: int = Field(description="Cards due for review now.")
    current_streak: int = Field(description="Consecutive UTC days with a session, up to today.")


class LearnerPage(BaseModel):
    """A page of learners, by id."""

    items: list[LearnerItem]
    total: int
    page: int
    per_page: int
    total_pages: int


class NewLearner(BaseModel):
    """A learner to add. Names are unique regardless of case."""

    model_config = ConfigDict(
        strict=True, json_schema_extra={"examples": [{"name": "Aiko", "role": "learner"}]}
    )
    name: Name = Field(description="1 to 100 characters after trimming.")
    role: Role = queries.learners.LEARNER


class CreatedLearner(LearnerItem):
    """The learner just added, with their first token: shown this once, never again."""

    token: str


class NewToken(BaseModel):
    """A learner's new token: shown this once. Every earlier token of theirs is revoked."""

    token: str


@routes.get("/me", response=Me)
def get_me(connection: Connection) -> dict[str, Any]:
    """Show who the caller is: the default learner in the open mode."""
    caller = identity.current(write=False)
    return found(queries.learners.profile(connection, caller.learner_id), "learner")


@routes.get("/learners", query=PageQuery, response=LearnerPage, teacher_only=True)
def list_learners(connection: Connection, query: PageQuery) -> dict[str, Any]:
    """List the learners, by id, with their progress."""
    items = queries.learners.page(connection, query.offset, query.per_page)
    return page_body(items, queries.learners.count(connection), query)


@routes.post(
    "/learners",
    body=NewLearner,
    response=CreatedLearner,
    status=201,
    teacher_only=True,
    errors=(400, 409),
)
def create_learner(connection: Connection, body: NewLearner) -> Reply:
    """Add a learner, and show their first token once.

    A name already taken, in any case, is a 409.
    """
    created = queries.learners.create(connection, body.name, body.role)
    token = queries.learners.issue_token(connection, created["id"])
    return Reply(
        {**created, "token": token},
        201,
        location=f"/api/learners/{created['id']}",
        headers=SECRET_HEADERS,
    )


@routes.get("/learners/<id:learner_id>", response=LearnerItem, errors=(403,))
def get_learner(connection: Connection, learner_id: int) -> dict[str, Any]:
    """Show one learner and their progress: a teacher any, a learner only themself."""
    identity.require_self_or_teacher(identity.current(write=False), learner_id)
    return found(queries.learners.get(connection, learner_id), "learner")


@routes.post("/learners/<id:learner_id>/token", response=NewToken, status=201, errors=(403,))
def rotate_learner_token(connection: Connection, learner_id: int) -> Reply:
    """Give a learner a new token, shown once; every earlier token stops working at once.

    A teacher may do this for anyone, a learner only for themself.
    """
    identity.require_self_or_teacher(identity.current(write=True), learner_id)
    token = queries.learners.issue_token(connection, learner_id)
    return Reply({"token": token}, 201, headers=SECRET_HEADERS)
