"""A pytest plugin that reads every error body the test suite produces.

It listens to Flask's ``request_finished`` signal, so every 4xx and 5xx answered
by any app in this process (test clients and the threaded live server alike) is
scanned for internals: tracebacks, SQL text, file paths, driver and exception
names. Bodies fetched from separate server processes are fed in with
:func:`record`. A leak makes the run fail at the end, naming the test that caused
it, and ``tests/reliability/test_security.py`` asserts on what was collected.

Registered from ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pytest
from flask import Flask, Response, request, request_finished, request_started

# What must never reach a client. SQL keywords are matched in upper case, as
# SQLAlchemy and the drivers print them; user input echoed in lower case is not SQL.
LEAK_PATTERNS: dict[str, re.Pattern[str]] = {
    "traceback": re.compile(r"Traceback \(most recent call last\)"),
    "stack frame": re.compile(r'File "[^"]*", line \d+'),
    "python module": re.compile(r"\b\w+\.py\b|site-packages"),
    "file path": re.compile(r"(?<![\w.])/(?:tmp|work|home|usr|var|root|opt|etc|proc|srv|app)/"),
    "database file": re.compile(r"[\w-]+\.(?:db|sqlite3?)\b"),
    "driver or library": re.compile(
        r"\b(?:sqlalchemy|sqlite3|psycopg2?|libpq|werkzeug|gunicorn|pydantic_core)\b"
        r"|errors\.pydantic\.dev",
        re.IGNORECASE,
    ),
    "exception name": re.compile(
        r"\b(?:Operational|Integrity|Programming|Data|Interface|Database|Internal|Disconnection"
        r"|Recursion|Key|Type|Value|Attribute|Runtime|Unicode(?:Decode)?)Error\b"
        r"|\(Background on this error"
    ),
    "driver message": re.compile(
        r"database is locked|no such (?:table|column)|unable to open database|disk I/O error"
        r"|could not connect|connection refused|server closed the connection|syntax error at"
        r"|violates (?:foreign key|unique|not-null) constraint|UNIQUE constraint failed",
        re.IGNORECASE,
    ),
    "SQL text": re.compile(
        r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT INTO\b|\bUPDATE\b\s+\S+\s+SET\b|\bDELETE FROM\b"
        r"|\bBEGIN IMMEDIATE\b|\[SQL:|\[parameters:"
    ),
}


def find_leaks(text: str, supplied: Iterable[str] = ()) -> list[str]:
    """The names of the leak patterns that ``text`` matches (empty when it is clean).

    ``supplied`` are strings the client sent (query values, path segments, body
    strings): an error may quote them back, HTML- or JSON-escaped, and what the
    client sent is not an internal. They are cut out before the scan.
    """
    text = html.unescape(text)
    for value in sorted(supplied, key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, "").replace(json.dumps(value)[1:-1], "")
    return [name for name, pattern in LEAK_PATTERNS.items() if pattern.search(text)]


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class _RecordedInput:
    """A request's ``wsgi.input``, keeping a copy of what is read from it.

    The app reads a write's body once and does not keep it (api/body.py), so by the time
    the response is scanned the body is gone from the request; without this copy a name
    the client sent and an error quotes back (a 409's "already exists") would count as
    a leak. Only ``read`` and ``readline`` are offered, so every read goes through them.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.copy = bytearray()

    def read(self, *args: Any) -> bytes:
        data = self._stream.read(*args)
        self.copy += data
        return data

    def readline(self, *args: Any) -> bytes:
        data = self._stream.readline(*args)
        self.copy += data
        return data


def _request_body() -> bytes:
    """The current request's body, as far as anyone read it (all of it if nobody did)."""
    unread = request.get_data(cache=True)
    recorded = request.environ.get("wsgi.input")
    return bytes(recorded.copy) if isinstance(recorded, _RecordedInput) else unread


def _supplied_by_client() -> list[str]:
    """What the current request carried: path segments, query values and keys, body strings."""
    supplied = [unquote(part) for part in request.path.split("/")]
    for key, values in request.args.lists():
        supplied += [key, *values]
    # The body may be over the size limit or not JSON at all; then only the rest counts.
    with contextlib.suppress(Exception):
        supplied += _strings(json.loads(_request_body()))
    return supplied


@dataclass
class Leak:
    """One error body that showed internals, and where it came from."""

    test: str
    where: str
    status: int
    kinds: list[str]
    body: str


@dataclass
class Collector:
    """Counts of scanned error bodies per status, and the leaks found among them."""

    scanned: dict[int, int] = field(default_factory=dict)
    leaks: list[Leak] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def total(self) -> int:
        return sum(self.scanned.values())


COLLECTOR = Collector()


def record(status: int, body: str, where: str, supplied: Iterable[str] = ()) -> None:
    """Scan one response body; only errors (4xx and 5xx) are kept track of."""
    if status < 400:
        return
    kinds = find_leaks(body, supplied)
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
    with COLLECTOR.lock:
        COLLECTOR.scanned[status] = COLLECTOR.scanned.get(status, 0) + 1
        if kinds:
            COLLECTOR.leaks.append(Leak(test, where, status, kinds, body[:500]))


def _on_request_started(sender: Flask, **extra: Any) -> None:
    # Nothing has read the body yet: Flask sends this before any before_request hook.
    request.environ["wsgi.input"] = _RecordedInput(request.environ["wsgi.input"])


def _on_request_finished(sender: Flask, response: Response, **extra: Any) -> None:
    if response.status_code < 400 or response.direct_passthrough or response.is_streamed:
        return
    record(
        response.status_code,
        response.get_data(as_text=True),
        f"{request.method} {request.path}",
        _supplied_by_client(),
    )


def pytest_configure(config: pytest.Config) -> None:
    request_started.connect(_on_request_started, weak=False)
    request_finished.connect(_on_request_finished, weak=False)


def pytest_unconfigure(config: pytest.Config) -> None:
    request_started.disconnect(_on_request_started)
    request_finished.disconnect(_on_request_finished)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if COLLECTOR.leaks and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not COLLECTOR.total:
        return
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(COLLECTOR.scanned.items()))
    terminalreporter.write_line(
        f"error bodies scanned for internals: {COLLECTOR.total} ({statuses}); "
        f"leaks: {len(COLLECTOR.leaks)}"
    )
    for leak in COLLECTOR.leaks[:20]:
        terminalreporter.write_line(
            f"LEAK {leak.kinds} in {leak.status} from {leak.where} during {leak.test}: {leak.body}",
            red=True,
        )
