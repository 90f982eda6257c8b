"""Running lang-portal under gunicorn, the production WSGI server."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from lang_portal import create_app

# Request threads per worker process (gunicorn's gthread worker).
THREADS = 4


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """gunicorn with lang-portal's app and options, without a config file."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # e.g. the control socket only exists from gunicorn 27
                self.cfg.set(key, value)

    def load(self) -> Any:
        return create_app()


def gunicorn_options(host: str, port: int, workers: int) -> dict[str, Any]:
    """The gunicorn settings lang-portal serves with (bench/floor_app.py reuses them)."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        # Threads, so that a client sending its body slowly holds one thread, not a
        # whole worker; idle keep-alive connections wait in the event loop, not a thread.
        "worker_class": "gthread",
        "threads": THREADS,
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": None,
        # lang-portal logs each request itself; several servers on one host must not
        # fight over gunicorn's shared control socket.
        "control_socket_disable": True,
    }


def run(host: str, port: int, workers: int) -> None:
    """Serve on host:port with ``workers`` processes until interrupted."""
    GunicornServer(gunicorn_options(host, port, workers)).run()
