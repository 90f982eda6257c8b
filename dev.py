#!/usr/bin/env python3
"""Bootstrap for a fresh clone: needs nothing but Python 3.11+.

    python3 dev.py serve   # make .venv, install, migrate + seed SQLite, serve on :5000
    python3 dev.py test    # make .venv, install with test extras, ruff + the whole test suite

Extra arguments go to the command underneath (`lang-portal serve ...` or `pytest ...`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def run(*command: str | Path) -> int:
    """Run a command from the repository root and return its exit code."""
    return subprocess.call([str(part) for part in command], cwd=ROOT)


def ensure_installed(extras: str) -> None:
    """Create .venv if missing and (re)install the project when pyproject.toml changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script runs on any python3
        sys.exit("lang-portal needs Python 3.11 or newer")
    if not PYTHON.exists():
        print(f"Creating virtualenv in {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    marker = VENV / ".lang-portal-installed"
    if marker.exists() and marker.read_text() == digest:
        return
    print(f"Installing lang-portal{extras} into {VENV}", flush=True)
    if run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip") != 0:
        sys.exit("could not upgrade pip")
    if run(PYTHON, "-m", "pip", "install", "--quiet", "-e", f".{extras}") != 0:
        sys.exit("could not install lang-portal")
    marker.write_text(digest)


# Ralph, the real Learning Record Store the xAPI tests send statements to
# (tests/lrs.py), lives in a virtualenv of its own: its dependencies (FastAPI, its own
# pydantic and requests pins) never meet lang-portal's. Its `[lrs]` extra leaves out
# `requests`, which Ralph's API imports; `[cli]` gives `ralph auth`.
RALPH_VENV = ROOT / ".venv-ralph"
RALPH_REQUIREMENTS = ("ralph-malph[cli,lrs]==5.1.*", "requests>=2.31,<3")


def ensure_ralph() -> Path:
    """Create .venv-ralph with Ralph if missing or out of date; returns its python.

    The test suite calls this (tests/lrs.py), so a clean checkout gets Ralph on its
    first test run, and later runs find it ready.
    """
    bin_dir = RALPH_VENV / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    marker = RALPH_VENV / ".ralph-installed"
    wanted = "\n".join(RALPH_REQUIREMENTS)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    if not python.exists():
        print(f"Creating virtualenv in {RALPH_VENV}", flush=True)
        venv.create(RALPH_VENV, with_pip=True)
    print(f"Installing Ralph into {RALPH_VENV}", flush=True)
    if run(python, "-m", "pip", "install", "--quiet", *RALPH_REQUIREMENTS) != 0:
        sys.exit("could not install Ralph (ralph-malph) for the LRS tests")
    marker.write_text(wanted)
    return python


def serve(arguments: list[str]) -> int:
    """Install, migrate and seed the embedded SQLite database, then serve."""
    ensure_installed("")
    return run(BIN / "lang-portal", "serve", *arguments)


def test(arguments: list[str]) -> int:
    """Lint, check formatting, then run every test; no tests collected is a failure."""
    ensure_installed("[test]")
    ensure_ralph()
    for check in (("check", "."), ("format", "--check", ".")):
        if run(BIN / "ruff", *check) != 0:
            return 1
    code = run(PYTHON, "-m", "pytest", *arguments)
    if code == 5:
        print("pytest collected no tests: that is a failure, not a pass", file=sys.stderr)
        return 1
    return code


def main() -> int:
    commands = {"serve": serve, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
