"""The OpenAPI document and the docs page: complete, valid, and true to what the app does."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from lang_portal import idempotency
from lang_portal.api.routing import MAX_ID, Route, routes
from lang_portal.errors import ApiError
from lang_portal.openapi import (
    IDEMPOTENCY_KEY_PATTERN,
    build_document,
    idempotency_policy,
)
from tests.accounts import OPERATOR_TOKEN
from tests.conftest import make_app

# Parts of the URL map that are deliberately not in the document, by blueprint ("static" is
# Flask's own endpoint), and why. The document describes the JSON API only.
UNDOCUMENTED_BLUEPRINTS = {
    "static": "Flask's static files (the activities' preview images, page scripts)",
    "docs": "the document itself, the Swagger UI page and its assets",
    "pages": "the portal's HTML pages",
}
# The docs blueprint's rules, listed so that a new one there is a decision, not an accident.
DOCS_RULES = {"/api/openapi.json", "/api/docs", "/api/docs/assets/<name>"}
# Flask adds these to every rule; they are not operations of the API.
IGNORED_METHODS = {"HEAD", "OPTIONS"}
PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def doc_app(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One app on a seeded SQLite copy for the read-only checks of this module."""
    path = tmp_path_factory.mktemp("openapi") / "lang-portal.db"
    shutil.copyfile(sqlite_template, path)
    app = make_app(f"sqlite:///{path}")
    yield app
    app.extensions["lang_portal.engine"].dispose()


@pytest.fixture(scope="module")
def document(doc_app: Flask) -> dict[str, Any]:
    response = doc_app.test_client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def openapi_path(rule: str) -> str:
    """``/a/<id:x>/b`` -> ``/a/{x}/b``, written independently of lang_portal.openapi."""
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule)


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A JSON Schema validator for ``schema`` whose $refs resolve in the document."""
    return Draft202012Validator({"allOf": [schema], "components": document["components"]})


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method.upper(), operation


def deref(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` pointers (``#/a/b``) until a real node."""
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def canonical_operation(document: dict[str, Any], route: Route) -> dict[str, Any]:
    return document["paths"]["/api" + openapi_path(route.rule)][route.method.lower()]


# --- completeness and validity -------------------------------------------------------------


def test_the_served_document_is_the_generated_one(doc_app: Flask, document: dict) -> None:
    response = doc_app.test_client().get("/api/openapi.json")
    assert response.mimetype == "application/json"
    assert document == json.loads(json.dumps(build_document()))


def _blueprint(endpoint: str) -> str:
    return endpoint.partition(".")[0] if "." in endpoint else endpoint


def test_every_url_rule_is_documented_and_nothing_else(doc_app: Flask, document: dict) -> None:
    rules = list(doc_app.url_map.iter_rules())
    docs_rules = {rule.rule for rule in rules if _blueprint(rule.endpoint) == "docs"}
    assert docs_rules == DOCS_RULES
    assert any(rule.endpoint == "static" for rule in rules)
    served = {
        (openapi_path(rule.rule), method)
        for rule in rules
        if _blueprint(rule.endpoint) not in UNDOCUMENTED_BLUEPRINTS
        for method in rule.methods - IGNORED_METHODS
    }
    documented = {(path, method) for path, method, _ in operations(document)}
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"


def test_the_document_is_valid_openapi_3_1(document: dict) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document)


def test_operation_ids_are_unique_and_only_aliases_are_deprecated(document: dict) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    for route in routes.declared:
        for path in route.paths():
            operation = document["paths"][openapi_path(path)][route.method.lower()]
            canonical = path == "/api" + route.rule
            assert operation.get("deprecated", False) is not canonical, path


def test_summaries_and_descriptions_come_from_the_view_docstrings(document: dict) -> None:
    for route in routes.declared:
        operation = canonical_operation(document, route)
        first_line = route.view.__doc__.strip().splitlines()[0].replace("``", "`")
        assert operation["summary"] == first_line.rstrip(".")
        assert "``" not in operation.get("description", "")


def test_every_example_matches_its_schema(document: dict) -> None:
    checked = 0
    for name, schema in document["components"]["schemas"].items():
        for example in schema.get("examples", []):
            validator(document, schema).validate(example)
            checked += 1
        assert name
    for _, _, operation in operations(document):
        contents = [operation.get("requestBody", {}).get("content", {})]
        contents += [deref(document, r).get("content", {}) for r in operation["responses"].values()]
        for content in contents:
            for media in content.values():
                if "example" in media:
                    validator(document, media["schema"]).validate(media["example"])
                    checked += 1
    assert checked >= 4


