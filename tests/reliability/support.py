"""Helpers shared by the reliability tests: the route walk, database snapshots, load.

The route walk reads Flask's URL map, so a route added tomorrow is fuzzed, token-
checked and header-checked by these tests without anyone listing it here.
"""

from __future__ import annotations

import functools
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from flask import Flask
from pydantic import BaseModel
from sqlalchemy import Engine, Integer, cast, func, select

from lang_portal import create_app, schema
from lang_portal.api.routing import Route, routes
from lang_portal.schema import metadata
from tests.reliability import error_bodies

# For checks settled before any query runs (URL converters, the token, CORS, the size
# limit, the JSON parser): the PostgreSQL leg would repeat them at the cost of a
# database per test.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
# Existing rows in the seeded database: group 1, activity 1, word 1. A study session
# is created by the tests that need one and passed in as ``study_session_id``.
SEEDED_IDS = {"group_id": 1, "study_activity_id": 1, "word_id": 1, "id": 1}
WORD_IDS = range(1, 264)
GROUP_IDS = range(1, 8)
ACTIVITY_IDS = range(1, 4)
BACKOFF = 0.05  # seconds a load client waits after an error or a refused connection


@dataclass(frozen=True)
class UrlRule:
    """One rule of the URL map: its pattern, endpoint and the methods it answers."""

    rule: str
    endpoint: str
    methods: frozenset[str]

    @property
    def arguments(self) -> list[tuple[str, str]]:
        """(converter, name) for each URL argument, in order."""
        return [(m["converter"] or "default", m["name"]) for m in _ARGUMENT.finditer(self.rule)]

    @property
    def write_method(self) -> str | None:
        """The write method this rule answers (POST, PUT, ...), or None for a read."""
        return next(iter(sorted(self.methods & WRITE_METHODS)), None)

    @property
    def registered(self) -> Route | None:
        """The route declared in lang_portal's registry for this rule, if any."""
        return _routes_by_endpoint().get(self.endpoint)

    def path(self, **values: Any) -> str:
        """The rule with its arguments filled: given values first, then seeded ids."""

        def fill(match: re.Match[str]) -> str:
            name = match["name"]
            if name in values:
                return quote(str(values[name]), safe="")
            if match["converter"] in ("id", "int") or name.endswith("id"):
                return str(SEEDED_IDS.get(name, 1))
            return "x"

        return _ARGUMENT.sub(fill, self.rule)

    def __str__(self) -> str:
        return f"{'/'.join(sorted(self.methods - {'HEAD', 'OPTIONS'}))} {self.rule}"


@functools.cache
def _listing_app() -> Flask:
    # Only its URL map is used: an in-memory database is never connected to.
    return create_app({"DATABASE_URL": "sqlite://", "RATE_LIMIT": "off", "LOG_LEVEL": "WARNING"})


@functools.cache
def _routes_by_endpoint() -> dict[str, Route]:
    return {route.endpoint: route for route in routes.declared}


def url_rules() -> list[UrlRule]:
    """Every rule of the app's URL map, in a stable order."""
    rules = [
        UrlRule(rule.rule, rule.endpoint, frozenset(rule.methods or ()))
        for rule in _listing_app().url_map.iter_rules()
    ]
    return sorted(rules, key=lambda r: (r.rule, r.endpoint))


def write_rules() -> list[UrlRule]:
    """Every rule that takes a write through the API, on every alias (legacy paths
    included). The portal's own forms are :func:`page_form_rules`."""
    return [rule for rule in url_rules() if rule.write_method and rule.registered is not None]


# What exists for the accounts mode only. In the open mode, where these tests' apps run,
# the launch-token route is a 403 and the sign-in and class pages are 404 pages
# (test_cross_site_writes.py checks the forms; test_accounts_mode_only below the rest).
# Their behaviour is tested in the accounts mode: tests/api/test_launch_tokens.py,
# tests/pages/test_sign_in.py, tests/pages/test_class_view.py, tests/test_csrf.py.
ACCOUNTS_ONLY = frozenset(
    {
        "create_launch_token",
        "pages.sign_in_page",
        "pages.class_page",
        "pages.learner_page",
    }
)


