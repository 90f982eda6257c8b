"""Every setting lang-portal reads, defined once.

Each setting has a name, a default and a help text. Its value comes from the
``config`` mapping given to :func:`lang_portal.create_app` (tests use this), else
from the environment variable ``LANG_PORTAL_<NAME>``, else from the default.
The README's settings table is checked against this table by a test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ENV_PREFIX = "LANG_PORTAL_"
DEFAULT_DATABASE_URL = "sqlite:///instance/lang-portal.db"


class SettingError(ValueError):
    """A setting has a value that cannot be used; the message names it."""


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be a positive integer")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be 0 or a positive integer")
    return value


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return parse


def _origins(raw: str) -> list[str] | str:
    origins = [origin.strip() for origin in raw.split(",") if origin.strip()]
    return "*" if origins in ([], ["*"]) else origins


@dataclass(frozen=True)
class Setting:
    """One setting: its name (without the prefix), default, help text and parser."""

    name: str
    default: str
    help: str
    parse: Callable[[str], Any] = str

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE_URL",
        DEFAULT_DATABASE_URL,
        "SQLAlchemy URL of the database. The default is a SQLite file `instance/lang-portal.db` "
        "under the current directory; use `postgresql+psycopg://user@host:5432/db` for PostgreSQL.",
    ),
    Setting(
        "CORS_ORIGINS",
        "*",
        "Comma-separated origins allowed to call the API from a browser. `*` allows any origin "
        "(without credentials).",
        _origins,
    ),
    Setting("LOG_LEVEL", "INFO", "Python log level: DEBUG, INFO, WARNING or ERROR.", str.upper),
    Setting(
        "LOG_FORMAT",
        "text",
        "`text` for people, `json` for log collectors.",
        _choice("text", "json"),
    ),
    Setting(
        "MAX_BODY_BYTES",
        "65536",
        "Largest accepted request body, in bytes (413 above).",
        _positive_int,
    ),
    Setting(
        "RATE_LIMIT",
        "600/minute",
        "Limit on write requests per client address, in Flask-Limiter notation "
        "(`600/minute`, `10/second;600/minute`); `off` disables it.",
    ),
    Setting(
        "RATE_LIMIT_STORAGE",
        "memory://",
        "Where rate-limit counters live. `memory://` is per worker; `redis://host:6379` is "
        "shared by every worker and host.",
    ),
    Setting(
        "API_TOKEN",
        "",
        "When set, every write needs `Authorization: Bearer <token>`. Empty means writes are "
        "open (the single-user local default).",
    ),
    Setting(
        "TRUSTED_PROXIES",
        "0",
        "How many reverse proxies (load balancers) in front of lang-portal append to "
        "`X-Forwarded-For`. Above 0, the client address for rate limits is read from that "
        "header; keep 0 when clients reach lang-portal directly, or they could forge it.",
        _non_negative_int,
    ),
    Setting(
        "PUBLIC_URL",
        "http://127.0.0.1:5000",
        "Base URL the service is reached at; relative study-activity URLs are made absolute "
        "with it.",
        lambda raw: raw.rstrip("/"),
    ),
    Setting(
        "DB_POOL_SIZE",
        "5",
        "Database connections kept open per worker process (PostgreSQL also allows as many "
        "again in overflow).",
        _positive_int,
    ),
    Setting(
        "DB_STATEMENT_TIMEOUT_MS",
        "5000",
        "Longest a statement may run (PostgreSQL) or wait for a lock (SQLite busy timeout), "
        "in milliseconds.",
        _positive_int,
    ),
    Setting(
        "IDEMPOTENCY_TTL_HOURS",
        "24",
        "How long an `Idempotency-Key` and its stored response are kept.",
        _positive_int,
    ),
)


def load(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Resolve every setting to its parsed value.

    ``overrides`` wins over the environment, which wins over the default. Values in
    ``overrides`` that are not strings are taken as already parsed.

    Raises SettingError naming the environment variable when a value is invalid.
    """
    overrides = overrides or {}
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in overrides and not isinstance(overrides[setting.name], str):
            values[setting.name] = overrides[setting.name]
            continue
        raw = overrides.get(setting.name, os.environ.get(setting.env_var, setting.default))
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as error:
            raise SettingError(f"{setting.env_var}={raw!r}: {error}") from None
    return values
