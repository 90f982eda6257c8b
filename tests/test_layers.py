"""The layers know only the layer below: the query layer knows nothing of HTTP.

``lang_portal.queries`` raises the domain exceptions of ``queries.problems``; the API
maps them to problem responses (``errors.missing_row``). A query module that imported
flask, werkzeug or ``lang_portal.errors`` would let HTTP leak back in, so every
module of the package is read here and its imports checked.
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

import lang_portal.queries
from lang_portal import schema

FORBIDDEN = ("flask", "werkzeug", "lang_portal.errors")


def http_imports(source: str) -> list[str]:
    """Which of FORBIDDEN this source imports, once per import statement.

    Every ``import`` and ``from ... import`` counts, wherever it is (a function body,
    ``if TYPE_CHECKING``); ``from lang_portal import errors`` counts as
    ``lang_portal.errors``.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found += [
            banned
            for banned in FORBIDDEN
            if any(name == banned or name.startswith(banned + ".") for name in names)
        ]
    return found


def query_modules() -> list[Path]:
    """Every module of lang_portal.queries, the package's own __init__ included."""
    package = Path(lang_portal.queries.__file__).parent
    paths = [package / "__init__.py"]
    for module in pkgutil.walk_packages([str(package)]):
        path = package / f"{module.name.replace('.', '/')}.py"
        paths.append(path if path.exists() else package / module.name / "__init__.py")
    return paths


def test_the_walk_finds_every_query_module():
    names = {path.stem for path in query_modules()}
    assert {"__init__", "learners", "problems", "reviews", "study_sessions", "words"} <= names
    assert all(path.exists() for path in query_modules())


@pytest.mark.parametrize("path", query_modules(), ids=lambda path: path.name)
def test_no_query_module_imports_the_http_layer(path):
    assert http_imports(path.read_text()) == []


@pytest.mark.parametrize(
    ("snippet", "found"),
    [
        ("import flask", ["flask"]),
        ("from flask import abort", ["flask"]),
        ("import werkzeug.exceptions as wx", ["werkzeug"]),
        ("from lang_portal.errors import ApiError", ["lang_portal.errors"]),
        ("from lang_portal import errors", ["lang_portal.errors"]),
        ("def f():\n    from flask import g\n", ["flask"]),
        ("import flask\nimport werkzeug", ["flask", "werkzeug"]),
        # Not HTTP: the database layer, a name that only starts like one, relative imports.
        ("from lang_portal import db, schema", []),
        ("import flasky", []),
        ("from lang_portal.errors_log import x", []),
        ("from .problems import UnknownWord", []),
    ],
)
def test_the_check_catches_an_http_import(snippet, found):
    assert http_imports(snippet) == found


def test_a_missing_row_is_told_apart_by_where_its_id_came_from(client, engine):
    """The API's one mapping of NotFound: URL ids are 404s, body ids 400s at the field."""
    created = client.post("/api/study-sessions", json={"group_id": 1, "study_activity_id": 1})
    session_url = f"/api/study-sessions/{created.get_json()['id']}"
    cases = [
        (
            "/api/study-sessions",
            {"group_id": 999, "study_activity_id": 999},
            400,
            "group_id does not exist",
            "#/group_id",
        ),
        (
            "/api/study-sessions",
            {"group_id": 1, "study_activity_id": 999},
            400,
            "study_activity_id does not exist",
            "#/study_activity_id",
        ),
        (
            f"{session_url}/review",
            {"reviews": [{"word_id": 1, "correct": True}, {"word_id": 999, "correct": True}]},
            400,
            "reviews.1.word_id: word 999 does not exist",
            "#/reviews/1/word_id",
        ),
        (
            "/api/study-sessions/999/review",
            {"reviews": [{"word_id": 999, "correct": True}]},
            404,
            "study session not found",
            None,
        ),
        (f"{session_url}/words/999/review", {"correct": True}, 404, "word not found", None),
        (
            "/api/study-sessions/999/words/999/review",
            {"correct": True},
            404,
            "study session not found",
            None,
        ),
    ]
    for url, body, status, error, pointer in cases:
        response = client.post(url, json=body)
        answer = response.get_json()
        assert (response.status_code, response.mimetype) == (status, "application/problem+json")
        assert answer["error"] == answer["detail"] == error
        expected = [{"pointer": pointer, "detail": "does not exist"}] if pointer else None
        assert answer.get("errors") == expected
    with engine.connect() as connection:
        assert (
            connection.execute(select(func.count()).select_from(schema.study_sessions)).scalar()
            == 1
        )
        assert (
            connection.execute(select(func.count()).select_from(schema.word_review_items)).scalar()
            == 0
        )
