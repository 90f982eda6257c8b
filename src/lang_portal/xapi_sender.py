"""Sending the reviews' xAPI statements to a Learning Record Store, from the outbox.

With LANG_PORTAL_XAPI_ENDPOINT set, every review queues its statement in the outbox, in
the review's own transaction (:mod:`lang_portal.queries.xapi_outbox`). A :class:`Sender`
takes due rows in batches, builds their statements (:mod:`lang_portal.xapi`, from
:func:`lang_portal.queries.statements.review_records`), and POSTs each batch as one JSON
array to ``<endpoint>statements``. Then, in one transaction:

- stored (200, 204): the rows are deleted. An LRS answers a statement id it holds
  already with 204 and stores nothing, so sending twice is harmless;
- rejected (400, 409, 413, 422): one bad statement fails its whole batch, so the batch
  is halved until each bad statement is found alone; those are set aside with the
  LRS's reason and logged, never retried by themselves, and the others are sent. A 409
  means the LRS holds a different statement under the same id (a renamed word, a
  changed PUBLIC_URL, another install sending the same ids): set aside too, since
  resending can never succeed and dropping it could lose a review no LRS holds;
- anything else (no connection, a timeout, 401, 404, 429, 5xx ...): the LRS cannot
  take statements now, whoever's fault that is. Nothing is lost: the rows stay, their
  attempts count up, and they come due again after an exponential backoff with jitter,
  capped. One warning is logged when an outage starts and one line when it ends, not
  one per statement.

A review POST never waits for the LRS: the sender runs apart from requests, as a thread
of ``lang-portal serve``'s master process (:class:`BackgroundSender`, see
lang_portal.server), or as ``lang-portal xapi push`` (:meth:`Sender.push`). Several may
run at once, on several hosts: taking rows leases them (xapi_outbox.claim), so two never
send the same row at the same time.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from flask import Flask
from sqlalchemy import Connection, Engine

from lang_portal import db, xapi
from lang_portal.queries import statements, xapi_outbox
from lang_portal.queries.xapi_outbox import Claimed

log = logging.getLogger("lang_portal.xapi_sender")

# Statements per POST: one request, one transaction for a batch.
BATCH_SIZE = 50
# Seconds to connect, then to wait for the LRS's answer.
REQUEST_TIMEOUT = (5.0, 30.0)
# How long taken rows stay the taker's: longer than the requests of a batch being halved
# around bad statements. A sender that dies leaves its rows due again after this.
LEASE = timedelta(minutes=5)
# The first wait after a failed attempt, doubled at each further one, up to the cap.
FIRST_BACKOFF = timedelta(seconds=2)
MAX_BACKOFF = timedelta(minutes=5)
# How often an idle background sender looks for new rows, and how long it waits after
# its database failed, in seconds.
IDLE_POLL = 1.5
FAILURE_WAIT = 5.0
# The most of an LRS's answer kept in a log line.
LOGGED_TEXT = 200
STORED = frozenset({200, 204})
REJECTED = frozenset({400, 409, 413, 422})
# How a statement is built from a review record and the public URL.
Build = Callable[[Mapping[str, Any], str], dict[str, Any]]


@dataclass(frozen=True)
class Lrs:
    """Where statements go: the statements resource of the LRS, and its Basic auth."""

    statements_url: str
    username: str = ""
    password: str = field(default="", repr=False)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Lrs | None:
        """The LRS the settings name (XAPI_ENDPOINT, _USERNAME, _PASSWORD); None
        without an endpoint."""
        endpoint = config["XAPI_ENDPOINT"]
        if not endpoint:
            return None
        return cls(endpoint + "statements", config["XAPI_USERNAME"], config["XAPI_PASSWORD"])

    def auth(self) -> tuple[bytes, bytes] | None:
        """Basic auth as requests takes it, UTF-8 encoded (RFC 7617); None without a user."""
        if not self.username:
            return None
        return self.username.encode(), self.password.encode()


@dataclass
class Delivery:
    """What sending did: statements the LRS stored, set aside, and left for later; rows
    dropped because their review was deleted meanwhile; and, when the LRS could not be
    reached, why."""

    sent: int = 0
    set_aside: int = 0
    postponed: int = 0
    dropped: int = 0
    unreachable: str | None = None

    @property
    def done(self) -> int:
        """Rows that left the queue: sent, set aside or dropped."""
        return self.sent + self.set_aside + self.dropped

    def add(self, other: Delivery) -> None:
        """Count ``other`` in too; its reason, if any, is the latest."""
        self.sent += other.sent
        self.set_aside += other.set_aside
        self.postponed += other.postponed
        self.dropped += other.dropped
        self.unreachable = other.unreachable or self.unreachable


@dataclass
class _Outcome:
    """The LRS's answers to one batch: rows stored, rows rejected with the reason, and
    the rows not tried once it could not be reached."""

    stored: list[Claimed] = field(default_factory=list)
    rejected: list[tuple[Claimed, str]] = field(default_factory=list)
    untried: list[Claimed] = field(default_factory=list)
    unreachable: str | None = None


def backoff(attempts: int, chance: float) -> timedelta:
    """The wait before attempt ``attempts + 1``: FIRST_BACKOFF doubled per failed attempt
    up to MAX_BACKOFF, of which a random half (``chance`` in [0, 1)) is left out, so that
    senders that failed together do not all come back at the same instant."""
    exponent = min(max(attempts - 1, 0), 30)
    full = min(FIRST_BACKOFF * 2**exponent, MAX_BACKOFF)
    return full / 2 + full / 2 * chance


class Sender:
    """Sends the outbox's statements to one LRS, from one engine.

    ``build`` makes a statement from a review record (default :func:`lang_portal.xapi.
    statement`); ``http`` is the requests session to send with.
    """

    def __init__(
        self,
        engine: Engine,
        lrs: Lrs,
        public_url: str,
        *,
        batch_size: int = BATCH_SIZE,
        build: Build = xapi.statement,
        http: requests.Session | None = None,
    ) -> None:
        self.engine = engine
        self.lrs = lrs
        self.public_url = public_url
        self.batch_size = batch_size
        self.build = build
        self.http = http or requests.Session()
        # Held around each of the sender's transactions: a fork waits for it (see
        # BackgroundSender), so that no connection is open when a process forks.
        self.database_lock = threading.Lock()
        self._outage_since: datetime | None = None
        self._resume_at: datetime | None = None

    @classmethod
    def for_app(cls, app: Flask, **options: Any) -> Sender | None:
        """A sender on the app's engine and settings; None without an endpoint."""
        lrs = Lrs.from_config(app.config)
        if lrs is None:
            return None
        engine = app.extensions["lang_portal.engine"]
        return cls(engine, lrs, xapi.home_page(app.config), **options)

    def send_batch(self, up_to_id: int | None = None) -> Delivery | None:
        """Send one batch of due rows (up to outbox id ``up_to_id``); None when none is due.

        Raises what the database raises; the rows taken then come due after the lease.
        """
        claimed = self._claim(up_to_id)
        if not claimed:
            return None
        built, unbuilt, dropped = self._statements_of(claimed)
        outcome = self._deliver(built)
        outcome.rejected += unbuilt
        retry_at = self._record(outcome, dropped, datetime.now(UTC))
        self._note_reachability(outcome, retry_at)
        return Delivery(
            sent=len(outcome.stored),
            set_aside=len(outcome.rejected),
            postponed=len(outcome.untried),
            dropped=len(dropped),
            unreachable=outcome.unreachable,
        )

    def push(self, progress: Callable[[int], None] | None = None) -> Delivery:
        """Send every statement pending now, backoffs or not, until none is left or the
        LRS cannot be reached; ``progress`` is told how many left the queue after each
        batch. Rows queued meanwhile, and set-aside ones, wait for the next sender."""
        with self._writing() as connection:
            xapi_outbox.make_due(connection, datetime.now(UTC))
            up_to_id = xapi_outbox.newest_id(connection)
        total = Delivery()
        while up_to_id is not None:
            delivery = self.send_batch(up_to_id)
            if delivery is None:
                break
            total.add(delivery)
            if progress is not None:
                progress(delivery.done)
            if delivery.unreachable:
                break
        return total

    def run(self, stop: threading.Event) -> None:
        """Send until ``stop`` is set: batch after batch while rows are due, then a look
        every IDLE_POLL seconds; while the LRS is down, nothing until its backoff ends.
        A failure of the database is logged (once while it lasts) and waited out."""
        failing = False
        while not stop.is_set():
            try:
                wait = self._next_step()
                failing = False
            except Exception:
                if not failing:
                    log.exception("The xAPI sender failed; it tries again every few seconds")
                failing = True
                wait = FAILURE_WAIT
            stop.wait(wait)

    def _next_step(self) -> float:
        """Send a batch unless the LRS's backoff runs; the seconds to wait before the next."""
        if self._resume_at is None or self._resume_at <= datetime.now(UTC):
            delivery = self.send_batch()
            if delivery is None:
                return IDLE_POLL
            if delivery.unreachable is None:
                return 0.0  # more may be due
        resume_at = self._resume_at or datetime.now(UTC)
        return max((resume_at - datetime.now(UTC)).total_seconds(), 0.0)

    def close(self) -> None:
        """Close the HTTP connections kept open to the LRS."""
        self.http.close()

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self.database_lock, db.reading(self.engine) as connection:
            yield connection

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self.database_lock, db.writing(self.engine) as connection:
            yield connection

    def _claim(self, up_to_id: int | None) -> list[Claimed]:
        """Take a batch of due rows; an idle look is a read, and takes no write lock."""
        now = datetime.now(UTC)
        with self._reading() as connection:
            if not xapi_outbox.any_due(connection, now, up_to_id):
                return []
        with self._writing() as connection:
            return xapi_outbox.claim(connection, now, self.batch_size, LEASE, up_to_id)

    def _statements_of(
        self, claimed: list[Claimed]
    ) -> tuple[list[tuple[Claimed, dict[str, Any]]], list[tuple[Claimed, str]], list[Claimed]]:
        """The rows' statements; the rows whose statement could not be built, with why;
        and the rows whose review is gone (deleted by a reset since it was queued)."""
        with self._reading() as connection:
            records = statements.review_records(connection, [row.review_id for row in claimed])
        by_review = {record["id"]: record for record in records}
        dropped = [row for row in claimed if row.review_id not in by_review]
        found = [row for row in claimed if row.review_id in by_review]
        built, unbuilt = self._build_all(found, by_review)
        return built, unbuilt, dropped

    def _build_all(
        self, claimed: list[Claimed], records: Mapping[int, Mapping[str, Any]]
    ) -> tuple[list[tuple[Claimed, dict[str, Any]]], list[tuple[Claimed, str]]]:
        """Each row's statement; a row whose statement cannot be built is set aside."""
        built, unbuilt = [], []
        for row in claimed:
            try:
                built.append((row, self.build(records[row.review_id], self.public_url)))
            except Exception as error:  # a bug in one mapping must not hold up the queue
                log.exception("The statement of review %s could not be built", row.review_id)
                unbuilt.append((row, f"not built: {type(error).__name__}: {error}"))
        return built, unbuilt

    def _deliver(self, batch: list[tuple[Claimed, dict[str, Any]]]) -> _Outcome:
        """POST the batch; a rejected one is halved until each rejected statement is
        alone. Stops at the first sign that the LRS cannot take statements now."""
        outcome = _Outcome()
        parts = [batch] if batch else []
        while parts:
            part = parts.pop()
            status, reason = self._post([statement for _, statement in part])
            if status in STORED:
                outcome.stored += [row for row, _ in part]
            elif status in REJECTED and len(part) == 1:
                outcome.rejected.append((part[0][0], reason))
            elif status in REJECTED:
                middle = len(part) // 2
                parts += [part[middle:], part[:middle]]  # the first half is sent first
            else:
                outcome.untried = [row for left in (part, *parts) for row, _ in left]
                outcome.unreachable = reason
                break
        return outcome

    def _post(self, batch: Sequence[dict[str, Any]]) -> tuple[int | None, str]:
        """POST statements as one JSON array: the LRS's status (None when it did not
        answer) and a reason that says what happened."""
        try:
            response = self.http.post(
                self.lrs.statements_url,
                data=json.dumps(list(batch), ensure_ascii=False).encode(),
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "X-Experience-API-Version": xapi.XAPI_VERSION,
                },
                auth=self.lrs.auth(),
                timeout=REQUEST_TIMEOUT,
                allow_redirects=False,
            )
        except requests.Timeout:
            return None, f"no answer within {sum(REQUEST_TIMEOUT):g} seconds"
        except requests.RequestException as error:
            return None, f"could not connect ({_root_cause(error)})"
        if response.status_code in STORED:
            return response.status_code, ""
        answer = " ".join(response.text.split())  # one line, for the log and the row
        return response.status_code, f"HTTP {response.status_code}: {answer}"

    def _record(self, outcome: _Outcome, dropped: list[Claimed], now: datetime) -> datetime:
        """Store what the LRS answered, in one transaction; returns when the rows left
        for later come due."""
        attempts = max((row.attempts for row in outcome.untried), default=0) + 1
        retry_at = now + backoff(attempts, random.random())
        with self._writing() as connection:
            xapi_outbox.remove(connection, [row.id for row in [*outcome.stored, *dropped]])
            for row, reason in outcome.rejected:
                xapi_outbox.set_aside(connection, row.id, now, reason)
            if outcome.untried:
                reason = outcome.unreachable or "not sent"
                xapi_outbox.postpone(
                    connection, [row.id for row in outcome.untried], retry_at, reason
                )
        for row, reason in outcome.rejected:
            log.warning(
                "The LRS rejected the statement of review %s; it is set aside and not "
                "retried (lang-portal xapi status lists it): %s",
                row.review_id,
                reason[:LOGGED_TEXT],
            )
        return retry_at

    def _note_reachability(self, outcome: _Outcome, retry_at: datetime) -> None:
        """Log the start and the end of an outage, once each."""
        if outcome.unreachable is None:
            self._resume_at = None
            if self._outage_since is not None:
                log.info(
                    "The LRS takes statements again, after %s; the ones that waited follow",
                    datetime.now(UTC) - self._outage_since,
                )
                self._outage_since = None
            return
        self._resume_at = retry_at
        if self._outage_since is None:
            self._outage_since = datetime.now(UTC)
            log.warning(
                "The LRS at %s cannot take statements (%s); they wait in the outbox and "
                "are retried with backoff",
                self.lrs.statements_url,
                outcome.unreachable[:LOGGED_TEXT],
            )