def open_mode(rules: list[UrlRule]) -> list[UrlRule]:
    """The rules that work in the open mode: without the accounts mode's own routes and
    the portal's forms."""
    return [
        rule
        for rule in rules
        if rule.endpoint not in ACCOUNTS_ONLY and rule.endpoint not in _page_forms()
    ]


@functools.cache
def _page_forms() -> frozenset[str]:
    return frozenset(rule.endpoint for rule in page_form_rules())


def page_form_rules() -> list[UrlRule]:
    """Every rule that takes a write and is not the API's: the portal's sign-in, password
    and class-view forms (the accounts mode only; each checks its CSRF token)."""
    return [rule for rule in url_rules() if rule.write_method and rule.registered is None]


def read_rules() -> list[UrlRule]:
    """Every rule that answers GET, on every alias."""
    return [rule for rule in url_rules() if "GET" in rule.methods]


def one_per_endpoint(rules: list[UrlRule]) -> list[UrlRule]:
    """The first rule of each endpoint: the aliases of one view behave alike."""
    first: dict[str, UrlRule] = {}
    for rule in rules:
        first.setdefault(rule.endpoint, rule)
    return list(first.values())


def body_example(rule: UrlRule) -> dict[str, Any] | None:
    """A valid body for a write rule, from its model's documented example.

    None when the route declares no body model (it then ignores the body).
    """
    route = rule.registered
    if route is None or route.body is None:
        return None
    examples = route.body.model_json_schema().get("examples") or [{}]
    return dict(examples[0])


def request_body(rule: UrlRule) -> dict[str, Any] | None:
    """The JSON body a request on this rule sends: the example, ``{}`` for a write that
    takes no body (every write must be JSON), None for a read."""
    if rule.write_method is None:
        return None
    return body_example(rule) or {}


def query_names() -> list[str]:
    """Every query parameter name any route declares, plus the common ones."""
    names = {"page", "per_page", "sort_by", "order"}
    for route in routes.declared:
        if route.query is not None:
            names.update(_field_names(route.query))
    return sorted(names)


def query_choices() -> list[str]:
    """Every allowed value of every enumerated query parameter (sort keys, orders)."""
    choices: set[str] = set()
    for route in routes.declared:
        if route.query is None:
            continue
        for prop in route.query.model_json_schema().get("properties", {}).values():
            for option in [prop, *prop.get("anyOf", [])]:
                choices.update(str(value) for value in option.get("enum", []))
                if "const" in option:
                    choices.add(str(option["const"]))
    return sorted(choices)


def body_field_names() -> list[str]:
    """Every field name (nested ones included) of every declared body model."""
    names: set[str] = set()
    for route in routes.declared:
        if route.body is not None:
            names.update(_field_names(route.body))
    return sorted(names)


def _field_names(model: type[BaseModel]) -> set[str]:
    schema = model.model_json_schema()
    names = set(schema.get("properties", {}))
    for definition in schema.get("$defs", {}).values():
        names.update(definition.get("properties", {}))
    # Aliases accepted on input (``correct`` for ``is_correct``) are fields too.
    for model_field in model.model_fields.values():
        choices = getattr(model_field.validation_alias, "choices", None) or []
        names.update(choice for choice in choices if isinstance(choice, str))
    return names


def table_totals(engine: Engine, leave_out: tuple[str, ...] = ()) -> dict[str, tuple[int, ...]]:
    """Row count and the sum of every counter column (but those named in ``leave_out``),
    per table.

    Two equal snapshots mean no row was added or removed and no counter moved.
    """
    state: dict[str, tuple[int, ...]] = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            counters = [
                c for c in table.columns if c.name.endswith("_count") and c.name not in leave_out
            ]
            columns = [func.count(), *(func.coalesce(func.sum(c), 0) for c in counters)]
            state[table.name] = tuple(connection.execute(select(*columns).select_from(table)).one())
    return state


