"""Assertions and database helpers shared by test modules across the suite.

A helper two test modules need lives here, never in one of them: importing from a test
module ties its fixtures and constants to every module that borrows from it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from lang_portal.schema import metadata
from tests.conftest import count_rows

# Where study sessions are created, and a body that creates one (group 1, activity 1).
STUDY_SESSIONS = "/api/study-sessions"
NEW_STUDY_SESSION = {"group_id": 1, "study_activity_id": 1}


def assert_problem(response: Any, status: int, pointer: str | None = None) -> dict[str, Any]:
    """Assert the response is a problem-details error with this status (and field pointer).

    Returns the parsed body, so a test can go on to check its message.
    """
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["error"] == body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    if pointer is not None:
        assert body["errors"][0]["pointer"] == pointer
        assert pointer.removeprefix("#/") in body["error"]
    return body


def snapshot(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in primary-key order.

    Two equal snapshots mean the write changed nothing at all; compare with
    ``tests.reliability.support.table_totals``, which keeps only counts and counter sums.
    """
    with engine.connect() as connection:
        return {
            name: [
                row._asdict()
                for row in connection.execute(
                    select(table).order_by(*(table.primary_key.columns or table.columns))
                )
            ]
            for name, table in metadata.tables.items()
        }


def assert_unchanged_but_last_active(
    before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]
) -> None:
    """Assert two :func:`snapshot`s are equal but for learners' ``last_active_at``, which
    may only have moved forward.

    Every write that goes through notes when its learner last wrote, also one answered
    from a stored response (an Idempotency-Key replay); nothing else may change.
    """

    def without_last_active(state: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        learners = [{**row, "last_active_at": None} for row in state["learners"]]
        return {**state, "learners": learners}

    assert without_last_active(after) == without_last_active(before)
    for old, new in zip(before["learners"], after["learners"], strict=True):
        if old["last_active_at"] is not None:
            assert new["last_active_at"] >= old["last_active_at"], new


def start_session(client: Any, group_id: int = 1, study_activity_id: int = 1) -> int:
    """Start a study session through the API; returns its id."""
    response = client.post(
        STUDY_SESSIONS, json={"group_id": group_id, "study_activity_id": study_activity_id}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def review_word(client: Any, study_session_id: int, word_id: int = 1) -> int:
    """Record one correct review through the API; returns the review item's id."""
    response = client.post(
        f"{STUDY_SESSIONS}/{study_session_id}/words/{word_id}/review", json={"correct": True}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def reset_history(client: Any, engine: Engine) -> None:
    """Reset the study history as the portal does (an empty JSON body); check it is gone."""
    response = client.post(
        f"{STUDY_SESSIONS}/reset", data=b"", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.get_json()
    assert count_rows(engine, "study_sessions") == 0
    assert count_rows(engine, "word_review_items") == 0


@contextmanager
def read_only(files: list[Path]) -> Iterator[None]:
    """Make ``files`` unwritable for the block: chattr +i as root, chmod a-w otherwise."""
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", *map(str, files)], capture_output=True)
        if done.returncode != 0:  # it may have marked some of the files before it failed
            subprocess.run(["chattr", "-i", *map(str, files)], capture_output=True)
            pytest.skip(f"chattr +i is not supported here: {done.stderr.decode().strip()}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", *map(str, files)], check=True)
        return
    modes = {file: file.stat().st_mode for file in files}
    for file in files:
        file.chmod(0o444)
    try:
        yield
    finally:
        for file, mode in modes.items():
            file.chmod(mode)
