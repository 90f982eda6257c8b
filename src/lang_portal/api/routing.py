"""The route registry: each API view is declared once and answers on every alias.

A view is declared with ``@routes.get(...)`` or ``@routes.post(...)`` along with its
query, body and response models. :meth:`RouteRegistry.register` then adds it to Flask
under ``/api``, ``/api/v1``, the underscore spellings and (for the routes the
lang-portal React frontend calls) the legacy path without ``/api``, all as one
endpoint. The same declarations produce the OpenAPI document.

Around each view the registry does, in order (tests/test_request_order.py holds it):

1. the caller's identity (401, see :mod:`lang_portal.identity`; for a write with
   the portal's cookie, its CSRF token, 400), for a launch token the route's
   ``launch`` scope (403), and for a teacher-only route the role (403);
2. writes only: the write rate limit, after the identity, so that a refused request
   never spends a valid learner's budget;
3. writes only: the body, read once: ``Content-Type: application/json`` (415),
   the size limit (413), strict JSON no deeper than 64 levels (400);
4. writes only: the ``Idempotency-Key`` header (400 when malformed);
5. query and body validation against the route's models (400), and for a
   learner-scoped route whose history it is (``?learner_id=``: 400, 403);
6. one database transaction: a read snapshot, or for a write the idempotency
   claim, the caller's ``last_active_at`` (which also makes one learner's writes
   take turns), the view and the stored response together (a replay is none of
   these: it changes nothing);
7. the response's serialisation through its pydantic model.

A read takes steps 1, 5, 6 and 7 only.

Views therefore receive a connection and validated models, and return plain data. A
learner-scoped route (``scoped=True``) also receives ``learner_id``: whose history it
reads or writes. That is the one place the subject is decided; no view filters by
hand, and every learner-scoped query takes the id it is given.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from flask import Flask, Response, request
from pydantic import BaseModel, BeforeValidator, Field, TypeAdapter
from sqlalchemy import Connection
from werkzeug.routing import BaseConverter, ValidationError

from lang_portal import db, idempotency, identity, queries, security
from lang_portal.api import body as request_body
from lang_portal.errors import not_found
from lang_portal.identity import Identity
from lang_portal.schema import MAX_ID

_UNDERSCORED = {"study-sessions": "study_sessions", "study-activities": "study_activities"}


class IdConverter(BaseConverter):
    """``<id:name>``: a positive integer that fits a signed 64-bit column, else 404."""

    regex = r"[1-9][0-9]{0,18}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValidationError()
        return number

    def to_url(self, value: Any) -> str:
        return str(int(value))


def _digits_only(value: Any) -> Any:
    """An id in a query string is written in digits, as in a URL path: not ``1.0`` or ``+1``."""
    if isinstance(value, str) and not (value.isascii() and value.isdecimal()):
        raise ValueError("must be an integer")
    return value


class LearnerQuery(BaseModel):
    """``?learner_id=``, taken by every learner-scoped read (see ``identity.subject``).

    Validated only when given: without it, a request reads the caller's own history.
    """

    learner_id: Annotated[int, BeforeValidator(_digits_only)] = Field(
        ge=1,
        le=MAX_ID,
        description="Whose history to read: a teacher may name any learner; a learner only "
        "themself (another id is a 403). Default: the caller.",
    )


@dataclass
class Reply:
    """What a view returns when 200 with no extra headers is not enough."""

    body: Any
    status: int = 200
    location: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Route:
    """One declared operation, with everything needed to serve and document it.

    Every route has a response model: its body is serialised through it, and the
    OpenAPI document describes it. A view that builds its own ``Response`` (a file, or
    a document streamed as it is read) gets it sent unchanged; its route names the
    body's ``media_type``, and the model still documents the body's shape.
    """

    method: str
    rule: str
    view: Callable[..., Any]
    response: Any
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    status: int = 200
    legacy: bool = False
    idempotent: bool = False
    scoped: bool = False
    teacher_only: bool = False
    launch: str | None = None
    errors: tuple[int, ...] = ()
    media_type: str = "application/json"
    adapter: TypeAdapter[Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.adapter = TypeAdapter(self.response)

    @property
    def write(self) -> bool:
        return self.method != "GET"

    @property
    def endpoint(self) -> str:
        return self.view.__name__

    def paths(self) -> list[str]:
        """Every path this route answers on, the canonical ``/api`` one first."""
        underscored = self.rule
        for hyphen, underscore in _UNDERSCORED.items():
            underscored = underscored.replace(hyphen, underscore)
        spellings = list(dict.fromkeys((self.rule, underscored)))
        paths = [prefix + spelling for prefix in ("/api", "/api/v1") for spelling in spellings]
        if self.legacy:
            paths.append(underscored)
        return paths


class RouteRegistry:
    """Collects routes from the resource modules and registers them on an app."""

    def __init__(self) -> None:
        self.declared: list[Route] = []

    def get(self, rule: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare a read; the view gets ``connection`` and, if declared, ``query``."""
        return self._declare("GET", rule, options)

    def post(self, rule: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare a write; the view gets ``connection`` in a write transaction."""
        return self._declare("POST", rule, options)

    def _declare(
        self, method: str, rule: str, options: dict[str, Any]
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
            self.declared.append(Route(method, rule, view, **options))
            return view

        return decorator

    def register(self, app: Flask) -> None:
        """Add every route, on every one of its paths, to the app's URL map."""
        app.url_map.converters["id"] = IdConverter
        for route in self.declared:
            handler = _handler(route)
            for path in route.paths():
                app.add_url_rule(path, route.endpoint, handler, methods=[route.method])


def _handler(route: Route) -> Callable[..., Response]:
    """The Flask view for a route: a read or a write, each step in the documented order."""
    serve = _serve_write if route.write else _serve_read

    @functools.wraps(route.view)
    def handle(**view_args: Any) -> Response:
        return serve(route, view_args)

    return handle


def _serve_read(route: Route, view_args: dict[str, Any]) -> Response:
    """Know the caller, validate the query, then run the view on one read snapshot."""
    caller = _admit(route, view_args, write=False)
    arguments = _arguments(route, view_args, payload=None)
    requested = _requested_learner_id(route)
    with db.reading() as connection:
        if route.scoped:
            arguments["learner_id"] = _subject(connection, caller, requested)
        return _render(route, route.view(connection, **arguments))


def _serve_write(route: Route, view_args: dict[str, Any]) -> Response:
    """Know the writer, spend from their budget, read the body and its key, validate,
    then run one write transaction."""
    caller = _admit(route, view_args, write=True)
    security.check_write_limit()
    payload = request_body.json_payload()
    key = idempotency.key_from_request() if route.idempotent else None
    arguments = _arguments(route, view_args, payload)
    if route.scoped:
        requested = _requested_learner_id(route)
        arguments["learner_id"] = identity.subject(caller, requested, write=True)

    def write(connection: Connection) -> Any:
        queries.learners.touch(connection, caller.learner_id, datetime.now(UTC))
        return route.view(connection, **arguments)

    if key is None:
        with db.writing() as connection:
            result = write(connection)
        # Serialised once the write lock is released: SQLite writers take turns on it.
        return _render(route, result)
    with db.writing() as connection:
        # The key first: a retry of a request still running gets its 409 at once,
        # instead of waiting for the learner's row that the first request holds. The
        # response is stored with the work, so it is rendered inside the transaction.
        return idempotency.run_once(
            connection,
            caller.learner_id,
            key,
            idempotency.fingerprint(payload),
            lambda connection: _render(route, write(connection)),
        )


def _admit(route: Route, view_args: dict[str, Any], write: bool) -> Identity:
    """The caller (401 without a valid identity), a launch token only where the route
    admits it (403), and a teacher where the route needs one (403)."""
    caller = identity.current(write)
    identity.require_launch_scope(caller, route.launch, view_args)
    if route.teacher_only:
        identity.require_teacher(caller)
    return caller


def _subject(connection: Connection, caller: Identity, requested: int | None) -> int:
    """Whose history a read shows; a teacher's ``?learner_id=`` must name a learner (404)."""
    learner_id = identity.subject(caller, requested, write=False)
    if learner_id != caller.learner_id and queries.learners.profile(connection, learner_id) is None:
        raise not_found("learner")
    return learner_id


def _arguments(route: Route, view_args: dict[str, Any], payload: Any) -> dict[str, Any]:
    """The view's keyword arguments: its URL values and its validated query and body."""
    arguments = dict(view_args)
    if route.query is not None:
        arguments["query"] = request_body.validate(route.query, _query_values())
    if route.body is not None:
        arguments["body"] = request_body.validate(route.body, request_body.json_object(payload))
    return arguments


def _query_values() -> dict[str, Any]:
    """The query string as a query model reads it.

    A parameter given twice keeps both values, so a one-value field refuses it (400)
    instead of silently taking the first.
    """
    return {k: v[0] if len(v) == 1 else v for k, v in request.args.lists()}


def _requested_learner_id(route: Route) -> int | None:
    """A learner-scoped route's ``?learner_id=``, validated like any query parameter (400)."""
    query = _query_values()
    if not route.scoped or "learner_id" not in query:
        return None
    return request_body.validate(LearnerQuery, query).learner_id


def _render(route: Route, result: Any) -> Response:
    """The view's result as JSON shaped by the route's response model (or the view's own
    ``Response``, as it built it).

    Views return plain dicts. pydantic serialises a dict through a model only by
    inference (no field filtering, and several times slower), so the dict is first
    turned into model instances; that is what keeps the body to the model's fields.
    """
    if isinstance(result, Response):
        return result
    reply = result if isinstance(result, Reply) else Reply(result, route.status)
    payload = route.adapter.dump_json(route.adapter.validate_python(reply.body))
    response = Response(payload, status=reply.status, mimetype="application/json")
    if reply.location:
        response.headers["Location"] = reply.location
    response.headers.update(reply.headers)
    return response


# The one registry every resource module declares its routes on.
routes = RouteRegistry()
