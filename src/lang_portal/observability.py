"""Request ids, the one-line-per-request log, and headers every response carries."""

from __future__ import annotations

import copy
import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, Response, g, request

log = logging.getLogger("lang_portal.requests")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# What could end or overwrite a line in a text log: C0 and C1 controls, DEL, the Unicode
# line and paragraph separators, and the backslash that starts an escape.
_UNSAFE_IN_A_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\\]")
_BREAKS_IN_JSON = re.compile(r"[\x7f-\x9f\u2028\u2029]")
# JSON needs nothing from a browser; pages and the docs set their own policy.
JSON_CSP = "default-src 'none'; frame-ancestors 'none'"


class JsonFormatter(logging.Formatter):
    """One JSON object per log line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # json.dumps escapes C0 controls; these it leaves raw, and some readers end a line at them.
        return _BREAKS_IN_JSON.sub(
            lambda match: f"\\u{ord(match.group()):04x}", json.dumps(entry, ensure_ascii=False)
        )


def one_line(text: str) -> str:
    """``text`` with every control character escaped (``\\n`` -> ``\\x0a``), so it stays one line.

    Backslashes are doubled, so an escape in the log always stands for a control character.
    """

    def escape(match: re.Match[str]) -> str:
        character = match.group()
        if character == "\\":
            return "\\\\"
        code = ord(character)
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"

    return _UNSAFE_IN_A_LINE.sub(escape, text)


class TextFormatter(logging.Formatter):
    """One line per entry for people: the message is escaped by :func:`one_line`.

    A client's path or method could otherwise carry a newline and forge a log line.
    A traceback, appended after the message, keeps its own lines.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        escaped = copy.copy(record)
        escaped.message = one_line(record.message)
        return super().formatMessage(escaped)


def configure_logging(level: str, fmt: str) -> None:
    """Send lang-portal's logs to stderr in the chosen format, replacing earlier set-ups."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("lang_portal")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def init_app(app: Flask) -> None:
    """Give every request an id and every response its id and safety headers."""
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])

    @app.before_request
    def start_request() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def finish_request(response: Response) -> Response:
        request_id = g.get("request_id") or uuid.uuid4().hex
        response.headers["X-Request-ID"] = request_id
        response.headers["X-Content-Type-Options"] = "nosniff"
        if response.mimetype.endswith("json"):
            response.headers.setdefault("Content-Security-Policy", JSON_CSP)
        milliseconds = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        log.info(
            "%s %s %s %.1fms request_id=%s",
            request.method,
            request.path,
            response.status_code,
            milliseconds,
            request_id,
            extra={
                "fields": {
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "ms": round(milliseconds, 2),
                    "request_id": request_id,
                }
            },
        )
        return response
