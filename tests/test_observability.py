"""Logs: one line per request (text or JSON), and a line for every created session."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import pytest

from lang_portal.observability import JsonFormatter
from tests.conftest import make_app


def _records(logger_name, caplog, action):
    logger = logging.getLogger(logger_name)
    logger.addHandler(caplog.handler)
    try:
        action()
    finally:
        logger.removeHandler(caplog.handler)
    return [r for r in caplog.records if r.name == logger_name]


def test_json_log_lines_carry_the_request_fields(database_url, caplog):
    client = make_app(database_url, LOG_LEVEL="INFO", LOG_FORMAT="json").test_client()
    (record,) = _records(
        "lang_portal.requests",
        caplog,
        lambda: client.get("/api/groups/1", headers={"X-Request-ID": "json-1"}),
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["method"] == "GET" and line["path"] == "/api/groups/1"
    assert line["status"] == 200 and line["request_id"] == "json-1"
    assert isinstance(line["ms"], float)
    handler = logging.getLogger("lang_portal").handlers[0]
    assert isinstance(handler.formatter, JsonFormatter)


def test_created_sessions_are_logged_after_commit(database_url, caplog):
    client = make_app(database_url, LOG_LEVEL="INFO").test_client()

    def create():
        client.post(
            "/api/study-sessions",
            json={"group_id": 2, "study_activity_id": 3},
            headers={"X-Request-ID": "made-it"},
        )
        client.post("/api/study-sessions", json={"group_id": 999, "study_activity_id": 3})

    (record,) = _records("lang_portal.study_sessions", caplog, create)
    assert record.getMessage() == (
        "study session 1 created: group 2, activity 3, request_id=made-it"
    )


FORGED = "2026-12-01 12:00:00,000 INFO lang_portal.requests: POST /api/study-sessions/reset 200"


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize(
    ("method", "path", "text_shows"),
    [
        ("GET", "/api/words\n" + FORGED, "GET /api/words\\x0a" + FORGED),
        ("GET", "/api/words\r\n" + FORGED, "GET /api/words\\x0d\\x0a" + FORGED),
        ("GET", "/portal/words\x1b[2K\u2028" + FORGED, "GET /portal/words\\x1b[2K\\u2028" + FORGED),
        ("GET", "/api/words\\x0a", "GET /api/words\\\\x0a"),
        ("GE\x85T", "/api/words", "GE\\x85T /api/words"),
    ],
)
def test_a_client_cannot_forge_a_log_line(
    database_url, capsys, log_format, method, path, text_shows
):
    client = make_app(database_url, LOG_LEVEL="INFO", LOG_FORMAT=log_format).test_client()
    capsys.readouterr()
    client.open(quote(path), method=method, headers={"X-Request-ID": "forge-1"})
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    if log_format == "json":
        entry = json.loads(lines[0])
        assert (entry["method"], entry["path"]) == (method, path)
    else:
        assert f": {text_shows} " in lines[0]
        assert lines[0].endswith(" request_id=forge-1")
