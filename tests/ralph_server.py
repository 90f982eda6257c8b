"""Serve Ralph's LRS API (``ralph.api:app``) with its file-system backend appending.

Run by tests/lrs.py with the python of .venv-ralph, never imported by the tests: the
arguments are the host and the port; the settings come from RALPH_* variables.

``ralph runserver -b fs`` stores only the first POST it receives: its file-system
backend writes with the CREATE operation, which refuses a file that exists, so every
later new statement gets a 500 "Statements bulk indexation failed". The operation is
not a setting but the backend's ``default_operation_type`` class attribute, so it is
set to APPEND here, before uvicorn serves the app: every statement is then stored,
and a statement id sent again is answered 204 and not stored twice.
"""

from __future__ import annotations

import sys

import uvicorn
from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend

FSLRSBackend.default_operation_type = BaseOperationType.APPEND

if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run("ralph.api:app", host=host, port=port, log_level="warning")
