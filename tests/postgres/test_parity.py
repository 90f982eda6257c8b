"""The same requests give the same answers on SQLite and on PostgreSQL.

One script of reads, writes and mistakes runs against a fresh seeded database of
each engine. Every response must match: status, content type, Location and body,
once the values that differ by nature (request ids, and timestamps, which are
checked for their format first) are set aside.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_app

# The contract's timestamp: RFC 3339 in UTC with an explicit offset.
UTC_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(\+00:00|Z)")
TIMESTAMP_FIELDS = {
    "created_at",
    "start_time",
    "end_time",
    "last_session_at",
    "reviewed_at",
    "due",
    "last_review_at",
}

SESSION = {"group_id": 2, "study_activity_id": 3}
# (method, path, JSON body or None, headers)
SCRIPT: list[tuple[str, str, Any, dict[str, str]]] = [
    ("GET", "/api/groups?sort_by=name&order=desc", None, {}),
    ("GET", "/api/groups?sort_by=words_count", None, {}),
    ("GET", "/api/words?page=2&sort_by=english", None, {}),
    ("GET", "/api/words?page=3&sort_by=romaji&order=desc", None, {}),
    ("GET", "/api/words?sort_by=kanji", None, {}),
    ("GET", "/api/words/7", None, {}),
    ("GET", "/api/groups/3/words?sort_by=kanji&order=desc", None, {}),
    ("GET", "/api/groups/1/words/raw", None, {}),
    ("GET", "/api/study-activities", None, {}),
    ("GET", "/api/study-activities/2/launch", None, {}),
    ("GET", "/api/dashboard/stats", None, {}),
    ("GET", "/api/dashboard/recent-session", None, {}),
    ("POST", "/api/study-sessions", SESSION, {"Idempotency-Key": "parity-1"}),
    ("POST", "/api/study-sessions", SESSION, {"Idempotency-Key": "parity-1"}),
    ("POST", "/api/study-sessions", {**SESSION, "group_id": 1}, {"Idempotency-Key": "parity-1"}),
    ("POST", "/study_sessions", {"group_id": 1, "study_activity_id": 1}, {}),
    (
        "POST",
        "/api/study-sessions/1/review",
        {"reviews": [{"word_id": 4, "is_correct": True}, {"word_id": 9, "correct": False}]},
        {},
    ),
    ("POST", "/api/study-sessions/2/words/4/review", {"correct": True}, {}),
    ("GET", "/api/study-sessions?per_page=5", None, {}),
    ("GET", "/api/study-sessions/1", None, {}),
    ("GET", "/api/groups/2/study_sessions?sort_by=review_items_count&order=desc", None, {}),
    ("GET", "/api/study-activities/3/sessions", None, {}),
    ("GET", "/api/words/4", None, {}),
    ("GET", "/api/dashboard/stats", None, {}),
    ("GET", "/api/dashboard/recent-session", None, {}),
    # Mistakes.
    ("POST", "/api/study-sessions", {"group_id": "2", "study_activity_id": 1}, {}),
    ("POST", "/api/study-sessions", {"group_id": 999999, "study_activity_id": 1}, {}),
    ("POST", "/api/study-sessions/1/review", {"reviews": [{"word_id": 999999, "correct": 1}]}, {}),
    (
        "POST",
        "/api/study-sessions/1/review",
        {"reviews": [{"word_id": 999999, "correct": True}]},
        {},
    ),
    (
        "POST",
        "/api/study-sessions/424242/review",
        {"reviews": [{"word_id": 1, "correct": True}]},
        {},
    ),
    ("GET", "/api/study-sessions/424242", None, {}),
    ("GET", "/api/words?sort_by=nonsense", None, {}),
    ("GET", "/api/groups?page=0", None, {}),
    ("DELETE", "/api/groups", None, {}),
    # Reset, and what is left.
    ("POST", "/api/study-sessions/reset", None, {"Content-Type": "application/json"}),
    ("GET", "/api/dashboard/stats", None, {}),
    ("GET", "/api/words/4", None, {}),
]


def normalised(value: Any, key: str | None = None) -> Any:
    """``value`` with timestamps (format checked) and request ids replaced by markers."""
    if isinstance(value, dict):
        return {k: normalised(v, k) for k, v in value.items() if k != "request_id"}
    if isinstance(value, list):
        return [normalised(item) for item in value]
    if key in TIMESTAMP_FIELDS and value is not None:
        assert UTC_TIMESTAMP.fullmatch(value), (key, value)
        return "<timestamp>"
    return value


def run_script(database_url: str) -> list[dict[str, Any]]:
    app = make_app(database_url)
    client = app.test_client()
    answers = []
    for method, path, body, headers in SCRIPT:
        response = client.open(path, method=method, json=body, headers=headers)
        answers.append(
            {
                "request": f"{method} {path}",
                "status": response.status_code,
                "type": response.mimetype,
                "location": response.headers.get("Location"),
                "replayed": response.headers.get("Idempotent-Replayed"),
                "body": normalised(response.get_json()),
            }
        )
    app.extensions["lang_portal.engine"].dispose()
    return answers


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh copy of the seeded SQLite template."""
    path = tmp_path / "parity.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


def test_sqlite_and_postgresql_answer_alike(sqlite_url, pg_url):
    on_sqlite, on_postgresql = run_script(sqlite_url), run_script(pg_url)
    for sqlite_answer, postgresql_answer in zip(on_sqlite, on_postgresql, strict=True):
        assert postgresql_answer == sqlite_answer
    assert {answer["status"] for answer in on_sqlite} >= {200, 201, 400, 404, 405, 422}
