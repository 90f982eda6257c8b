"""Real servers for tests that must go over HTTP to separate processes.

:class:`Gunicorn` starts ``lang-portal serve`` (migrations first, then gunicorn)
in its own process group on a free loopback port, so a test can stop it
politely, SIGKILL the whole group mid-load, or start it again on the same
database.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

LANG_PORTAL = Path(sys.executable).parent / "lang-portal"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Gunicorn:
    """``lang-portal serve`` on 127.0.0.1 with its own settings and log file."""

    def __init__(
        self,
        database_url: str,
        log_path: Path,
        workers: int = 2,
        settings: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.database_url = database_url
        self.log_path = log_path
        self.workers = workers
        self.settings = {"RATE_LIMIT": "off", "LOG_LEVEL": "WARNING", **(settings or {})}
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Gunicorn:
        """Start the server and wait until it answers; raises RuntimeError if it does not."""
        env = {**os.environ, "LANG_PORTAL_DATABASE_URL": self.database_url}
        env.update({f"LANG_PORTAL_{name}": value for name, value in self.settings.items()})
        command = [str(LANG_PORTAL), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(self.workers)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early; see {self.log_path}")
            try:
                if requests.get(self.url + "/api/groups", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout}s; see {self.log_path}")

    def _signal_group(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL the whole process group, master and workers, as a power cut would."""
        self._signal_group(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop gracefully, or kill after 15 seconds."""
        self._signal_group(signal.SIGTERM)
        if self.process is None:
            return
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    def worker_pids(self) -> list[int]:
        """The pids of the gunicorn workers (children of the master)."""
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
