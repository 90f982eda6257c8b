"""xAPI statements: a learner's reviews as an xAPI 1.0.3 StatementResult.

``GET /api/xapi/statements`` lists the statements of the learner's reviews (a teacher
may name a learner with ``?learner_id=``) in ``(reviewed_at, id)`` order, a page at a
time; the ``more`` link of each page reads on after its last statement. The statements
are built by :mod:`lang_portal.xapi`, the same ones the sender posts to an LRS.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode, urlsplit
from uuid import UUID

from flask import current_app, request
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)
from sqlalchemy import Connection, RowMapping

from lang_portal import links, queries, xapi
from lang_portal.api.cards import rfc_3339
from lang_portal.api.pagination import CursorQuery, cursor
from lang_portal.api.routing import Reply, routes

MAX_STATEMENTS = 500
DEFAULT_STATEMENTS = 100
STATEMENTS_PATH = "/api/xapi/statements"
LanguageMap = dict[str, str]


def _left_out_when_none(value: Any) -> bool:
    return value is None


class StatementsQuery(CursorQuery):
    """``?since&limit``, and ``?after``, the cursor a page's ``more`` link carries."""

    since: Annotated[AwareDatetime, BeforeValidator(rfc_3339)] | None = Field(
        None,
        description="Only statements whose timestamp (when the review was answered) is "
        "after this time, exclusive: RFC 3339 with an offset, such as "
        "`2026-01-31T09:00:00Z`. Default: all.",
    )
    limit: int = Field(
        DEFAULT_STATEMENTS,
        ge=0,
        le=MAX_STATEMENTS,
        description=f"Statements per page, 1 to {MAX_STATEMENTS}; 0, as in xAPI, asks for "
        f"the most the server allows ({MAX_STATEMENTS}).",
    )

    @property
    def page_size(self) -> int:
        """How many statements a page holds: ``limit``, or the most for 0."""
        return self.limit or MAX_STATEMENTS


class XapiAccount(BaseModel):
    """The learner's account on this portal: the one identifier of the actor."""

    homePage: str = Field(description="The portal's public URL.")
    name: str = Field(description="`learner-<id>`; the learner's name is not disclosed.")


class XapiAgent(BaseModel):
    """The learner who answered."""

    objectType: Literal["Agent"]
    account: XapiAccount


class XapiVerb(BaseModel):
    """Always ADL's ``answered``."""

    id: str
    display: LanguageMap


class XapiActivityDefinition(BaseModel):
    """An activity's name (and description), by RFC 5646 language tag."""

    name: LanguageMap
    description: LanguageMap | None = Field(None, exclude_if=_left_out_when_none)


class XapiActivity(BaseModel):
    """A word (the object), or a group or study activity (context)."""

    objectType: Literal["Activity"]
    id: str = Field(description="An absolute IRI on the portal's public URL.")
    definition: XapiActivityDefinition


class XapiResult(BaseModel):
    """How the learner answered."""

    success: bool = Field(description="Was the answer right (every rating but again)?")
    response: str = Field(description="The rating: again, hard, good or easy.")
    duration: str | None = Field(
        None,
        exclude_if=_left_out_when_none,
        description="How long the answer took, an ISO 8601 duration; only when known.",
    )


class XapiContextActivities(BaseModel):
    """The group and the study activity of the review's study session."""

    grouping: list[XapiActivity]


class XapiContext(BaseModel):
    """The study session the review was made in."""

    registration: UUID = Field(description="The study session, as a UUID.")
    contextActivities: XapiContextActivities
    platform: str
    language: str


class XapiStatement(BaseModel):
    """One review as an xAPI 1.0.3 statement (docs/xapi.md)."""

    id: UUID = Field(description="Derived from the review: the same every time.")
    actor: XapiAgent
    verb: XapiVerb
    object: XapiActivity
    result: XapiResult
    context: XapiContext
    timestamp: str = Field(
        json_schema_extra={"format": "date-time"},
        description="When the learner answered, ISO 8601 in UTC.",
    )


class XapiStatementResult(BaseModel):
    """A page of statements, as an xAPI StatementResult."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"statements": [], "more": ""}]})
    statements: list[XapiStatement]
    more: str = Field(
        description="The path (and query) of the next page, relative to the server; an "
        "empty string on the last page."
    )


def more_link(query: StatementsQuery, last: RowMapping) -> str:
    """The relative IRL of the page after the one that ended with ``last``.

    ``since`` is left out: the cursor is later than it. A teacher's ``?learner_id`` is
    kept, so the link reads on in the same learner's statements.
    """
    parameters: dict[str, Any] = {
        "after": cursor(last["reviewed_at"], last["id"]),
        "limit": query.limit,
    }
    if "learner_id" in request.args:
        parameters["learner_id"] = request.args["learner_id"]
    prefix = urlsplit(links.base_url()).path.rstrip("/")
    return f"{prefix}{STATEMENTS_PATH}?{urlencode(parameters)}"


@routes.get(
    "/xapi/statements",
    query=StatementsQuery,
    response=XapiStatementResult,
    scoped=True,
    errors=(400,),
)
def list_xapi_statements(connection: Connection, learner_id: int, query: StatementsQuery) -> Reply:
    """List the learner's reviews as xAPI 1.0.3 statements, oldest first, a page at a time.

    Follow `more` to the end to read every statement exactly once, however many
    reviews share a time. Sent with `X-Experience-API-Version: 1.0.3`.
    """
    size = query.page_size
    records = queries.statements.learner_records(
        connection, learner_id, size + 1, query.since, query.after_key
    )
    page = records[:size]
    public_url = xapi.home_page(current_app.config)
    body = {
        "statements": [xapi.statement(record, public_url) for record in page],
        "more": more_link(query, page[-1]) if len(records) > size else "",
    }
    return Reply(body, headers={"X-Experience-API-Version": xapi.XAPI_VERSION})
