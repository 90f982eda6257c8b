"""Writes go on while the rate limit's Redis is stopped or frozen, and the shared
limit comes back with it.

Two ``lang-portal serve`` processes (two hosts, as far as the limit can tell) share a
``redis-server`` that this test starts on a free port, away from any Redis of the
machine. The test stops that Redis (SIGTERM), starts it again, then freezes it
(SIGSTOP) and thaws it. While it is gone every write answers 201, or 429 from the
limit each process now keeps in memory, never a 5xx, and within a bounded time; a
warning is logged. Once it is back, the five writes a client may make are counted
across both servers again, in Redis.

Requests come from random loopback addresses (Linux routes 127.0.0.0/8 to lo), and
the limit is per client address, so each phase starts with a fresh budget.
"""

from __future__ import annotations

import http.client
import json
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import count_rows
from tests.servers import free_port

pytestmark = pytest.mark.slow

LIMIT = 5
VALID = {"group_id": 1, "study_activity_id": 1}
# On a frozen Redis the write that notices waits for two 0.5 s socket timeouts and the
# limiter's first health check for two more: about 2 s (measured 2.0 s). Bounded well under:
WRITE_DEADLINE_SECONDS = 4.0
# Flask-Limiter retries a dead storage after 1, 2, 4, 8, 16 s (then every 32 s at worst).
RECOVERY_DEADLINE_SECONDS = 40.0
FALLBACK_WARNING = "falling back to in-memory storage"


class RedisServer:
    """A throwaway ``redis-server`` on a free loopback port, without persistence."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except Exception:  # not listening yet
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer; see {self.log_path}")

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a frozen one cannot handle SIGTERM
            self.process.terminate()
            self.process.wait(timeout=10)

    def freeze(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


def loopback_address(rng: random.Random) -> str:
    """A random 127.x.y.z address other than 127.0.0.1."""
    return f"127.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"


def timed_write(server: Any, source: str) -> tuple[int, float]:
    """POST a study session to ``server`` from ``source``: its status and how long it took."""
    started = time.monotonic()
    connection = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=15, source_address=(source, 0)
    )
    try:
        connection.request(
            "POST",
            "/api/study-sessions",
            body=json.dumps(VALID),
            headers={"Content-Type": "application/json"},
        )
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        connection.close()


def redis_count(redis: RedisServer, source: str) -> int:
    """The write counter Redis holds for the client ``source`` (0 when none)."""
    client = redis.client()
    try:
        return sum(int(client.get(key) or 0) for key in client.scan_iter(match=f"*/{source}/*"))
    finally:
        client.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed; the Redis outage test starts its own")
    server = RedisServer(tmp_path / "redis.log").start()
    yield server
    server.stop()


@pytest.fixture
def servers(
    redis_server: RedisServer, sqlite_file: Path, start_server: Callable[..., Any]
) -> list[Any]:
    """Two one-worker servers on one database, sharing the limit through ``redis_server``."""
    settings = {
        "RATE_LIMIT": f"{LIMIT}/minute",
        "RATE_LIMIT_STORAGE": redis_server.url,
        "LOG_LEVEL": "INFO",
    }
    # One worker each, so "this server is back on Redis" means every process is.
    return [start_server(f"sqlite:///{sqlite_file}", workers=1, **settings) for _ in range(2)]


def assert_writes_go_on(servers: list[Any], source: str) -> None:
    """Each server, alone in memory now, lets ``source`` make five writes, then says 429."""
    for server in servers:
        results = [timed_write(server, source) for _ in range(LIMIT + 2)]
        statuses = [status for status, _ in results]
        assert statuses == [201] * LIMIT + [429] * 2, statuses
        slowest = max(seconds for _, seconds in results)
        assert slowest < WRITE_DEADLINE_SECONDS, f"a write took {slowest:.1f}s"


def wait_until_back_on_redis(servers: list[Any], redis: RedisServer, rng: random.Random) -> int:
    """Write from fresh addresses until each server counts in Redis again; how many writes."""
    writes = 0
    for server in servers:
        started = time.monotonic()
        while True:
            probe = loopback_address(rng)
            status, seconds = timed_write(server, probe)
            writes += 1
            assert status == 201 and seconds < WRITE_DEADLINE_SECONDS, (status, seconds)
            if redis_count(redis, probe) == 1:
                break
            assert time.monotonic() - started < RECOVERY_DEADLINE_SECONDS, "never back on Redis"
            time.sleep(0.5)
    return writes


def assert_limit_shared(servers: list[Any], redis: RedisServer, source: str) -> None:
    """Five writes from ``source`` across both servers pass, the sixth on either is a 429."""
    statuses = [timed_write(servers[i % 2], source)[0] for i in range(LIMIT)]
    assert statuses == [201] * LIMIT
    assert redis_count(redis, source) == LIMIT
    assert [timed_write(server, source)[0] for server in servers] == [429, 429]


def test_writes_survive_a_stopped_and_a_frozen_redis(
    servers, redis_server, sqlite_engine, tmp_path
):
    rng = random.Random()
    log = tmp_path / "server.log"
    assert_limit_shared(servers, redis_server, loopback_address(rng))
    assert FALLBACK_WARNING not in log.read_text()
    # Each 201 stored one session: the five shared writes, then every write below.
    expected_sessions = LIMIT

    redis_server.stop()
    assert_writes_go_on(servers, loopback_address(rng))
    expected_sessions += 2 * LIMIT
    assert log.read_text().count(FALLBACK_WARNING) == 2  # once per server process

    redis_server.start()
    expected_sessions += wait_until_back_on_redis(servers, redis_server, rng)
    assert_limit_shared(servers, redis_server, loopback_address(rng))
    expected_sessions += LIMIT

    redis_server.freeze()
    try:
        assert_writes_go_on(servers, loopback_address(rng))
        expected_sessions += 2 * LIMIT
        assert log.read_text().count(FALLBACK_WARNING) == 4
    finally:
        redis_server.thaw()
    expected_sessions += wait_until_back_on_redis(servers, redis_server, rng)
    assert_limit_shared(servers, redis_server, loopback_address(rng))
    expected_sessions += LIMIT

    # No write answered 5xx (each assert above), and each 201 stored its session.
    assert count_rows(sqlite_engine, "study_sessions") == expected_sessions
