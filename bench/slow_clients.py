"""Slow clients against a running server: does a normal GET still answer, and when are they cut?

    python bench/slow_clients.py --url http://127.0.0.1:5811 --connections 64

Each slow client sends the headers of ``POST /api/study-sessions`` with
``Content-Length: 1000`` and one byte of body. A quarter of them then dribble one more
byte every ``--dribble-seconds``; the rest send nothing more. Meanwhile a normal
``GET /api/groups`` is timed once a second on a fresh connection. Every slow
connection is watched until the server closes it (or answers it), or until
``--watch-seconds`` have passed. The summary is one JSON line (issue 13, finding 1).
"""

from __future__ import annotations

import json
import selectors
import socket
import statistics
import threading
import time
from urllib.parse import urlsplit

import click
import requests

BODY_LENGTH = 1000


def open_slow_connection(host: str, port: int) -> socket.socket:
    """A connection that has sent a request's headers and the first byte of its body."""
    connection = socket.create_connection((host, port), timeout=5)
    connection.sendall(
        (
            f"POST /api/study-sessions HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {BODY_LENGTH}\r\n\r\n{{"
        ).encode()
    )
    connection.setblocking(False)
    return connection


def time_gets(url: str, stop: threading.Event, latencies: list[float], timeout: float) -> None:
    """Time GET /api/groups once a second until ``stop``; a failure counts as ``timeout``."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            requests.get(url + "/api/groups", timeout=timeout).raise_for_status()
            latencies.append(time.monotonic() - started)
        except requests.RequestException:
            latencies.append(timeout)
        stop.wait(1.0)


def watch(
    connections: list[socket.socket], dribblers: set[int], dribble: float, limit: float
) -> dict[int, float]:
    """Seconds until the server closed (or answered) each connection; absent if it never did."""
    opened = time.monotonic()
    closed: dict[int, float] = {}
    selector = selectors.DefaultSelector()
    for index, connection in enumerate(connections):
        selector.register(connection, selectors.EVENT_READ, index)
    next_dribble = opened + dribble
    while len(closed) < len(connections) and time.monotonic() - opened < limit:
        for key, _ in selector.select(timeout=0.1):
            index = key.data
            try:
                data = key.fileobj.recv(4096)  # type: ignore[union-attr]
            except (ConnectionError, BlockingIOError):
                data = b""
            if not data or b"\r\n\r\n" in data:  # closed, or answered (a 408 or 400)
                closed[index] = time.monotonic() - opened
                selector.unregister(key.fileobj)
        if time.monotonic() >= next_dribble:
            next_dribble += dribble
            for index in dribblers - closed.keys():
                try:
                    connections[index].send(b" ")
                except OSError:
                    closed[index] = time.monotonic() - opened
                    selector.unregister(connections[index])
    return closed


def measure(url: str, count: int, dribble: float, limit: float) -> dict[str, object]:
    """Open ``count`` slow connections, time normal GETs meanwhile and watch them close."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    stop = threading.Event()
    latencies: list[float] = []
    connections = [open_slow_connection(host, port) for _ in range(count)]
    dribblers = set(range(0, count, 4))
    timer = threading.Thread(target=time_gets, args=(url, stop, latencies, 5.0), daemon=True)
    timer.start()
    try:
        closed = watch(connections, dribblers, dribble, limit)
    finally:
        stop.set()
        timer.join()
        for connection in connections:
            connection.close()
    stalled = [closed[i] for i in range(count) if i not in dribblers and i in closed]
    dribbling = [closed[i] for i in dribblers if i in closed]
    return {
        "connections": count,
        "get_p50_s": round(statistics.median(latencies), 3),
        "get_max_s": round(max(latencies), 3),
        "gets": len(latencies),
        "stalled_closed": f"{len(stalled)}/{count - len(dribblers)}",
        "stalled_close_max_s": round(max(stalled), 1) if stalled else None,
        "dribbling_closed": f"{len(dribbling)}/{len(dribblers)}",
        "dribbling_close_max_s": round(max(dribbling), 1) if dribbling else None,
    }


@click.command()
@click.option("--url", default="http://127.0.0.1:5811", show_default=True)
@click.option("--connections", default=64, show_default=True)
@click.option("--dribble-seconds", default=2.0, show_default=True)
@click.option("--watch-seconds", default=40.0, show_default=True)
def main(url: str, connections: int, dribble_seconds: float, watch_seconds: float) -> None:
    """Print one JSON line: GET latency under slow clients and when they were closed."""
    click.echo(json.dumps(measure(url, connections, dribble_seconds, watch_seconds)))


if __name__ == "__main__":
    main()
