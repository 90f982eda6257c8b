"""The parsers of lang-portal's settings: each turns the text of one variable into its value.

Each raises ValueError saying what the value must be; :mod:`lang_portal.settings` adds
the variable's name. The words they accept (``loopback``, ``*``) are defined here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import limits
from limits.storage import SCHEMES as LIMITS_STORAGE_SCHEMES
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
OPEN = "open"
ACCOUNTS = "accounts"
AUTH_MODES = (OPEN, ACCOUNTS)
DATABASE_BACKENDS = ("sqlite", "postgresql")
# The word that stands for the loopback names in ALLOWED_HOSTS and CORS_ORIGINS.
LOOPBACK = "loopback"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
# Browsers send an origin as scheme://host[:port], lowercase, with no path.
LOOPBACK_ORIGIN = re.compile(r"https?://(?:localhost|127\.0\.0\.1|\[::1\])(?::\d{1,5})?\Z", re.I)
ANY = "*"

_HOST_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")


def integer(minimum: int) -> Callable[[Any], int]:
    """A parser of whole numbers of at least ``minimum`` (text, or an int override)."""
    wording = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"

    def parse(raw: Any) -> int:
        try:
            value = int(raw.strip()) if isinstance(raw, str) else raw
        except ValueError:
            raise ValueError(f"must be {wording}") from None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"must be {wording}")
        return value

    return parse


def decimal_between(low: float, high: float) -> Callable[[Any], float]:
    """A parser of a decimal number from ``low`` to ``high``, both included."""
    wording = f"a number from {low} to {high}"

    def parse(raw: Any) -> float:
        try:
            value = float(raw.strip()) if isinstance(raw, str) else raw
        except ValueError:
            raise ValueError(f"must be {wording}") from None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            raise ValueError(f"must be {wording}")
        return float(value)

    return parse


def choice(allowed: tuple[str, ...], normalise: Callable[[str], str]) -> Callable[[str], str]:
    """A parser that accepts one of ``allowed`` once ``normalise`` (e.g. str.upper) ran."""

    def parse(raw: str) -> str:
        value = normalise(raw.strip())
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return parse


def database_url(raw: str) -> str:
    """DATABASE_URL: a SQLAlchemy URL of a SQLite or PostgreSQL database."""
    value = raw.strip()
    wording = "must be a SQLAlchemy URL of a SQLite or PostgreSQL database"
    try:
        backend = make_url(value).get_backend_name()
    except (ArgumentError, ValueError):
        raise ValueError(wording) from None
    if backend not in DATABASE_BACKENDS:
        raise ValueError(wording)
    return value


def _items(raw: str) -> list[str]:
    return [item.strip().lower() for item in raw.split(",") if item.strip()]


def _is_http_url(value: str, *, path: bool) -> bool:
    """An http(s) URL with a host and a valid port, no user, query or fragment (not even
    an empty one), and a path only if ``path``."""
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 (an out-of-range port raises here)
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not parts.username
        and not (parts.query or parts.fragment or value.endswith(("?", "#")))
        and (path or not parts.path)
    )


def _origin(item: str) -> str:
    if not _is_http_url(item, path=False):
        raise ValueError("must list origins like https://portal.example.org, `loopback` or `*`")
    return item


def cors_origins(raw: str) -> str | list[str | re.Pattern[str]]:
    """CORS_ORIGINS: ``*``, or origins, with ``loopback`` as a pattern."""
    items = _items(raw)
    if ANY in items:
        if items != [ANY]:
            raise ValueError("`*` allows every origin and cannot be combined with others")
        return ANY
    return [LOOPBACK_ORIGIN if item == LOOPBACK else _origin(item) for item in items]


def _host(item: str) -> tuple[str, ...]:
    if item == LOOPBACK:
        return LOOPBACK_HOSTS
    if item.startswith("[") and item.endswith("]"):
        try:
            ipaddress.IPv6Address(item[1:-1])
        except ValueError:
            pass
        else:
            return (item,)
    elif _HOST_NAME.fullmatch(item.removeprefix(".")):
        return (item,)
    raise ValueError(
        "must list host names without scheme or port (`portal.example.org`, `.example.org` "
        "for it and its subdomains, `[::1]`), `loopback` or `*`"
    )


def allowed_hosts(raw: str) -> tuple[str, ...]:
    """ALLOWED_HOSTS: ``*``, or host names with ``loopback`` spelled out."""
    items = _items(raw)
    if ANY in items:
        if items != [ANY]:
            raise ValueError("`*` allows every host and cannot be combined with others")
        return (ANY,)
    if not items:
        raise ValueError("must name at least one host, `loopback` or `*`")
    return tuple(dict.fromkeys(host for item in items for host in _host(item)))


def rate_limit(raw: str) -> str:
    """RATE_LIMIT: limits in Flask-Limiter notation, or ``off``."""
    value = raw.strip()
    if value.lower() == "off":
        return "off"
    try:
        parsed = limits.parse_many(value)
    except ValueError:
        parsed = []
    if not parsed:
        raise ValueError("must be limits such as `600/minute` or `10/second;600/minute`, or `off`")
    return value


def rate_limit_storage(raw: str) -> str:
    """RATE_LIMIT_STORAGE: a storage URL the limits library knows (not async)."""
    value = raw.strip()
    scheme, separator, _ = value.partition("://")
    if not separator or scheme not in LIMITS_STORAGE_SCHEMES or scheme.startswith("async+"):
        raise ValueError(
            "must be a storage URL of the limits library: memory://, redis://host:6379, "
            "memcached://host:11211, ..."
        )
    return value


MIN_SECRET_KEY_LENGTH = 32


def api_token(raw: str) -> str:
    """API_TOKEN: printable ASCII without spaces, since it is sent in a header."""
    if any(not " " < character <= "~" for character in raw):
        raise ValueError("must be printable ASCII without spaces (it is sent in a header)")
    return raw


def secret_key(raw: str) -> str:
    """SECRET_KEY: empty, or at least 32 characters (it signs cookies and launch tokens)."""
    if raw and len(raw) < MIN_SECRET_KEY_LENGTH:
        raise ValueError(
            f"must be at least {MIN_SECRET_KEY_LENGTH} characters; make one with "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    return raw


def public_url(raw: str) -> str:
    """PUBLIC_URL: empty, or an http(s) URL without user, query or fragment."""
    value = raw.strip().rstrip("/")
    if not value:
        return ""
    if not _is_http_url(value, path=True):
        raise ValueError(
            "must be empty or an http:// or https:// URL without user, query or fragment"
        )
    return value


def public_host(public_url: str) -> str:
    """The host name of a PUBLIC_URL as a Host header spells it (IPv6 in brackets)."""
    hostname = urlsplit(public_url).hostname or ""
    return f"[{hostname}]" if ":" in hostname else hostname


def xapi_endpoint(raw: str) -> str:
    """XAPI_ENDPOINT: empty, or the http(s) URL of an LRS's xAPI base, which its
    resources (``statements``) follow; kept with one trailing slash."""
    value = raw.strip()
    if not value:
        return ""
    base = value.rstrip("/")
    if not _is_http_url(base, path=True):
        raise ValueError(
            "must be empty or the http:// or https:// URL of a Learning Record Store's "
            "xAPI base (such as `http://lrs:8100/xAPI/`), without user, query or fragment"
        )
    if base.rsplit("/", 1)[-1].lower() == "statements":
        raise ValueError(
            "must be the xAPI base the LRS's resources follow, without `statements` "
            "(lang-portal adds it): `http://lrs:8100/xAPI/`, not `.../xAPI/statements`"
        )
    return base + "/"


def basic_auth_username(raw: str) -> str:
    """XAPI_USERNAME: printable, without a colon, which ends the user in Basic auth."""
    if any(not character.isprintable() for character in raw) or ":" in raw:
        raise ValueError("must be printable and hold no colon (HTTP Basic authentication)")
    return raw


def basic_auth_password(raw: str) -> str:
    """XAPI_PASSWORD: printable characters (it is sent in a header)."""
    if any(not character.isprintable() for character in raw):
        raise ValueError("must be printable characters (it is sent in a header)")
    return raw
