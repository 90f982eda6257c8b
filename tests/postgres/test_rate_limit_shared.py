"""One write rate limit shared by every worker of every host, through Redis.

Two gunicorn masters with two workers each (two hosts, as far as the limit can
tell) share LANG_PORTAL_RATE_LIMIT_STORAGE=redis://...: five writes across them
succeed, the sixth is a 429 with Retry-After on either server. With the default
``memory://`` each worker would count alone and let far more through.

The client sends from its own random loopback address (Linux routes all of
127.0.0.0/8 to lo), and the limit is per client address, so parallel runs of this
test never share a counter; its Redis keys are deleted afterwards.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import count_rows
from tests.servers import Gunicorn

pytestmark = pytest.mark.slow

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# A database of its own, away from db 0 where a developer's other data lives.
REDIS_DB = 13
STORAGE = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
LIMIT = 5
VALID = {"group_id": 1, "study_activity_id": 1}


def redis_or_skip() -> Any:
    """A client on the test's Redis database, or a visible skip when Redis is not there."""
    try:
        socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1).close()
    except OSError:
        pytest.skip(
            f"Redis does not answer on {REDIS_HOST}:{REDIS_PORT}; the shared rate-limit test "
            "needs it (LANG_PORTAL_RATE_LIMIT_STORAGE=redis://...)"
        )
    import redis

    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)


def loopback_address(rng: random.Random) -> str:
    """A random 127.x.y.z address other than 127.0.0.1."""
    return f"127.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"


def request(
    server: Gunicorn, method: str, path: str, source: str, body: Any = None
) -> tuple[int, http.client.HTTPMessage, str]:
    """One HTTP request to ``server`` from the loopback address ``source``.

    The headers come back as a case-insensitive mapping: HTTP header names are, and
    servers differ in how they spell them (waitress sends ``X-Request-Id``).
    """
    connection = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=15, source_address=(source, 0)
    )
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        payload = json.dumps(body) if body is not None else None
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        connection.close()


@pytest.fixture
def redis_client() -> Iterator[Any]:
    client = redis_or_skip()
    yield client
    client.close()


@pytest.fixture
def sources(redis_client: Any) -> Iterator[list[str]]:
    """Two client addresses of this run; their counters are removed from Redis afterwards."""
    rng = random.Random()
    addresses = [loopback_address(rng), loopback_address(rng)]
    yield addresses
    for address in addresses:
        for key in redis_client.scan_iter(match=f"*{address}/*"):
            redis_client.delete(key)


@pytest.fixture
def servers(pg_url: str, tmp_path: Path) -> Iterator[list[Gunicorn]]:
    """Two gunicorn masters, two workers each, sharing the limit through Redis."""
    settings = {"RATE_LIMIT": f"{LIMIT}/minute", "RATE_LIMIT_STORAGE": STORAGE}
    running = [
        Gunicorn(pg_url, tmp_path / f"host{i}.log", workers=2, settings=settings) for i in range(2)
    ]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(Gunicorn.start, running))
    try:
        yield running
    finally:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(Gunicorn.stop, running))


def test_the_write_limit_holds_across_workers_and_hosts(servers, sources, redis_client, pg_engine):
    client, other_client = sources
    # Ten writes, alternating hosts: the first five succeed wherever they land.
    statuses = [
        request(servers[i % 2], "POST", "/api/study-sessions", client, VALID)[0] for i in range(10)
    ]
    assert statuses == [201] * LIMIT + [429] * (10 - LIMIT)

    for server in servers:
        status, headers, text = request(server, "POST", "/api/study-sessions", client, VALID)
        assert status == 429
        assert headers["Content-Type"] == "application/problem+json"
        assert 1 <= int(headers["Retry-After"]) <= 60
        body = json.loads(text)
        assert body["status"] == 429 and body["request_id"] == headers["X-Request-ID"]
        # Reads are not limited.
        assert request(server, "GET", "/api/study-sessions", client)[0] == 200

    # The limit is per client: another address still has its five writes.
    assert request(servers[1], "POST", "/api/study-sessions", other_client, VALID)[0] == 201
    assert count_rows(pg_engine, "study_sessions") == LIMIT + 1
    # The counters are in Redis, under the client's address.
    assert any(redis_client.scan_iter(match=f"*{client}/*"))
