"""Safe retries with the ``Idempotency-Key`` header (after the IETF draft).

The policy, also written in the API docs:

- Keys belong to the learner who sends them: two learners may use the same key, and
  each gets only their own stored responses.
- A write that carries a key is done at most once. The same key with the same
  request (route, URL arguments and JSON body) returns the stored response: the
  same status and body, with ``Idempotent-Replayed: true``.
- The same key with a different request is refused with 422.
- While the first request with a key is still being processed, others get 409.
- A request that fails (4xx or 5xx) stores nothing, so it can be retried with
  the same key.
- Keys are kept for LANG_PORTAL_IDEMPOTENCY_TTL_HOURS (24 by default), then removed.

The key is claimed in the same transaction as the work it guards, by an INSERT on
its primary key, and the response is stored there too. So a claim can never outlive
its work: if the work fails, or its worker dies, the transaction rolls back claim and
work together, and a retry with the same key runs afresh. Two workers, or two hosts
sharing PostgreSQL, can never both run the same request: the database decides. On
SQLite writers take turns, so a retry waits for the first request and then replays
it; on PostgreSQL a retry that finds the first request still running gets a 409.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response, current_app, request
from sqlalchemy import Connection, delete, select

from lang_portal import db, schema
from lang_portal.errors import ApiError, FieldError

HEADER = "Idempotency-Key"
_PURGE_EVERY_SECONDS = 600.0
_last_purge = 0.0


def key_from_request() -> str | None:
    """The request's Idempotency-Key, unquoted, or None when it has none.

    Accepts a structured-field string (``"8e03..."``) or a bare token.
    Raises ApiError 400 when it is not 1 to 255 printable ASCII characters.
    """
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if not 1 <= len(key) <= 255 or not all(" " <= ch <= "~" for ch in key):
        detail = "must be 1 to 255 printable ASCII characters"
        raise ApiError(400, f"{HEADER} {detail}", [FieldError(f"#/headers/{HEADER}", detail)])
    return key


def fingerprint(body: Any) -> str:
    """A digest of what makes two requests the same: endpoint, URL arguments, JSON body."""
    canonical = json.dumps(
        [request.endpoint, request.view_args, body], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(row: Any) -> Response:
    response = Response(row.response_body, status=row.status_code, mimetype="application/json")
    if row.location:
        response.headers["Location"] = row.location
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _claim(connection: Connection, learner_id: int, key: str, digest: str) -> Response | None:
    """Take the learner's key in this transaction, or answer from the response it holds."""
    if not db.try_transaction_lock(connection, f"idempotency:{learner_id}:{key}"):
        raise ApiError(
            409,
            "a request with this Idempotency-Key is still in progress; retry shortly",
            headers={"Retry-After": "1"},
        )
    now = datetime.now(UTC)
    _purge_expired(connection, now)
    claim = db.upsert(connection, schema.idempotency_keys, ["learner_id", "key"]).values(
        learner_id=learner_id, key=key, fingerprint=digest, created_at=now, locked_at=now
    )
    claimed = connection.execute(
        claim.on_conflict_do_nothing(index_elements=["learner_id", "key"]).returning(
            schema.idempotency_keys.c.key
        )
    ).first()
    if claimed is not None:
        return None
    row = connection.execute(select(schema.idempotency_keys).where(*_named(learner_id, key))).one()
    if row.fingerprint != digest:
        raise ApiError(422, "this Idempotency-Key was already used with a different request")
    return _replay(row)


def _named(learner_id: int, key: str) -> tuple[Any, Any]:
    """The conditions that find one learner's key."""
    return (
        schema.idempotency_keys.c.learner_id == learner_id,
        schema.idempotency_keys.c.key == key,
    )


def _store(connection: Connection, learner_id: int, key: str, response: Response) -> None:
    connection.execute(
        schema.idempotency_keys.update()
        .where(*_named(learner_id, key))
        .values(
            status_code=response.status_code,
            response_body=response.get_data(as_text=True),
            location=response.headers.get("Location"),
        )
    )


def _purge_expired(connection: Connection, now: datetime) -> None:
    """Delete expired keys, at most once every ten minutes per process."""
    global _last_purge
    if time.monotonic() - _last_purge < _PURGE_EVERY_SECONDS:
        return
    _last_purge = time.monotonic()
    purge_expired(connection, now)


def purge_expired(connection: Connection, now: datetime) -> int:
    """Delete the keys older than the configured time to live; returns how many."""
    cutoff = now - timedelta(hours=current_app.config["IDEMPOTENCY_TTL_HOURS"])
    return connection.execute(
        delete(schema.idempotency_keys).where(schema.idempotency_keys.c.created_at < cutoff)
    ).rowcount


def run_once(
    connection: Connection,
    learner_id: int,
    key: str,
    digest: str,
    work: Callable[[Connection], Response],
) -> Response:
    """Run ``work`` at most once for this learner's key and request, in the caller's write
    transaction.

    ``digest`` is the request's :func:`fingerprint`. Whatever ``work`` raises rolls
    back the claim with the work, so nothing is stored for a failed request.
    """
    stored = _claim(connection, learner_id, key, digest)
    if stored is not None:
        return stored
    response = work(connection)
    _store(connection, learner_id, key, response)
    return response
