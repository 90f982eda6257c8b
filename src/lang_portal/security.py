"""How often a client may write (the write rate limit, per learner or per client address),
and how often a sign-in may fail (per name and per address)."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, current_app, g
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage, MovingWindowSupport, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry

from lang_portal import identity

# Every write route spends from this one budget per client, so the limit is per client
# and not per endpoint.
WRITE_SCOPE = "writes"
_EXTENSION = "lang_portal.write_limit"
_SIGN_IN_EXTENSION = "lang_portal.sign_in_failures"
# Failed sign-ins allowed per name and per client address: 5 in any 15 minutes, then
# a 429 until the oldest failure is 15 minutes old, even for the right password.
SIGN_IN_FAILURES = RateLimitItemPerMinute(5, 15)
# A healthy Redis answers in milliseconds. These bound how long a write waits on a
# stopped or frozen one before the limiter falls back to counting in memory; one
# immediate retry replaces a pooled connection that a Redis restart has closed.
REDIS_TIMEOUT_SECONDS = 0.5
_REDIS_SCHEMES = ("redis://", "rediss://", "redis+unix://")


def write_limit_key() -> str:
    """Whose budget a write spends: the learner's in the ``accounts`` mode, else the
    client address.

    In the ``accounts`` mode the identity is resolved before the limit, so every
    write that gets here has one: a school behind one NAT address does not share one
    budget. In the ``open`` mode every request is the default learner, so the address
    tells clients apart. Behind LANG_PORTAL_TRUSTED_PROXIES the app's ProxyFix has
    already put the real client's address in ``remote_addr``. This is the one place
    that names the client.
    """
    caller = identity.known()
    if caller is not None and identity.accounts_mode():
        return f"learner:{caller.learner_id}"
    return get_remote_address()


def init_app(app: Flask) -> None:
    """Set up the write rate limit (LANG_PORTAL_RATE_LIMIT) for :func:`check_write_limit`.

    The counters live in RATE_LIMIT_STORAGE: per process with ``memory://``, shared
    by every worker and host with ``redis://``. When that storage fails, Flask-Limiter
    logs a warning and counts in this process's memory until the storage answers
    again, so an outage of Redis loosens the limit instead of failing writes.
    """
    enabled = app.config["RATE_LIMIT"].strip().lower() != "off"

    # Flask-Limiter's after-request hook puts its own Retry-After (the seconds left in
    # the window) on every response of a limited request: on a 201, and over the
    # advice of a 409 or 503. after_request hooks run in reverse order of
    # registration: this one runs last, after the limiter's, and keeps its value only
    # on the 429 it refused; remember_own_retry_after (below) runs before it.
    @app.after_request
    def retry_after_only_on_refusals(response: Response) -> Response:
        own = g.pop("own_retry_after", None)
        if response.status_code != 429:
            response.headers.pop("Retry-After", None)
            if own is not None:
                response.headers["Retry-After"] = own
        return response

    storage_uri = app.config["RATE_LIMIT_STORAGE"]
    app.extensions[_SIGN_IN_EXTENSION] = SignInFailures(storage_uri)
    limiter = Limiter(
        write_limit_key,
        app=app,
        storage_uri=storage_uri,
        storage_options=_storage_options(storage_uri),
        in_memory_fallback_enabled=True,
        headers_enabled=True,
        enabled=enabled,
        default_limits=[],
    )

    @app.after_request
    def remember_own_retry_after(response: Response) -> Response:
        g.own_retry_after = response.headers.get("Retry-After")
        return response

    # Flask-Limiter's own logger has no handler; this one writes to lang-portal's log.
    limiter.logger = logging.getLogger("lang_portal.rate_limits")
    if not enabled:
        app.extensions[_EXTENSION] = _spend_one_write
        return
    shared = limiter.shared_limit(app.config["RATE_LIMIT"], scope=WRITE_SCOPE)
    app.extensions[_EXTENSION] = shared(_spend_one_write)


def check_write_limit() -> None:
    """Spend one write from the client's budget, or refuse the request with a 429.

    Call it after :func:`lang_portal.identity.current`, so a request refused for its
    identity spends nothing. Raises ``flask_limiter.RateLimitExceeded`` when the budget is spent.
    """
    current_app.extensions[_EXTENSION]()


def _spend_one_write() -> None:
    """Nothing: Flask-Limiter counts each call of this function once it is limited."""


def _storage_options(storage_uri: str) -> dict[str, Any]:
    if not storage_uri.startswith(_REDIS_SCHEMES):
        return {}
    return {
        "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        "socket_timeout": REDIS_TIMEOUT_SECONDS,
        "retry": Retry(NoBackoff(), retries=1),
    }


class SignInFailures:
    """Failed sign-ins, counted per name and per client address in RATE_LIMIT_STORAGE
    (shared by every worker with Redis), with the ``limits`` library.

    Like the write limit, it falls back to this process's memory while that storage
    fails, so a Redis outage loosens the limit instead of refusing every sign-in.
    """

    def __init__(self, storage_uri: str) -> None:
        self._shared = _strategy(storage_from_string(storage_uri, **_storage_options(storage_uri)))
        self._fallback = _strategy(MemoryStorage())

    def retry_after(self, name_key: str) -> int | None:
        """Seconds until a sign-in as ``name_key`` from this client may be tried again;
        None when it may be tried now."""
        waits = [
            self._call("get_window_stats", key).reset_time - time.time()
            for key in self._keys(name_key)
            if not self._call("test", key)
        ]
        return max(1, round(max(waits))) if waits else None

    def failed(self, name_key: str) -> None:
        """Count one failed sign-in as ``name_key`` from this client."""
        for key in self._keys(name_key):
            self._call("hit", key)

    @staticmethod
    def _keys(name_key: str) -> tuple[str, str]:
        # The client's address, behind LANG_PORTAL_TRUSTED_PROXIES the one ProxyFix found.
        return f"sign-in-name:{name_key}", f"sign-in-address:{get_remote_address()}"

    def _call(self, method: str, key: str) -> Any:
        try:
            return getattr(self._shared, method)(SIGN_IN_FAILURES, key)
        except Exception:  # any failure of the storage: count in memory instead
            logging.getLogger("lang_portal.rate_limits").warning(
                "sign-in failures: storage unavailable, counting in memory", exc_info=True
            )
            return getattr(self._fallback, method)(SIGN_IN_FAILURES, key)


def _strategy(storage: Storage) -> RateLimiter:
    """A moving window where the storage keeps one (memory, Redis), else a fixed one."""
    if isinstance(storage, MovingWindowSupport):
        return MovingWindowRateLimiter(storage)
    return FixedWindowRateLimiter(storage)


def sign_in_failures() -> SignInFailures:
    """The app's count of failed sign-ins."""
    return current_app.extensions[_SIGN_IN_EXTENSION]
