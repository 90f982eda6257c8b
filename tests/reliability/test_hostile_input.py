"""Hostile input on every route: fuzzed bodies, content types, headers and query strings,
SQL injection in every parameter, bodies at and over the size limit, absurd nesting.

The routes come from Flask's URL map (see support.py), so new routes are covered
without being listed here. Hypothesis runs derandomized with a modest number of
examples, so CI sees the same inputs on every run.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import String, func, inspect, select

from lang_portal.api.body import MAX_DEPTH
from lang_portal.schema import metadata
from tests.reliability.support import (
    UrlRule,
    body_example,
    body_field_names,
    one_per_endpoint,
    open_mode,
    query_choices,
    query_names,
    read_rules,
    sqlite_only,
    table_totals,
    url_rules,
    write_rules,
)

# The open mode's routes: these tests' apps run in it.
WRITE_ENDPOINTS = open_mode(one_per_endpoint(write_rules()))
READ_ENDPOINTS = open_mode(one_per_endpoint(read_rules()))
BODY_ENDPOINTS = [rule for rule in WRITE_ENDPOINTS if body_example(rule) is not None]

FUZZ = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Reads are many (every page and API view): about 12 examples for each.
FUZZ_READS = settings(FUZZ, max_examples=12 * len(READ_ENDPOINTS))

# -- strategies ---------------------------------------------------------------------------

FIELDS = body_field_names()
PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
INTERESTING_INTS = st.sampled_from(
    [0, 1, 2, 3, 7, 263, 264, -1, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 10**30]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | INTERESTING_INTS
    | st.floats()  # NaN and the infinities serialise as bare tokens, which must be refused
    | st.text(max_size=12)
    | st.sampled_from(["1", "１", "true", "", "null", "1.0", "\u0000", "' OR 1=1 --"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=10,
)


def near(example: Any) -> st.SearchStrategy[Any]:
    """Values shaped like ``example`` (a valid body), each part sometimes replaced by junk.

    These reach past parsing into validation and the database, where the
    interesting failures live; about half of them are valid.
    """
    if isinstance(example, dict):
        return st.fixed_dictionaries(
            {key: near(value) for key, value in example.items()},
            optional={name: JSON_VALUES for name in FIELDS if name not in example},
        )
    if isinstance(example, list) and example:
        return st.lists(near(example[0]), max_size=4) | JSON_VALUES
    if isinstance(example, bool):
        return st.booleans() | st.booleans() | JSON_VALUES
    if isinstance(example, int):
        return st.integers(1, 263) | INTERESTING_INTS | JSON_VALUES
    return JSON_VALUES


def dump(value: Any) -> bytes:
    return json.dumps(value).encode()


def bodies(rule: UrlRule) -> st.SearchStrategy[bytes]:
    """Any JSON value, objects with the known field names, near-valid bodies, raw bytes."""
    return st.one_of(
        JSON_VALUES.map(dump),
        st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=4).map(dump),
        near(body_example(rule) or {}).map(dump),
        near(body_example(rule) or {}).map(dump),
        st.binary(max_size=48),
        st.text(max_size=24).map(str.encode),
    )


CONTENT_TYPES = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/json;charset=latin-1",
            "APPLICATION/JSON",
            "application/json; boundary=x; q=0",
            "application/problem+json",
            "application/merge-patch+json",
            "text/json",
            "text/plain",
            "text/html",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=zz",
            "*/*",
            "",
        ]
    ),
    st.text(PRINTABLE, max_size=30),
)
HEADER_NAMES = [
    "Idempotency-Key",
    "Authorization",
    "X-Request-ID",
    "Origin",
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Content-Encoding",
    "Cookie",
    "If-Match",
    "If-None-Match",
    "Range",
    "Expect",
    "X-Forwarded-For",
    "X-HTTP-Method-Override",
    "Access-Control-Request-Method",
]
HEADER_VALUES = st.text(PRINTABLE, max_size=40) | st.sampled_from(
    [
        '"fuzz-key"',
        "fuzz-key",
        '""',
        '"',
        "x" * 300,
        "Bearer x",
        "Basic Zm9vOmJhcg==",
        "gzip",
        "100-continue",
        "bytes=0-1",
        "*",
        "null",
        "http://evil.example",
        "DELETE",
    ]
)
HEADERS = st.dictionaries(st.sampled_from(HEADER_NAMES), HEADER_VALUES, max_size=4)

QUERY_VALUES = st.one_of(
    st.text(max_size=12),
    st.integers().map(str),
    st.sampled_from(query_choices()),
    st.sampled_from(
        ["0", "-1", "1", "2", "100", "101", "2147483647", "2147483648", "9" * 40, "1.5", "1e2"]
    ),
    st.sampled_from([" 1", "１", "true", "", "ASC", "-id", "id desc", "name;", "\u0000", "%00"]),
)
QUERY_KEYS = st.sampled_from(query_names()) | st.text(max_size=6)
QUERY_STRINGS = st.one_of(
    st.lists(st.tuples(QUERY_KEYS, QUERY_VALUES), max_size=5).map(urlencode),
    # Raw strings: broken percent-escapes, invalid UTF-8 escapes, stray separators.
    st.text(st.sampled_from("%&=;+?#[]_pagesortbyrdtcfFx0123456789"), max_size=30),
)


# -- fixtures and checks ------------------------------------------------------------------


REDIRECTS = {301, 302, 303, 307, 308}


def assert_answered(response: Any, allowed: set[int] | None = None, html: bool = False) -> None:
    """Never a 5xx (nor a 1xx/3xx); errors are problem+json with a request id.

    ``html``: the route is a browser page, whose errors are HTML pages by design and
    which may redirect.
    """
    status = response.status_code
    if allowed is not None:
        assert status in allowed, (status, response.get_data(as_text=True))
    redirect = html and status in REDIRECTS
    assert redirect or 200 <= status < 300 or 400 <= status < 500, (
        status,
        response.get_data(as_text=True),
    )
    if status >= 400:
        if html and response.mimetype == "text/html":
            assert response.headers["X-Request-ID"] in response.get_data(as_text=True)
            return
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["request_id"] == response.headers["X-Request-ID"]


def allowed_reads(rule: UrlRule) -> set[int]:
    """A read with existing ids in its URL is a 200 or a 400. Routes outside the API
    registry (pages, docs assets, static files) may also redirect, and 404 on the
    filler value of a path argument."""
    if rule.registered:
        return {200, 400}
    return {200, 400, *REDIRECTS} | ({404} if rule.arguments else set())


def assert_schema_intact(engine: Any) -> None:
    assert set(inspect(engine).get_table_names()) >= set(metadata.tables)


# -- property tests -----------------------------------------------------------------------


@pytest.mark.parametrize("rule", WRITE_ENDPOINTS, ids=str)
@FUZZ
@given(data=st.data())
def test_any_write_request_gets_2xx_or_4xx_and_a_4xx_writes_nothing(
    client, engine, study_session_id, rule, data
):
    body = data.draw(bodies(rule), label="body")
    content_type = data.draw(CONTENT_TYPES, label="content_type")
    headers = data.draw(HEADERS, label="headers")
    if content_type is not None:
        headers["Content-Type"] = content_type
    before = table_totals(engine)
    response = client.open(
        rule.path(study_session_id=study_session_id),
        method=rule.write_method,
        data=body,
        headers=headers,
    )
    assert_answered(response)
    if response.status_code >= 400:
        assert table_totals(engine) == before


@FUZZ_READS
@given(rule=st.sampled_from(READ_ENDPOINTS), query_string=QUERY_STRINGS)
def test_any_query_string_on_any_read_gets_200_or_400(client, study_session_id, rule, query_string):
    """One test draws the route too: every read route gets examples, for one database set-up."""
    response = client.get(rule.path(study_session_id=study_session_id), query_string=query_string)
    assert_answered(response, allowed_reads(rule), html=rule.registered is None)


# -- SQL injection ------------------------------------------------------------------------

INJECTIONS = [
    "' OR '1'='1",
    "1 OR 1=1",
    "1; DROP TABLE study_sessions; --",
    "1); DELETE FROM words; --",
    "' UNION SELECT kanji, romaji FROM words --",
    '"; UPDATE words SET correct_count = 99; --',
    "1' AND (SELECT pg_sleep(5)) IS NULL --",
    "name; ATTACH DATABASE '/tmp/x.db' AS x; --",
    "%27%20OR%201%3D1",
    "\\'; SELECT 1; --",
]


def leaf_pointers(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The paths to every scalar inside a JSON value: ("reviews", 0, "word_id"), ..."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in leaf_pointers(item, (*prefix, key))]
    if isinstance(value, list):
        return [
            p for index, item in enumerate(value) for p in leaf_pointers(item, (*prefix, index))
        ]
    return [prefix]


def replaced(value: Any, pointer: tuple[Any, ...], new: Any) -> Any:
    """A deep copy of ``value`` with the scalar at ``pointer`` replaced by ``new``."""
    copy = json.loads(json.dumps(value))
    target = copy
    for part in pointer[:-1]:
        target = target[part]
    target[pointer[-1]] = new
    return copy


@sqlite_only
def test_sql_injection_in_every_path_argument_is_a_404(client, engine):
    before = table_totals(engine)
    for injection in INJECTIONS:
        for rule in url_rules():
            for _, name in rule.arguments:
                response = client.open(
                    rule.path(**{name: injection}), method=rule.write_method or "GET", json={}
                )
                assert_answered(response, {404}, html=rule.registered is None)
    assert table_totals(engine) == before
    assert_schema_intact(engine)


def test_sql_injection_in_every_query_parameter_is_refused_or_ignored(
    client, engine, study_session_id
):
    """Each declared parameter of each route (pages: every known name) plus an undeclared one."""
    before = table_totals(engine)
    for rule in READ_ENDPOINTS:
        path = rule.path(study_session_id=study_session_id)
        route = rule.registered
        declared = set(route.query.model_fields) if route and route.query else set()
        names = sorted(declared) if route else query_names()
        for injection in INJECTIONS:
            for name in [*names, "q"]:
                response = client.get(path, query_string={name: injection})
                assert_answered(response, allowed_reads(rule), html=route is None)
                if route is not None:
                    # Every declared parameter is a number or a fixed choice, so the
                    # string is refused; an undeclared one is ignored.
                    expected = 400 if name in declared else 200
                    assert response.status_code == expected, (rule, name, injection)
    assert table_totals(engine) == before
    assert_schema_intact(engine)


def free_text(rule: UrlRule, pointer: tuple[Any, ...]) -> bool:
    """Whether the body field at ``pointer`` takes any text (a learner's name), read from
    the route's body model: a string with no enum, const, pattern or format."""
    route = rule.registered
    if route is None or route.body is None or len(pointer) != 1:
        return False
    field = route.body.model_json_schema()["properties"].get(pointer[0], {})
    return field.get("type") == "string" and not {"enum", "const", "pattern", "format"} & set(field)


def with_unique_text(rule: UrlRule, example: dict[str, Any], suffix: str) -> dict[str, Any]:
    """The example with ``suffix`` added to each free-text field, so that writing it again
    does not run into a name already taken."""
    for pointer in leaf_pointers(example):
        if free_text(rule, pointer):
            example = replaced(example, pointer, f"{example[pointer[0]]} {suffix}")
    return example


def stored_in(engine: Any, value: str) -> list[str]:
    """``table.column`` of every text column holding exactly ``value`` in some row."""
    found = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for column in table.columns:
                if (
                    isinstance(column.type, String)
                    and connection.execute(select(func.count()).where(column == value)).scalar_one()
                ):
                    found.append(f"{table.name}.{column.name}")
    return found


def test_sql_injection_in_every_body_field_is_a_400(client, engine, study_session_id):
    """Every typed field (a number, a fixed choice) refuses the string with a 400 that
    writes nothing; a free-text field (a name) stores it as it is, as plain data."""
    for index, injection in enumerate(INJECTIONS):
        for rule in BODY_ENDPOINTS:
            example = with_unique_text(rule, body_example(rule), str(index))
            path = rule.path(study_session_id=study_session_id)
            for pointer in leaf_pointers(example):
                before = table_totals(engine)
                response = client.post(path, json=replaced(example, pointer, injection))
                if free_text(rule, pointer):
                    assert_answered(response, {201})
                    assert response.get_json()[pointer[0]] == injection
                    assert stored_in(engine, injection), (rule, pointer, injection)
                    continue
                assert_answered(response, {400})
                expected = "#/" + "/".join(str(part) for part in pointer)
                pointers = {error["pointer"] for error in response.get_json()["errors"]}
                assert expected in pointers, (rule, pointer, injection)
                assert injection not in response.get_data(as_text=True)
                assert table_totals(engine) == before
            # As an unknown field's name and value it is ignored: the write goes through.
            example = with_unique_text(rule, body_example(rule), f"again {index}")
            response = client.post(path, json={**example, injection: injection})
            assert 200 <= response.status_code < 300, response.get_data(as_text=True)
    assert table_totals(engine)["words"][0] == 263
    assert_schema_intact(engine)


def test_sql_injection_in_headers_is_plain_text(client, engine):
    body = {"group_id": 1, "study_activity_id": 1}
    for injection in INJECTIONS:
        headers = {"Idempotency-Key": injection, "X-Request-ID": injection}
        first = client.post("/api/study-sessions", json=body, headers=headers)
        again = client.post("/api/study-sessions", json=body, headers=headers)
        assert first.status_code == again.status_code == 201, injection
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.get_json() == first.get_json()
        # The request id is only echoed when it is a plain token.
        assert first.headers["X-Request-ID"] != injection
    assert table_totals(engine)["study_sessions"][0] == len(INJECTIONS)
    assert table_totals(engine)["idempotency_keys"][0] == len(INJECTIONS)
    assert_schema_intact(engine)


# -- size limit and nesting ---------------------------------------------------------------


def padded(example: dict[str, Any] | None, size: int) -> bytes:
    """A valid body (the example plus an ignored ``pad`` field) of exactly ``size`` bytes."""
    body = {**(example or {}), "pad": ""}
    body["pad"] = "x" * (size - len(dump(body)))
    raw = dump(body)
    assert len(raw) == size
    return raw


@sqlite_only
@pytest.mark.parametrize("rule", WRITE_ENDPOINTS, ids=str)
def test_body_at_the_size_limit_is_accepted_and_one_byte_over_is_413(
    app, client, engine, study_session_id, rule
):
    limit = app.config["MAX_BODY_BYTES"]
    path = rule.path(study_session_id=study_session_id)
    before = table_totals(engine)
    for size in (limit + 1, 16 * limit):
        response = client.post(
            path, data=padded(body_example(rule), size), content_type="application/json"
        )
        assert_answered(response, {413})
        assert str(limit) in response.get_json()["error"]
        assert table_totals(engine) == before
    response = client.post(
        path, data=padded(body_example(rule), limit), content_type="application/json"
    )
    assert 200 <= response.status_code < 300, response.get_data(as_text=True)


NESTING = 10_000
NESTED_BODIES = {
    "arrays": b"[" * NESTING + b"]" * NESTING,
    "objects": b'{"a":' * NESTING + b"1" + b"}" * NESTING,
    "inside a field": b'{"group_id":' + b"[" * NESTING + b"]" * NESTING + b"}",
    "unclosed": b"[" * NESTING,
}


TOO_DEEP = f"request body is nested deeper than {MAX_DEPTH} levels"


@sqlite_only
@pytest.mark.parametrize("shape", NESTED_BODIES)
def test_json_nested_10000_levels_deep_is_a_400(client, engine, study_session_id, shape):
    before = table_totals(engine)
    for rule in WRITE_ENDPOINTS:
        response = client.post(
            rule.path(study_session_id=study_session_id),
            data=NESTED_BODIES[shape],
            content_type="application/json",
            headers={"Idempotency-Key": f"nested-{shape}"},
        )
        assert_answered(response, {400})
        assert response.get_json()["error"] in (TOO_DEEP, "request body is not valid JSON")
        assert table_totals(engine) == before


@sqlite_only
@pytest.mark.parametrize("rule", WRITE_ENDPOINTS, ids=str)
def test_bodies_nest_at_most_64_levels_deep_on_every_write(client, engine, study_session_id, rule):
    """64 levels are accepted; 65 and Python's recursion limit (about 1,000) are a 400.

    Around the recursion limit the parser used to accept what later code (the
    idempotency fingerprint) had to serialise again: a 500. Now nothing that deep
    gets past the parser, and nothing is written.
    """
    path = rule.path(study_session_id=study_session_id)

    def post(depth: int) -> Any:
        # The example object is one level; "extra" adds ``depth - 1`` more.
        extra = b"[" * (depth - 1) + b"]" * (depth - 1)
        raw = dump({**(body_example(rule) or {}), "extra": None})
        raw = raw.replace(b'"extra": null', b'"extra": ' + extra)
        headers = {"Idempotency-Key": f"d{depth}"}
        return client.post(path, data=raw, content_type="application/json", headers=headers)

    assert 200 <= post(MAX_DEPTH).status_code < 300
    before = table_totals(engine)
    for depth in (MAX_DEPTH + 1, 980, 1000, 1200):
        response = post(depth)
        assert_answered(response, {400})
        assert response.get_json()["error"] == TOO_DEEP
    assert table_totals(engine) == before


# -- slow and unbounded bodies against a real server ----------------------------------------

SERVER_WORKERS = 2
# As many slow clients as the server has worker processes: were each to hold a whole
# worker (gunicorn's sync worker), nothing else would be answered while they dribble.
SLOW_CLIENTS = SERVER_WORKERS
DRIBBLE_SECONDS = 4
ANSWER_WITHIN = 5.0  # seconds; a blocked server would not answer before the dribble ends
NEW_SESSION = {"group_id": 1, "study_activity_id": 1}


def read_response(sock: socket.socket) -> http.client.HTTPResponse:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response


@pytest.mark.slow
def test_bodies_sent_at_1_byte_per_second_do_not_block_other_clients(
    start_server, sqlite_file, sqlite_engine
):
    server = start_server(f"sqlite:///{sqlite_file}", workers=SERVER_WORKERS)
    body = dump(NEW_SESSION)
    head = (
        "POST /api/study-sessions HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    slow = [
        socket.create_connection(("127.0.0.1", server.port), timeout=10)
        for _ in range(SLOW_CLIENTS)
    ]
    try:
        for sock in slow:
            sock.sendall(head)
        answered = 0
        for sent in range(DRIBBLE_SECONDS):
            for sock in slow:
                sock.sendall(body[sent : sent + 1])
            second_ends = time.monotonic() + 1
            while time.monotonic() < second_ends:
                # A new connection each time, so the server has to accept it somewhere.
                read = requests.get(
                    server.url + "/api/groups",
                    headers={"Connection": "close"},
                    timeout=ANSWER_WITHIN,
                )
                write = requests.post(
                    server.url + "/api/study-sessions",
                    json=NEW_SESSION,
                    headers={"Connection": "close"},
                    timeout=ANSWER_WITHIN,
                )
                assert (read.status_code, write.status_code) == (200, 201)
                answered += 1
                time.sleep(0.1)
        assert answered >= DRIBBLE_SECONDS
        # The slow requests are still waiting for their bodies, unanswered...
        for sock in slow:
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
            sock.setblocking(True)
        # ...and once the rest arrives they are served like any other.
        for sock in slow:
            sock.sendall(body[DRIBBLE_SECONDS:])
            response = read_response(sock)
            assert response.status == 201, response.read()
    finally:
        for sock in slow:
            sock.close()
    assert table_totals(sqlite_engine)["study_sessions"][0] == answered + SLOW_CLIENTS


def send_chunked(port: int, payload: bytes, chunk_size: int = 8192) -> tuple[int, str]:
    """POST ``payload`` with Transfer-Encoding: chunked (no Content-Length); the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/study-sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        for start in range(0, len(payload), chunk_size):
            piece = payload[start : start + chunk_size]
            with contextlib.suppress(OSError):  # the server may stop reading at the limit
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        with contextlib.suppress(OSError):
            sock.sendall(b"0\r\n\r\n")
        response = read_response(sock)
        return response.status, response.read().decode()


@pytest.mark.slow
def test_chunked_body_over_the_limit_is_413_not_truncated(start_server, sqlite_file, sqlite_engine):
    """Transfer-Encoding: chunked announces no length to check up front. A valid body
    padded with whitespace past the limit must be refused, not cut at the limit and
    accepted; at the limit it is accepted."""
    limit = 65536  # the default MAX_BODY_BYTES, which the server runs with
    server = start_server(f"sqlite:///{sqlite_file}", workers=1)
    before = table_totals(sqlite_engine)
    valid = dump(NEW_SESSION)
    for size in (limit + 1, 2 * limit):
        status, text = send_chunked(server.port, valid + b" " * (size - len(valid)))
        assert status == 413, text
        problem = json.loads(text)
        assert problem["status"] == 413 and problem["request_id"]
        assert table_totals(sqlite_engine) == before
    status, text = send_chunked(server.port, valid + b" " * (limit - len(valid)))
    assert status == 201, text
    assert table_totals(sqlite_engine)["study_sessions"][0] == 1
