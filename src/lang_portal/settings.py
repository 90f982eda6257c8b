"""Every setting lang-portal reads, defined once and validated at start.

:class:`Settings` is the one table: each field is a setting, with its name, its
default (spelled as the environment variable would spell it) and its help text.
A value comes from the ``overrides`` given to :func:`load` (``create_app``'s
``config``; tests use this), else from the environment variable
``LANG_PORTAL_<NAME>``, else from the default. Every value, the defaults
included, goes through the same parser, so a bad one stops the start with one
line naming the variable. The README's settings table is checked against
:data:`SETTINGS` by a test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lang_portal import setting_parsers as parsers
from lang_portal.setting_parsers import (
    ANY,
    AUTH_MODES,
    LOG_FORMATS,
    LOG_LEVELS,
    LOOPBACK,
    public_host,
)

ENV_PREFIX = "LANG_PORTAL_"
# Settings whose value is never repeated in an error message.
SECRET_SETTINGS = frozenset({"API_TOKEN", "SECRET_KEY", "XAPI_PASSWORD"})
_URL_PASSWORD = re.compile(r"(//[^/@:]*:)[^/@]*@")


class SettingError(ValueError):
    """A setting has a value that cannot be used; the one-line message names its variable."""


def _from_text(parse: Callable[[str], Any]) -> BeforeValidator:
    """Run ``parse`` on text; values that are not text were parsed already (overrides)."""
    return BeforeValidator(lambda raw: parse(raw) if isinstance(raw, str) else raw)


class Settings(BaseSettings):
    """Every setting: the field name is the variable without its prefix.

    Defaults are text, spelled as in the environment, and are parsed like any value.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=True,
        validate_default=True,
        enable_decoding=False,  # lists are comma-separated, not JSON
        extra="ignore",
    )

    DATABASE_URL: Annotated[str, _from_text(parsers.database_url)] = Field(
        "sqlite:///instance/lang-portal.db",
        description="SQLAlchemy URL of the database. The default is a SQLite file "
        "`instance/lang-portal.db` under the current directory; use "
        "`postgresql+psycopg://user@host:5432/db` for PostgreSQL.",
    )
    ALLOWED_HOSTS: Annotated[tuple[str, ...], _from_text(parsers.allowed_hosts)] = Field(
        LOOPBACK,
        description="Comma-separated host names the service answers to; a request with any "
        "other `Host` (or `X-Forwarded-Host` behind TRUSTED_PROXIES) gets a 400, which stops "
        "DNS rebinding. `loopback` stands for `localhost`, `127.0.0.1` and `[::1]`; "
        "`.example.org` allows it and every subdomain; `*` allows any host. Ports are not "
        "checked. The host of LANG_PORTAL_PUBLIC_URL is always allowed.",
    )
    CORS_ORIGINS: Annotated[str | list[str | re.Pattern[str]], _from_text(parsers.cors_origins)] = (
        Field(
            LOOPBACK,
            description="Comma-separated origins allowed to call the API from a browser, "
            "such as `https://portal.example.org`. `loopback` stands for http and https on "
            "`localhost`, `127.0.0.1` and `[::1]`, any port (a frontend dev server, local "
            "activities); `*` allows any origin (without credentials).",
        )
    )
    LOG_LEVEL: Annotated[str, _from_text(parsers.choice(LOG_LEVELS, str.upper))] = Field(
        "INFO", description="Python log level: DEBUG, INFO, WARNING or ERROR."
    )
    LOG_FORMAT: Annotated[str, _from_text(parsers.choice(LOG_FORMATS, str.lower))] = Field(
        "text", description="`text` for people, `json` for log collectors."
    )
    MAX_BODY_BYTES: Annotated[int, BeforeValidator(parsers.integer(1))] = Field(
        "65536", description="Largest accepted request body, in bytes (413 above)."
    )
    RATE_LIMIT: Annotated[str, _from_text(parsers.rate_limit)] = Field(
        "600/minute",
        description="Limit on write requests, all write routes together, per client address "
        "(per learner in the `accounts` mode), in Flask-Limiter notation (`600/minute`, "
        "`10/second;600/minute`); `off` disables it.",
    )
    RATE_LIMIT_STORAGE: Annotated[str, _from_text(parsers.rate_limit_storage)] = Field(
        "memory://",
        description="Where rate-limit counters live. `memory://` is per worker; "
        "`redis://host:6379` is shared by every worker and host.",
    )
    AUTH: Annotated[str, _from_text(parsers.choice(AUTH_MODES, str.lower))] = Field(
        "open",
        description="`open`: no sign-in; every request acts as the default learner (the "
        "single-user local default). `accounts`: one history per learner; people sign in to "
        "the portal with a name and password, and every API route needs an identity: the "
        "portal's cookie, or `Authorization: Bearer <token>` with a learner's token (from "
        "`lang-portal learners add` or `token`), a launch token, or LANG_PORTAL_API_TOKEN. "
        "Needs LANG_PORTAL_SECRET_KEY.",
    )
    SECRET_KEY: Annotated[str, _from_text(parsers.secret_key)] = Field(
        "",
        description="The key that signs the portal's sign-in cookie, its CSRF tokens and "
        "the launch tokens of outside activities: at least 32 random characters, the same "
        "on every worker and host. Required in the `accounts` mode; changing it signs "
        "everyone out and ends every launch token.",
    )
    API_TOKEN: Annotated[str, _from_text(parsers.api_token)] = Field(
        "",
        description="The operator's token. In the `open` mode, when set, every write needs "
        "`Authorization: Bearer <token>`; empty means writes are open. In the `accounts` "
        "mode it acts as the default learner, a teacher.",
    )
    TRUSTED_PROXIES: Annotated[int, BeforeValidator(parsers.integer(0))] = Field(
        "0",
        description="How many reverse proxies (load balancers) in front of lang-portal append "
        "to `X-Forwarded-For`. Above 0, the client address for rate limits is read from that "
        "header, and the host from `X-Forwarded-Host`; keep 0 when clients reach lang-portal "
        "directly, or they could forge them.",
    )
    PUBLIC_URL: Annotated[str, _from_text(parsers.public_url)] = Field(
        "",
        description="Base URL the service is reached at, such as `https://portal.example.org`; "
        "lang-portal's own links (study activities) start with it. Empty means links follow "
        "the URL each request came in on.",
    )
    DB_POOL_SIZE: Annotated[int, BeforeValidator(parsers.integer(1))] = Field(
        "5",
        description="Database connections kept open per worker process (PostgreSQL also "
        "allows as many again in overflow).",
    )
    DB_STATEMENT_TIMEOUT_MS: Annotated[int, BeforeValidator(parsers.integer(1))] = Field(
        "5000",
        description="Longest a statement may run (PostgreSQL) or wait for a lock (SQLite busy "
        "timeout), in milliseconds.",
    )
    IDEMPOTENCY_TTL_HOURS: Annotated[int, BeforeValidator(parsers.integer(1))] = Field(
        "24", description="How long an `Idempotency-Key` and its stored response are kept."
    )

    DESIRED_RETENTION: Annotated[float, BeforeValidator(parsers.decimal_between(0.7, 0.99))] = (
        Field(
            "0.9",
            description="The chance of recall at which FSRS schedules each card's next review, "
            "from 0.7 to 0.99: higher means more reviews and fewer words forgotten. A change "
            "applies to each card from its next review.",
        )
    )
    NEW_WORDS_PER_DAY: Annotated[int, BeforeValidator(parsers.integer(0))] = Field(
        "20",
        description="How many words a learner has never reviewed the due queue "
        "(`GET /api/study/due`) offers per UTC day, across all groups.",
    )
    XAPI_ENDPOINT: Annotated[str, _from_text(parsers.xapi_endpoint)] = Field(
        "",
        description="The xAPI endpoint of a Learning Record Store to send every review to, "
        "as an xAPI statement: the base URL its `statements` resource follows, such as "
        "`https://lrs.example.org/xAPI/`. Statements wait in an outbox written with each "
        "review and are sent in the background by `lang-portal serve`, or by `lang-portal "
        "xapi push`; an LRS outage delays them and loses none (docs/xapi.md). Empty: none "
        "are sent, or queued.",
    )
    XAPI_USERNAME: Annotated[str, _from_text(parsers.basic_auth_username)] = Field(
        "",
        description="The user lang-portal signs in to the Learning Record Store as (HTTP "
        "Basic authentication), with LANG_PORTAL_XAPI_PASSWORD; empty: no authentication.",
    )
    XAPI_PASSWORD: Annotated[str, _from_text(parsers.basic_auth_password)] = Field(
        "",
        description="The password of LANG_PORTAL_XAPI_USERNAME at the Learning Record "
        "Store. Never logged or shown.",
    )

    @model_validator(mode="after")
    def _accounts_need_a_secret_key(self) -> Settings:
        if self.AUTH == parsers.ACCOUNTS and not self.SECRET_KEY:
            raise ValueError(
                "LANG_PORTAL_SECRET_KEY must be set in the accounts mode (LANG_PORTAL_AUTH="
                "accounts): it signs the sign-in cookie and launch tokens; make one with "
                "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return self

    @model_validator(mode="after")
    def _lrs_user_and_password_go_together(self) -> Settings:
        if bool(self.XAPI_USERNAME) != bool(self.XAPI_PASSWORD):
            raise ValueError(
                "LANG_PORTAL_XAPI_USERNAME and LANG_PORTAL_XAPI_PASSWORD are set together "
                "(the Learning Record Store's Basic authentication) or not at all"
            )
        return self

    @model_validator(mode="after")
    def _allow_the_public_host(self) -> Settings:
        host = public_host(self.PUBLIC_URL)
        if host and ANY not in self.ALLOWED_HOSTS and host not in self.ALLOWED_HOSTS:
            self.ALLOWED_HOSTS = (*self.ALLOWED_HOSTS, host)
        return self


@dataclass(frozen=True)
class Setting:
    """One row of the settings table: name (without the prefix), default and help text."""

    name: str
    default: str
    help: str

    @property
    def env_var(self) -> str:
        """The environment variable that sets it, ``LANG_PORTAL_<NAME>``."""
        return ENV_PREFIX + self.name


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(name, str(field.default), field.description or "")
    for name, field in Settings.model_fields.items()
)
SETTINGS_NAMES = frozenset(setting.name for setting in SETTINGS)


def _shown(name: str, value: Any) -> str:
    """The value as an error message may repeat it: secrets and URL passwords hidden."""
    if name in SECRET_SETTINGS:
        return "(hidden)"
    return _URL_PASSWORD.sub(r"\1***@", repr(value))


def _describe(failure: ValidationError) -> str:
    """One line naming each bad variable, its value and what it must be."""
    problems = []
    for error in failure.errors(include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # a rule across settings: its message names them
            problems.append(message)
            continue
        name = str(error["loc"][0])
        problems.append(f"{ENV_PREFIX}{name}={_shown(name, error['input'])}: {message}")
    return "; ".join(problems)


def load(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Resolve every setting to its parsed value, by name (``{"LOG_LEVEL": "INFO", ...}``).

    ``overrides`` wins over the environment, which wins over the default; names in it
    that are not settings are ignored. Values in ``overrides`` that are not strings are
    taken as already parsed.

    Raises SettingError, with one line naming each bad variable, when a value is invalid.
    """
    given = {name: value for name, value in (overrides or {}).items() if name in SETTINGS_NAMES}
    try:
        resolved = Settings(**given)
    except ValidationError as failure:
        raise SettingError(_describe(failure)) from None
    return dict(resolved)
