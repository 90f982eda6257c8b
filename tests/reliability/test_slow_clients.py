"""Slow clients cannot take ``lang-portal serve`` down (issue 13, finding 1).

Each slow client sends the headers of ``POST /api/study-sessions`` with
``Content-Length: 1000`` and one byte of body; most then send nothing more, some
dribble a byte every 2 s. Under gunicorn's gthread worker eight of them made every
normal request time out. Now a normal GET must still answer within a second while 64
of them are open, the silent ones must be closed by the server within a bound, and
none of them may create a study session.
"""

from __future__ import annotations

import selectors
import socket
import time

import pytest
import requests
from sqlalchemy import func, select

from lang_portal import schema

pytestmark = pytest.mark.slow

SLOW_CLIENTS = 64
DRIBBLE_EVERY = 4  # one slow client in four dribbles
DRIBBLE_SECONDS = 2.0
GET_WITHIN = 1.0  # seconds a normal GET may take meanwhile
CLOSED_WITHIN = 15.0  # seconds after which the server must have closed a silent client
GET_SPACING = 0.5


def open_slow_client(port: int) -> socket.socket:
    """A connection that has sent a POST's headers and the first of its 1000 body bytes."""
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    client.sendall(
        (
            f"POST /api/study-sessions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        ).encode()
    )
    client.setblocking(False)
    return client


def closed_by_server(client: socket.socket) -> bool:
    """Whether the server has closed (or answered) this connection; it never reads it."""
    try:
        data = client.recv(4096)
    except BlockingIOError:
        return False
    except ConnectionError:
        return True
    return True if not data else b"\r\n\r\n" in data


def test_slow_clients_neither_delay_a_get_nor_stay_open(start_server, sqlite_file, sqlite_engine):
    server = start_server(f"sqlite:///{sqlite_file}", workers=2)
    with sqlite_engine.connect() as connection:
        sessions_before = connection.scalar(select(func.count()).select_from(schema.study_sessions))
    expected_groups = requests.get(server.url + "/api/groups", timeout=5).json()

    opened = time.monotonic()
    clients = [open_slow_client(server.port) for _ in range(SLOW_CLIENTS)]
    dribblers = set(range(0, SLOW_CLIENTS, DRIBBLE_EVERY))
    silent = set(range(SLOW_CLIENTS)) - dribblers
    closed_after: dict[int, float] = {}
    get_seconds: list[float] = []
    selector = selectors.DefaultSelector()
    for index in silent:
        selector.register(clients[index], selectors.EVENT_READ, index)
    next_dribble = next_get = time.monotonic()
    try:
        while len(closed_after) < len(silent) and time.monotonic() - opened < CLOSED_WITHIN:
            for key, _ in selector.select(timeout=0.1):
                if closed_by_server(clients[key.data]):
                    closed_after[key.data] = time.monotonic() - opened
                    selector.unregister(clients[key.data])
            if time.monotonic() >= next_dribble:
                next_dribble += DRIBBLE_SECONDS
                for index in dribblers:
                    clients[index].send(b" ")
            if time.monotonic() >= next_get:
                started = time.monotonic()
                response = requests.get(server.url + "/api/groups", timeout=GET_WITHIN)
                get_seconds.append(time.monotonic() - started)
                assert response.status_code == 200
                assert response.json() == expected_groups
                next_get = time.monotonic() + GET_SPACING
    finally:
        for client in clients:
            client.close()

    assert len(get_seconds) >= 10, "too few GETs were timed to mean anything"
    assert max(get_seconds) < GET_WITHIN
    assert sorted(silent - closed_after.keys()) == [], "silent clients the server kept open"
    with sqlite_engine.connect() as connection:
        sessions_after = connection.scalar(select(func.count()).select_from(schema.study_sessions))
    assert sessions_after == sessions_before