def _root_cause(error: BaseException) -> str:
    """The innermost reason of a connection error, without requests' wrapping."""
    while error.__context__ is not None and error.__context__ is not error:
        error = error.__context__
    return f"{type(error).__name__}: {error}"[:LOGGED_TEXT]


class BackgroundSender:
    """A :class:`Sender` on a daemon thread of its own, until :meth:`stop`.

    Safe in a process that forks while it runs (gunicorn's master forking workers): a
    fork first waits for the sender's transaction in progress and closes its pooled
    database connections, so the child inherits none. A SQLite connection carried
    across a fork and closed in the child can delete the write-ahead log under the
    parent, and a PostgreSQL one would be shared by two processes.
    """

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._held_for_fork = False
        # Handlers cannot be unregistered: they hold this sender weakly, and do nothing
        # once it is gone or stopped.
        itself = weakref.ref(self)
        os.register_at_fork(
            before=lambda: (sender := itself()) and sender._before_fork(),
            after_in_parent=lambda: (sender := itself()) and sender._after_fork(),
            after_in_child=lambda: (sender := itself()) and sender._after_fork(),
        )

    @classmethod
    def from_settings(cls, config: Mapping[str, Any]) -> BackgroundSender | None:
        """A background sender with an engine of its own, for ``lang-portal serve``'s
        master process; None without an endpoint. Not started."""
        lrs = Lrs.from_config(config)
        if lrs is None:
            return None
        engine = db.create_engine_from_settings(config, create=False)
        return cls(Sender(engine, lrs, xapi.home_page(config)))

    def start(self) -> BackgroundSender:
        """Start sending in the background."""
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.sender.run, args=(self._stop,), name="xapi-sender", daemon=True
        )
        self._thread.start()
        log.info("Sending xAPI statements to %s", self.sender.lrs.statements_url)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the batch in hand, waiting up to ``timeout`` seconds for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.sender.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _before_fork(self) -> None:
        if self.running:
            self.sender.database_lock.acquire()
            self._held_for_fork = True
            self.sender.engine.dispose()  # the parent's own idle connections: closed

    def _after_fork(self) -> None:
        if self._held_for_fork:
            self._held_for_fork = False
            self.sender.database_lock.release()