def check_counters(engine: Engine) -> None:
    """Assert that every stored counter equals the rows it counts, learner by learner."""
    sessions, reviews = schema.study_sessions, schema.word_review_items
    right = func.sum(cast(reviews.c.correct, Integer))

    with engine.connect() as connection:

        def per_learner(*columns: Any, table: Any = None) -> dict[int, tuple[int, ...]]:
            """``learner_id -> (sums...)`` of a statement grouped by its first column."""
            statement = select(*columns).group_by(columns[0])
            if table is not None:
                statement = statement.select_from(table)
            return {
                row[0]: tuple(int(value or 0) for value in row[1:])
                for row in connection.execute(statement)
            }

        learner_ids = connection.scalars(select(schema.learners.c.id)).all()
        session_counts = per_learner(sessions.c.learner_id, func.count())
        review_counts = per_learner(
            sessions.c.learner_id,
            func.count(),
            right,
            table=reviews.join(sessions, sessions.c.id == reviews.c.study_session_id),
        )
        words = schema.word_progress.c
        days = schema.daily_activity.c
        stored = {
            "group_progress": per_learner(
                schema.group_progress.c.learner_id, func.sum(schema.group_progress.c.sessions_count)
            ),
            "activity_progress": per_learner(
                schema.activity_progress.c.learner_id,
                func.sum(schema.activity_progress.c.sessions_count),
            ),
            "daily_activity": per_learner(
                days.learner_id,
                func.sum(days.sessions_count),
                func.sum(days.reviews_count),
                func.sum(days.correct_count),
            ),
            "study_sessions": per_learner(
                sessions.c.learner_id,
                func.sum(sessions.c.review_items_count),
                func.sum(sessions.c.correct_count),
            ),
            "word_progress": per_learner(
                words.learner_id,
                func.sum(words.correct_count + words.wrong_count),
                func.sum(words.correct_count),
            ),
        }
        for learner_id in learner_ids:
            n_sessions = session_counts.get(learner_id, (0,))[0]
            n_reviews, n_correct = review_counts.get(learner_id, (0, 0))
            expected = {
                "group_progress": (n_sessions,),
                "activity_progress": (n_sessions,),
                "daily_activity": (n_sessions, n_reviews, n_correct),
                "study_sessions": (n_reviews, n_correct),
                "word_progress": (n_reviews, n_correct),
            }
            for name, counts in expected.items():
                zeros = (0,) * len(counts)
                assert stored[name].get(learner_id, zeros) == counts, (name, learner_id)
        per_session = select(reviews.c.study_session_id, func.count().label("n")).group_by(
            reviews.c.study_session_id
        )
        counted = dict(connection.execute(per_session).all())
        stored_sessions = dict(
            connection.execute(
                select(sessions.c.id, sessions.c.review_items_count).where(
                    sessions.c.review_items_count > 0
                )
            ).all()
        )
        assert counted == stored_sessions


@dataclass(frozen=True)
class Failure:
    """An answer other than 201 that a load client got."""

    status: int
    path: str
    body: str
    content_type: str
    request_id: str | None

    def __str__(self) -> str:
        return f"{self.status} POST {self.path}: {self.body[:200]}"


@dataclass
class LoadResult:
    """What a load run was told: the acknowledged writes and every other answer."""

    statuses: Counter[int] = field(default_factory=Counter)
    session_ids: list[int] = field(default_factory=list)
    review_ids: list[int] = field(default_factory=list)
    # study_session_id -> reviews acknowledged through the batch route
    batch_reviews: Counter[int] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    connection_errors: int = 0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + self.connection_errors

    @property
    def reviews_acknowledged(self) -> int:
        return len(self.review_ids) + sum(self.batch_reviews.values())

    def merge(self, other: LoadResult) -> None:
        self.statuses.update(other.statuses)
        self.session_ids += other.session_ids
        self.review_ids += other.review_ids
        self.batch_reviews.update(other.batch_reviews)
        self.failures += other.failures
        self.connection_errors += other.connection_errors