def test_request_body_examples_are_accepted_by_the_app(database_url: str) -> None:
    # The accounts mode, as the operator: every operation is open to it (a launch token
    # is made in that mode only).
    app = make_app(database_url, AUTH="accounts", API_TOKEN=OPERATOR_TOKEN)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {OPERATOR_TOKEN}"
    document = client.get("/api/openapi.json").get_json()
    study_session = client.post("/api/study-sessions", json={"group_id": 1, "study_activity_id": 1})
    session_id = study_session.get_json()["id"]
    # The reset last: it deletes the session the other examples post into.
    for route in sorted(routes.declared, key=lambda route: route.rule.endswith("/reset")):
        operation = canonical_operation(document, route)
        if "requestBody" not in operation:
            continue
        example = operation["requestBody"]["content"]["application/json"]["example"]
        path = ("/api" + route.rule).replace("<id:study_session_id>", str(session_id))
        path = path.replace("<id:word_id>", "1").replace("<id:learner_id>", "1")
        response = client.post(path, json=example)
        assert response.status_code == route.status, (path, response.get_json())
    app.extensions["lang_portal.engine"].dispose()


# --- errors --------------------------------------------------------------------------------


def test_the_problem_schema_requires_what_every_error_carries(document: dict) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"error", "type", "title", "status", "detail", "request_id"}
    errors_item = deref(document, problem["properties"]["errors"]["items"])
    assert set(errors_item["required"]) == {"pointer", "detail"}


ERROR_REQUESTS = [
    # (method, documented path, request path, keyword arguments, status)
    ("GET", "/api/groups/{group_id}", "/api/groups/999999", {}, 404),
    ("GET", "/api/groups/{group_id}", "/api/groups/0", {}, 404),
    ("GET", "/api/groups/{group_id}", f"/api/groups/{MAX_ID + 1}", {}, 404),
    ("GET", "/api/groups", "/api/groups?page=0", {}, 400),
    ("GET", "/api/groups", "/api/groups?page=1&page=2", {}, 400),
    ("GET", "/api/study-sessions", "/api/study-sessions?per_page=101", {}, 400),
    ("POST", "/api/study-sessions", "/api/study-sessions", {"json": {}}, 400),
    ("POST", "/api/study-sessions", "/api/study-sessions", {"json": {"group_id": 9999}}, 400),
    ("POST", "/api/study-sessions", "/api/study-sessions", {"data": "x"}, 415),
    (
        "POST",
        "/api/study-sessions",
        "/api/study-sessions",
        {"json": {"group_id": 1, "study_activity_id": 1}, "headers": {"Idempotency-Key": '""'}},
        400,
    ),
    (
        "POST",
        "/api/study-sessions/{study_session_id}/review",
        "/api/study-sessions/999999/review",
        {"json": {"reviews": [{"word_id": 1, "correct": True}]}},
        404,
    ),
]


@pytest.mark.parametrize(("method", "documented", "path", "kwargs", "status"), ERROR_REQUESTS)
def test_errors_are_documented_problems(
    doc_app: Flask,
    document: dict,
    method: str,
    documented: str,
    path: str,
    kwargs: dict,
    status: int,
) -> None:
    response = doc_app.test_client().open(path, method=method, **kwargs)
    assert response.status_code == status
    assert response.mimetype == PROBLEM_JSON
    operation = document["paths"][documented][method.lower()]
    declared = deref(document, operation["responses"][str(status)])
    schema = declared["content"][PROBLEM_JSON]["schema"]
    validator(document, schema).validate(response.get_json())


def _assert_documented(document: dict, path: str, method: str, response: Any) -> dict:
    declared = deref(
        document, document["paths"][path][method]["responses"][str(response.status_code)]
    )
    schema = declared["content"][response.mimetype]["schema"]
    validator(document, schema).validate(response.get_json())
    return declared


def test_a_rate_limited_write_is_a_documented_429_with_retry_after(database_url: str) -> None:
    app = make_app(database_url, RATE_LIMIT="1/minute")
    client = app.test_client()
    document = client.get("/api/openapi.json").get_json()
    body = {"group_id": 1, "study_activity_id": 1}
    assert client.post("/api/study-sessions", json=body).status_code == 201
    limited = client.post("/api/study-sessions", json=body)
    assert limited.status_code == 429
    declared = _assert_documented(document, "/api/study-sessions", "post", limited)
    assert declared["headers"]["Retry-After"]["required"] is True
    assert int(limited.headers["Retry-After"]) >= 0
    app.extensions["lang_portal.engine"].dispose()


