"""Ralph, a real Learning Record Store, for the tests that send it xAPI statements.

:class:`Ralph` runs Ralph's own LRS API (the ``ralph-malph`` package, 5.1) under uvicorn
with its file-system backend, in a process of its own, on a free loopback port, from
the virtualenv .venv-ralph (``dev.ensure_ralph`` makes it when missing, so a clean
checkout's first test run installs it). Its credentials are written by Ralph's own
``ralph auth`` command; its statements go to one JSON-lines file under a directory of
the test's, which :meth:`Ralph.clear` empties between tests. It can be stopped and
started again on the same port and data, as an LRS outage would, and
:meth:`Ralph.statements` reads back what it stored through its xAPI API, page by page.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

import dev
from tests.servers import free_port

LAUNCHER = Path(__file__).with_name("ralph_server.py")
USERNAME = "lang-portal"
PASSWORD = "ralph-test-password"
# Ralph asks for the agent its user asserts statements as (the statements' authority).
AUTHORITY_HOME_PAGE = "http://lang-portal.test"
XAPI_HEADERS = {"X-Experience-API-Version": "1.0.3"}
# Statements per page when reading back; Ralph's own cap is 100.
PAGE = 100
# The file the file-system backend stores statements in (its DEFAULT_LRS_FILE).
STATEMENTS_FILE = "fs_lrs.jsonl"


def ralph_python() -> Path:
    """The python of .venv-ralph, installed first if needed; the test fails if it cannot
    be (Ralph comes from PyPI, which CI reaches)."""
    try:
        return dev.ensure_ralph()
    except SystemExit as failure:
        pytest.fail(f"Ralph is needed for the LRS tests: {failure}")


class Ralph:
    """Ralph's LRS on 127.0.0.1:``port``, its data and credentials under ``directory``."""

    def __init__(self, python: Path, directory: Path, port: int | None = None) -> None:
        self.python = python
        self.directory = directory
        self.data = directory / "data"
        self.log_path = directory / "ralph.log"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The xAPI base: LANG_PORTAL_XAPI_ENDPOINT. Statements are under /xAPI/statements.
        self.endpoint = f"{self.url}/xAPI/"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def settings(self) -> dict[str, str]:
        """lang-portal's settings that send statements here."""
        return {
            "XAPI_ENDPOINT": self.endpoint,
            "XAPI_USERNAME": USERNAME,
            "XAPI_PASSWORD": PASSWORD,
        }

    def _environment(self) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("RALPH_", "LANG_PORTAL_"))},
            "RALPH_RUNSERVER_BACKEND": "fs",
            "RALPH_AUTH_FILE": str(self.directory / "auth.json"),
            # Ralph notes every file it reads and writes in a history file, by default
            # under the user's home: keep it with the test's files.
            "RALPH_HISTORY_FILE": str(self.directory / "history.json"),
            "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(self.data),
        }

    def _write_credentials(self) -> None:
        """``ralph auth ... -w``: the user lang-portal signs in as, with every scope."""
        if (self.directory / "auth.json").exists():
            return
        ralph = self.python.parent / "ralph"
        command = [str(ralph), "auth", "-u", USERNAME, "-p", PASSWORD, "-s", "all"]
        command += ["-A", USERNAME, AUTHORITY_HOME_PAGE, "-w"]
        done = subprocess.run(
            command, env=self._environment(), capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"ralph auth failed:\n{done.stdout}\n{done.stderr}")

    def start(self, timeout: float = 60.0) -> Ralph:
        """Start Ralph and wait until it answers; raises RuntimeError if it does not."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write_credentials()
        command = [str(self.python), str(LAUNCHER), "127.0.0.1", str(self.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                env=self._environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Ralph exited early; see {self.log_path}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/__heartbeat__", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Ralph did not answer within {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        """Stop Ralph (SIGTERM, then SIGKILL after 10 seconds); its data stays."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self) -> Ralph:
        """Stop and start again on the same port, with the same data."""
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def clear(self) -> None:
        """Forget every statement stored (the file-system backend reads its file anew
        on each request, so a running Ralph sees an empty LRS)."""
        (self.data / STATEMENTS_FILE).unlink(missing_ok=True)

    def statements(self) -> list[dict[str, Any]]:
        """Every statement Ralph holds, as its xAPI API returns them, in the order it
        stored them: GET /xAPI/statements, following each page's ``more`` link."""
        found: list[dict[str, Any]] = []
        url: str | None = f"{self.endpoint}statements?limit={PAGE}"
        while url:
            response = requests.get(
                url, auth=(USERNAME, PASSWORD), headers=XAPI_HEADERS, timeout=10
            )
            response.raise_for_status()
            page = response.json()
            found += page["statements"]
            # Ralph offers one more, empty, page when the last one was exactly full.
            url = (
                urljoin(self.url, page["more"]) if page.get("more") and page["statements"] else None
            )
        return found

    def post(self, statements: list[dict[str, Any]]) -> requests.Response:
        """POST statements to Ralph directly, as another client would."""
        return requests.post(
            f"{self.endpoint}statements",
            json=statements,
            auth=(USERNAME, PASSWORD),
            headers=XAPI_HEADERS,
            timeout=10,
        )