def _writer(
    base_url: str, seed: int, deadline: float, stop: threading.Event, result: LoadResult
) -> None:
    """One client: start a session, review a word by batch, review one by URL; repeat."""
    rng = random.Random(seed)
    with requests.Session() as http:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any] | None:
            try:
                response = http.post(base_url + path, json=body, timeout=20)
            except requests.RequestException:
                result.connection_errors += 1
                time.sleep(BACKOFF)
                return None
            result.statuses[response.status_code] += 1
            if response.status_code != 201:
                error_bodies.record(response.status_code, response.text, f"POST {path}")
                result.failures.append(
                    Failure(
                        response.status_code,
                        path,
                        response.text,
                        response.headers.get("Content-Type", ""),
                        response.headers.get("X-Request-ID"),
                    )
                )
                time.sleep(BACKOFF)  # as a well-behaved client would, before trying again
                return None
            return response.json()

        while time.monotonic() < deadline and not stop.is_set():
            created = post(
                "/api/study-sessions",
                {"group_id": rng.choice(GROUP_IDS), "study_activity_id": rng.choice(ACTIVITY_IDS)},
            )
            if created is None:
                continue
            study_session_id = created["id"]
            result.session_ids.append(study_session_id)
            if stop.is_set():
                break
            batch = {
                "reviews": [{"word_id": rng.choice(WORD_IDS), "is_correct": rng.random() < 0.7}]
            }
            reviewed = post(f"/api/study-sessions/{study_session_id}/review", batch)
            if reviewed is not None:
                result.batch_reviews[study_session_id] += reviewed["reviews_created"]
            if stop.is_set():
                break
            word_id = rng.choice(WORD_IDS)
            single = post(
                f"/api/study-sessions/{study_session_id}/words/{word_id}/review",
                {"correct": rng.random() < 0.7},
            )
            if single is not None:
                result.review_ids.append(single["id"])


def run_writers(
    base_url: str, clients: int, seconds: float, stop: threading.Event | None = None
) -> LoadResult:
    """Run ``clients`` concurrent writers for at most ``seconds`` (or until ``stop``).

    Each client has its own HTTP session and a fixed random seed. Returns what
    every client was told, merged.
    """
    stop = stop or threading.Event()
    deadline = time.monotonic() + seconds
    results = [LoadResult() for _ in range(clients)]
    threads = [
        threading.Thread(
            target=_writer, args=(base_url, index, deadline, stop, results[index]), daemon=True
        )
        for index in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    merged = LoadResult()
    for result in results:
        merged.merge(result)
    return merged


def server_log(directory: Path) -> str:
    """Everything the servers started by ``start_server`` wrote to their log in ``directory``."""
    path = directory / "server.log"
    return path.read_text(errors="replace") if path.exists() else ""


def check_problem(status: int, text: str, content_type: str, request_id: str | None) -> dict:
    """Assert an error answer is a problem+json body with its request id and no internals."""
    assert content_type.startswith("application/problem+json"), (status, content_type, text)
    body = json.loads(text)
    assert body["status"] == status
    assert body["request_id"] and body["request_id"] == request_id
    assert error_bodies.find_leaks(text) == [], text
    return body


def problem_body(response: requests.Response) -> dict:
    """The checked problem body of an error answer from a real server."""
    error_bodies.record(response.status_code, response.text, response.url)
    return check_problem(
        response.status_code,
        response.text,
        response.headers.get("Content-Type", ""),
        response.headers.get("X-Request-ID"),
    )