def test_an_oversized_body_is_a_documented_413(database_url: str) -> None:
    app = make_app(database_url, MAX_BODY_BYTES=64)
    client = app.test_client()
    document = client.get("/api/openapi.json").get_json()
    response = client.post("/api/study-sessions", json={"group_id": 1, "padding": "x" * 100})
    assert response.status_code == 413
    _assert_documented(document, "/api/study-sessions", "post", response)
    app.extensions["lang_portal.engine"].dispose()


def test_writes_need_the_documented_bearer_token_only_when_one_is_set(database_url: str) -> None:
    app = make_app(database_url, API_TOKEN="s3cret")
    client = app.test_client()
    document = client.get("/api/openapi.json").get_json()
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "LANG_PORTAL_API_TOKEN" in scheme["description"]
    for route in routes.declared:
        security = canonical_operation(document, route).get("security")
        assert security == ([{}, {"bearerAuth": []}] if route.write else None), route.rule
    body = {"group_id": 1, "study_activity_id": 1}
    refused = client.post("/api/study-sessions", json=body)
    assert refused.status_code == 401
    _assert_documented(document, "/api/study-sessions", "post", refused)
    allowed = client.post(
        "/api/study-sessions", json=body, headers={"Authorization": "Bearer s3cret"}
    )
    assert allowed.status_code == 201
    app.extensions["lang_portal.engine"].dispose()


# --- parameters ----------------------------------------------------------------------------


def _fill(path: str, study_session_id: int) -> str:
    path = path.replace("{study_session_id}", str(study_session_id))
    return re.sub(r"\{[^}]+\}", "1", path)


def _bounded_query_parameters(document: dict) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path, method, operation in operations(document):
        if method != "GET" or not path.startswith("/api/") or path.startswith("/api/v1/"):
            continue
        for parameter in operation.get("parameters", []):
            parameter = deref(document, parameter)
            if parameter["in"] == "query":
                found.append((path, parameter))
    return found


# A value within the bounds that the app still answers with another status than 200:
# ?learner_id= at its largest is a well-formed id that names no learner.
IN_BOUNDS_STATUS = {("learner_id", "maximum"): 404}


def test_documented_query_bounds_are_the_enforced_bounds(doc_app: Flask, document: dict) -> None:
    client = doc_app.test_client()
    created = client.post("/api/study-sessions", json={"group_id": 1, "study_activity_id": 1})
    checked = 0
    for path, parameter in _bounded_query_parameters(document):
        name, schema = parameter["name"], parameter["schema"]
        url = _fill(path, created.get_json()["id"]) + "?" + name + "="
        for bound, outside in (("minimum", -1), ("maximum", 1)):
            if bound in schema:
                status = IN_BOUNDS_STATUS.get((name, bound), 200)
                assert client.get(url + str(schema[bound])).status_code == status, (url, bound)
                assert client.get(url + str(schema[bound] + outside)).status_code == 400, url
                checked += 1
        for value in schema.get("enum", []):
            assert client.get(url + str(value)).status_code == 200, (url, value)
        if "enum" in schema:
            assert client.get(url + "not-a-choice").status_code == 400, url
            checked += 1
    assert checked >= 6


def test_pagination_parameters_are_documented_with_their_bounds(document: dict) -> None:
    parameters = {
        p["name"]: p["schema"]
        for p in document["paths"]["/api/study-sessions"]["get"]["parameters"]
    }
    assert parameters["page"]["minimum"] == 1
    assert (parameters["per_page"]["minimum"], parameters["per_page"]["maximum"]) == (1, 100)
    group_sorts = {
        p["name"]: p["schema"] for p in document["paths"]["/api/groups"]["get"]["parameters"]
    }
    assert set(group_sorts["sort_by"]["enum"]) == {"name", "words_count", "word_count"}


def test_path_ids_are_documented_as_positive_64_bit_integers(document: dict) -> None:
    checked = 0
    for path, _, operation in operations(document):
        names = re.findall(r"\{([^}]+)\}", path)
        declared = [p for p in operation.get("parameters", []) if p.get("in") == "path"]
        assert [p["name"] for p in declared] == names, path
        for parameter in declared:
            assert parameter["required"] is True
            assert parameter["schema"] == {"type": "integer", "minimum": 1, "maximum": MAX_ID}
            assert "404" in operation["responses"]
            checked += 1
    assert checked > 0


