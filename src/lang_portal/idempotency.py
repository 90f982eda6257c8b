"""Safe retries with the ``Idempotency-Key`` header (after the IETF draft).

The policy, also written in the API docs:

- A write that carries a key is done at most once. The same key with the same
  request (route, URL arguments and JSON body) returns the stored response: the
  same status and body, with ``Idempotent-Replayed: true``.
- The same key with a different request is refused with 422.
- While the first request with a key is still being processed, others get 409.
- A request that fails (4xx or 5xx) stores nothing, so it can be retried with
  the same key.
- Keys are kept for LANG_PORTAL_IDEMPOTENCY_TTL_HOURS (24 by default), then removed.

Claiming a key is an INSERT against the primary key, so two workers, or two hosts
sharing PostgreSQL, can never both run the same request: the database decides.
The stored response is written in the same transaction as the work it describes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Response, current_app, request
from sqlalchemy import Connection, delete, select, update

from lang_portal import db
from lang_portal.errors import ApiError, FieldError
from lang_portal.schema import idempotency_keys

log = logging.getLogger("lang_portal.idempotency")

HEADER = "Idempotency-Key"
# A claim older than this belongs to a request whose worker died; it may be taken over.
STALE_AFTER = timedelta(seconds=60)
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


def _fingerprint() -> str:
    """A digest of what makes two requests the same: endpoint, URL arguments, body."""
    body = json.loads(request.get_data(cache=True) or b"null")
    canonical = json.dumps(
        [request.endpoint, request.view_args, body], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(row: object) -> Response:
    response = Response(row.response_body, status=row.status_code, mimetype="application/json")
    if row.location:
        response.headers["Location"] = row.location
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _claim(key: str, fingerprint: str) -> Response | None:
    """Take the key for this request, or answer from what the key already holds."""
    now = datetime.now(UTC)
    with db.writing() as connection:
        _purge_expired(connection, now)
        claim = db.upsert(connection, idempotency_keys, ["key"]).values(
            key=key, fingerprint=fingerprint, created_at=now, locked_at=now
        )
        claimed = connection.execute(
            claim.on_conflict_do_nothing(index_elements=["key"]).returning(idempotency_keys.c.key)
        ).first()
        if claimed is not None:
            return None
        row = connection.execute(
            select(idempotency_keys).where(idempotency_keys.c.key == key)
        ).one_or_none()
        if row is None:  # the first request failed and released the key just now
            raise ApiError(409, "a request with this Idempotency-Key was just retried; try again")
        if row.fingerprint != fingerprint:
            raise ApiError(422, "this Idempotency-Key was already used with a different request")
        if row.status_code is not None:
            return _replay(row)
        if row.locked_at > now - STALE_AFTER:
            raise ApiError(
                409,
                "a request with this Idempotency-Key is still in progress; retry shortly",
                headers={"Retry-After": "1"},
            )
        # Only one of several racing takeovers matches the old locked_at.
        taken = connection.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.key == key, idempotency_keys.c.locked_at == row.locked_at)
            .values(locked_at=now)
        ).rowcount
        if not taken:
            raise ApiError(409, "a request with this Idempotency-Key is still in progress")
        return None


def _release(key: str) -> None:
    """Forget an unfinished claim so the client can retry with the same key."""
    try:
        with db.writing() as connection:
            connection.execute(
                delete(idempotency_keys).where(
                    idempotency_keys.c.key == key, idempotency_keys.c.status_code.is_(None)
                )
            )
    except Exception:  # the claim goes stale and is taken over on the next retry
        log.warning("could not release Idempotency-Key claim", exc_info=True)


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
        delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff)
    ).rowcount


def run_once(key: str, work: Callable[[Connection], Response]) -> Response:
    """Run ``work`` in a write transaction at most once for this key and request."""
    stored = _claim(key, _fingerprint())
    if stored is not None:
        return stored
    try:
        with db.writing() as connection:
            response = work(connection)
            connection.execute(
                update(idempotency_keys)
                .where(idempotency_keys.c.key == key)
                .values(
                    status_code=response.status_code,
                    response_body=response.get_data(as_text=True),
                    location=response.headers.get("Location"),
                )
            )
    except BaseException:
        _release(key)
        raise
    return response
