"""Logs: one line per request (text or JSON), and a line for every created session."""

from __future__ import annotations

import json
import logging

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