def test_unknown_rule_converters_are_refused_rather_than_guessed() -> None:
    def view(connection: Any, name: str) -> None:
        """Show something by name."""

    route = Route("GET", "/things/<string:name>", view, response=None)
    with pytest.raises(NotImplementedError, match="converter"):
        build_document([route])


def test_every_route_declares_its_response_model() -> None:
    # The registry has no fallback for a route without one: declaring it fails at once,
    # so no body ever goes out unshaped and no operation is documented as any JSON.
    def ping(connection: Any) -> dict:
        """Answer with anything."""
        return {}

    with pytest.raises(TypeError, match="response"):
        Route("GET", "/ping", ping)  # type: ignore[call-arg]
    assert routes.declared
    for route in routes.declared:
        assert route.adapter.json_schema(mode="serialization"), route.endpoint


# --- idempotency ---------------------------------------------------------------------------


def test_the_idempotency_key_is_documented_on_exactly_the_idempotent_routes(
    document: dict,
) -> None:
    reference = {"$ref": "#/components/parameters/IdempotencyKey"}
    for route in routes.declared:
        for path in route.paths():
            operation = document["paths"][openapi_path(path)][route.method.lower()]
            assert (reference in operation.get("parameters", [])) is route.idempotent, path
            if route.idempotent:
                assert {"409", "422"} <= set(operation["responses"]), path


def test_the_idempotency_policy_is_the_one_written_in_the_idempotency_module(
    document: dict,
) -> None:
    description = document["components"]["parameters"]["IdempotencyKey"]["description"]
    policy = idempotency_policy()
    assert policy in description
    docstring = " ".join(idempotency.__doc__.split())
    for bullet in policy.split("\n- "):
        assert " ".join(bullet.removeprefix("- ").split()).replace("`", "") in docstring.replace(
            "``", ""
        )
    assert "422" in policy and "409" in policy and "24" in policy


IDEMPOTENCY_KEYS = [
    "a",
    "~",
    '"',
    "8e03978e-40d5-43e8-bc93-6894a57f9324",
    "a b",
    '"a',
    'a"',
    '"a"',
    '" "',
    '"a b"',
    '""',
    '"""',
    " ",
    "x" * 255,
    "x" * 256,
    '"' + "x" * 255 + '"',
    '"' + "x" * 256 + '"',
    "é",
    "a\tb",
    "a\x7fb",
]


@pytest.mark.parametrize("value", IDEMPOTENCY_KEYS)
def test_the_idempotency_key_pattern_accepts_what_the_server_accepts(
    doc_app: Flask, value: str
) -> None:
    with doc_app.test_request_context(headers={"Idempotency-Key": value}):
        try:
            idempotency.key_from_request()
            accepted = True
        except ApiError as error:
            assert error.status == 400
            accepted = False
    assert bool(re.fullmatch(IDEMPOTENCY_KEY_PATTERN, value)) is accepted


# --- request bodies ------------------------------------------------------------------------

REVIEW_ITEMS = [
    ({"word_id": 1, "is_correct": True}, True),
    ({"word_id": 1, "correct": False}, True),
    ({"word_id": 1, "is_correct": True, "correct": "ignored"}, True),
    ({"word_id": 1, "is_correct": "yes", "correct": True}, False),
    ({"word_id": 1, "is_correct": None, "correct": True}, False),
    ({"word_id": 1, "correct": "yes"}, False),
    ({"word_id": 1}, False),
    ({"word_id": 0, "correct": True}, False),
    ({"word_id": MAX_ID + 1, "correct": True}, False),
    ({"word_id": 1, "rating": "hard"}, True),
    ({"word_id": 1, "rating": 4, "is_correct": True, "duration_ms": 1200}, True),
    ({"word_id": 1, "rating": None}, False),
    ({"word_id": 1, "rating": "Hard"}, False),
    ({"word_id": 1, "rating": 5}, False),
    ({"word_id": 1, "rating": "good", "duration_ms": -1}, False),
    ({"word_id": 1, "rating": "good", "reviewed_at": None}, False),
]


