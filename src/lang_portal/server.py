"""Running lang-portal: gunicorn's process manager, waitress's HTTP handling in each worker.

gunicorn's own workers read a request inside the thread that then runs the app, so a
client that sends ``Content-Length: 1000`` and one byte holds that thread for as long as
it likes: eight such clients took a 2-worker server down (issue 13). waitress reads
every request, body included, in an event loop and hands only complete requests to its
threads, and it closes a connection that stays silent mid-request. gunicorn still runs
the processes: the master forks ``workers`` of them on one socket, restarts one that
dies or stops answering, and stops them gracefully on SIGTERM. docs/performance.md
("Serving stack") has the measurements behind this choice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication
from gunicorn.workers.base import Worker
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server

if TYPE_CHECKING:
    from lang_portal.xapi_sender import BackgroundSender

# Request threads per worker process.
THREADS = 4
# Seconds a connection may stay silent before it is closed, mid-request or idle between
# requests (waitress's channel_timeout), and how often that is checked.
SILENT_CONNECTION_TIMEOUT = 10
SILENT_CONNECTION_CHECK = 1
# Connections one worker keeps open; slow clients each hold one, but no thread.
CONNECTIONS_PER_WORKER = 1000
# Bodies up to this size are buffered before the app sees them; the app itself
# refuses bodies over LANG_PORTAL_MAX_BODY_BYTES (64 KiB by default) with its own 413.
BUFFERED_BODY_LIMIT = 16 * 1024 * 1024
# Seconds a worker may go without a heartbeat before the master kills and replaces it.
WORKER_TIMEOUT = 30
# Seconds between a worker's heartbeats, well within WORKER_TIMEOUT.
HEARTBEAT_INTERVAL = 1.0
# Seconds a stopping worker lets requests in progress finish.
GRACEFUL_TIMEOUT = 10


class WaitressWorker(Worker):  # type: ignore[misc]
    """A gunicorn worker process that serves its app with waitress on the shared socket."""

    _last_heartbeat = 0.0

    def run(self) -> None:
        """Serve until the master stops this worker, then let requests in progress finish."""
        channels: dict[int, Any] = {}
        server = create_server(
            self.wsgi,
            map=channels,
            sockets=[listener.sock for listener in self.sockets],
            threads=THREADS,
            channel_timeout=SILENT_CONNECTION_TIMEOUT,
            cleanup_interval=SILENT_CONNECTION_CHECK,
            connection_limit=CONNECTIONS_PER_WORKER,
            max_request_body_size=BUFFERED_BODY_LIMIT,
            # X-Forwarded-* is the app's business (LANG_PORTAL_TRUSTED_PROXIES, ProxyFix).
            clear_untrusted_proxy_headers=False,
            ident="lang-portal",
        )
        while self.alive:
            self._loop_once(channels)
            if self.ppid != os.getppid():  # the master died
                self.log.info("Parent changed, shutting down: %s", self)
                break
        self._stop(server, channels)

    def _loop_once(self, channels: dict[int, Any]) -> None:
        # One round of waitress's event loop, then the heartbeat the master watches, at
        # most once a second: under load a round lasts one event, and a heartbeat (a
        # system call on a shared file) each time was 3.5 % of the worker's Python time.
        wasyncore.loop(timeout=1.0, map=channels, use_poll=True, count=1)
        now = time.monotonic()
        if now - self._last_heartbeat >= HEARTBEAT_INTERVAL:
            self._last_heartbeat = now
            self.notify()

    def _stop(self, server: Any, channels: dict[int, Any]) -> None:
        for listener in channels.values():
            if isinstance(listener, BaseWSGIServer):
                listener.accepting = False
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while time.monotonic() < deadline and any(
            isinstance(channel, HTTPChannel) and channel.requests for channel in channels.values()
        ):
            self._loop_once(channels)
        server.task_dispatcher.shutdown(timeout=1)
        wasyncore.close_all(channels)


class _Server(BaseApplication):  # type: ignore[misc]
    """gunicorn's master with the given options and app factory, without a config file."""

    def __init__(self, options: dict[str, Any], load_app: Callable[[], Any]) -> None:
        self.options = options
        self.load_app = load_app
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # e.g. the control socket only exists from gunicorn 27
                self.cfg.set(key, value)

    def load(self) -> Any:
        return self.load_app()


def server_options(host: str, port: int, workers: int) -> dict[str, Any]:
    """The gunicorn master's settings lang-portal serves with."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": WaitressWorker,
        "timeout": WORKER_TIMEOUT,
        "graceful_timeout": GRACEFUL_TIMEOUT,
        "accesslog": None,
        # lang-portal logs each request itself; several servers on one host must not
        # fight over gunicorn's shared control socket.
        "control_socket_disable": True,
    }


def serve(
    load_app: Callable[[], Any],
    host: str,
    port: int,
    workers: int,
    hooks: dict[str, Callable[..., None]] | None = None,
) -> None:
    """Serve the WSGI app made by ``load_app`` (in each worker) until SIGTERM or Ctrl-C;
    ``hooks`` are gunicorn server hooks (see :func:`sender_hooks`).

    ``lang-portal serve`` and bench/floor_app.py both call this, so the benchmark's floor
    runs under exactly the server and options lang-portal does.
    """
    _Server({**server_options(host, port, workers), **(hooks or {})}, load_app).run()


def run(host: str, port: int, workers: int) -> None:
    """Serve lang-portal on host:port with ``workers`` processes until interrupted, and,
    with LANG_PORTAL_XAPI_ENDPOINT set, send the xAPI outbox in the background."""
    from lang_portal import create_app, observability, settings
    from lang_portal.xapi_sender import BackgroundSender

    config = settings.load()
    sender = BackgroundSender.from_settings(config)
    if sender is None:
        serve(create_app, host, port, workers)
        return
    observability.configure_logging(config["LOG_LEVEL"], config["LOG_FORMAT"])
    serve(create_app, host, port, workers, sender_hooks(sender))


def sender_hooks(sender: BackgroundSender) -> dict[str, Callable[..., None]]:
    """gunicorn hooks that run one xAPI sender per ``serve``: a thread of the master,
    which serves no request, so no request ever waits for the LRS, and which outlives
    the workers it restarts. It starts once the master is ready and stops when the
    master exits. A worker forked meanwhile inherits none of its database connections
    (BackgroundSender closes them before each fork)."""
    return {
        "when_ready": lambda arbiter: sender.start(),
        "on_exit": lambda arbiter: sender.stop(),
    }
