"""Assertions and database helpers shared by test modules across the suite.

A helper two test modules need lives here, never in one of them: importing from a test
module ties its fixtures and constants to every module that borrows from it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from lang_portal.schema import metadata


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
    ``tests.reliability.support.snapshot``, which keeps only counts and counter sums.
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