@pytest.mark.parametrize(("item", "valid"), REVIEW_ITEMS)
def test_the_review_schema_accepts_exactly_what_the_server_accepts(
    doc_app: Flask, document: dict, item: dict, valid: bool
) -> None:
    client = doc_app.test_client()
    created = client.post("/api/study-sessions", json={"group_id": 1, "study_activity_id": 1})
    session_id = created.get_json()["id"]
    body = {"reviews": [item]}
    operation = document["paths"]["/api/study-sessions/{study_session_id}/review"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert validator(document, schema).is_valid(body) is valid
    response = client.post(f"/api/study-sessions/{session_id}/review", json=body)
    assert response.status_code == (201 if valid else 400), response.get_json()


# --- the docs page -------------------------------------------------------------------------


class _PageReferences(HTMLParser):
    """Every URL a page loads, and any script written inline."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self.handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.handlers += [name for name in attributes if name.startswith("on")]
        if tag == "script":
            self._in_script = True
            assert attributes.get("src"), "every script is a served file"
            self.urls.append(attributes["src"] or "")
        if tag == "link":
            self.urls.append(attributes["href"] or "")
        if tag == "div" and attributes.get("data-spec-url"):
            self.urls.append(attributes["data-spec-url"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


def test_the_docs_page_loads_only_assets_this_server_serves(doc_app: Flask) -> None:
    client = doc_app.test_client()
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    references = _PageReferences()
    references.feed(page.get_data(as_text=True))
    assert references.inline_scripts == [] and references.handlers == []
    assert len(references.urls) >= 5
    expected_types = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for url in references.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        suffix = Path(url).suffix
        assert asset.mimetype == expected_types.get(suffix, "application/json"), url
        if suffix in (".js", ".css") and "swagger-ui" not in url:
            assert "http://" not in asset.get_data(as_text=True), url
            assert "https://" not in asset.get_data(as_text=True), url


@pytest.mark.parametrize(
    "name", ["index.html", "oauth2-redirect.html", "swagger-ui.js", "..%2F__init__.py", "nope.js"]
)
def test_files_outside_the_docs_allowlist_are_not_served(doc_app: Flask, name: str) -> None:
    response = doc_app.test_client().get(f"/api/docs/assets/{name}")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM_JSON


def test_links_from_created_resources_lead_to_real_operations(document: dict) -> None:
    by_id = {operation["operationId"]: operation for _, _, operation in operations(document)}
    created = document["paths"]["/api/study-sessions"]["post"]["responses"]["201"]
    assert {"get_study_session", "review_words"} <= set(created["links"])
    for path, _, operation in operations(document):
        for response in operation["responses"].values():
            for link in deref(document, response).get("links", {}).values():
                target = by_id[link["operationId"]]
                path_names = {p["name"] for p in target["parameters"] if p.get("in") == "path"}
                assert set(link["parameters"]) <= path_names, (path, link)
                assert "deprecated" not in target


# --- the two modes of LANG_PORTAL_AUTH ------------------------------------------------------


@pytest.fixture(scope="module")
def accounts_document(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The document an app in the accounts mode serves, fetched without any token."""
    path = tmp_path_factory.mktemp("openapi-accounts") / "lang-portal.db"
    shutil.copyfile(sqlite_template, path)
    app = make_app(f"sqlite:///{path}", AUTH="accounts")
    client = app.test_client()
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert client.get("/api/docs").status_code == 200  # the reference needs no token either
    app.extensions["lang_portal.engine"].dispose()
    return response.get_json()


def test_the_accounts_document_is_valid_and_needs_a_token_everywhere(accounts_document):
    validate(accounts_document)
    checked = 0
    for path, method, operation in operations(accounts_document):
        assert operation["security"] == [{"bearerAuth": []}, {"cookieAuth": []}], (method, path)
        assert "401" in operation["responses"], (method, path)
        checked += 1
    assert checked > 0
    scheme = accounts_document["components"]["securitySchemes"]["bearerAuth"]
    assert "teacher" in scheme["description"] and "learner" in scheme["description"]


def test_the_open_document_needs_a_token_only_to_write(document):
    for path, method, operation in operations(document):
        if method == "GET":
            assert "security" not in operation, path
        else:
            assert operation["security"] == [{}, {"bearerAuth": []}], (method, path)


def test_learner_scoped_reads_document_learner_id_and_403(document):
    """Exactly the routes declared learner-scoped take ?learner_id=, on their reads."""
    for route in routes.declared:
        operation = canonical_operation(document, route)
        names = [p.get("name") for p in operation.get("parameters", []) if p.get("in") == "query"]
        takes_learner_id = route.scoped and not route.write
        assert ("learner_id" in names) == takes_learner_id, route.rule
        if route.scoped or route.teacher_only:
            assert "403" in operation["responses"], route.rule


def test_teacher_only_operations_say_so(document):
    teacher_only = [route for route in routes.declared if route.teacher_only]
    assert {(route.method, route.rule) for route in teacher_only} == {
        ("GET", "/learners"),
        ("POST", "/learners"),
        ("POST", "/study-activities"),
    }
    for route in teacher_only:
        assert "Teachers only." in canonical_operation(document, route)["description"]
