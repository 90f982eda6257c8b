"""Settings: one declarative table, validated at start, and the README matching it."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from lang_portal import create_app
from lang_portal.cli import main
from lang_portal.setting_parsers import LOOPBACK_ORIGIN
from lang_portal.settings import SETTINGS, SettingError, load
from tests.conftest import count_rows

README = Path(__file__).resolve().parent.parent / "README.md"

# Values no setting may take, each with a word of the message that says why.
BAD_VALUES = {
    "DATABASE_URL": ["lots", "", "mysql://user@host/db", "://nothing"],
    "ALLOWED_HOSTS": [
        "",
        " , ",
        "portal.example.org:8000",
        "https://portal.example.org",
        "*, localhost",
        "bad_host",
        "[not-ipv6]",
        "exa mple.org",
    ],
    "CORS_ORIGINS": [
        "portal.example.org",
        "ftp://portal.example.org",
        "https://portal.example.org/path",
        "https://portal.example.org:99999",
        "https://user@portal.example.org",
        "*, http://localhost:5173",
        "null",
    ],
    "LOG_LEVEL": ["verbose", "", "5", "CRITICAL"],
    "LOG_FORMAT": ["xml", ""],
    "MAX_BODY_BYTES": ["lots", "0", "-5", "1.5", ""],
    "RATE_LIMIT": ["lots", "", "600", "600/fortnight", "ten/minute", "on"],
    "RATE_LIMIT_STORAGE": ["redis", "memory", "nosuch://host", "async+redis://host", ""],
    "AUTH": ["accounts-mode", "", "closed", "token"],
    "API_TOKEN": ["two words", "tab\tinside", "line\nbreak", "café"],
    "SECRET_KEY": ["short", "x" * 31],
    "TRUSTED_PROXIES": ["-1", "one", "", "0.5"],
    "PUBLIC_URL": [
        "portal.example.org",
        "ftp://portal.example.org",
        "https://",
        "https://portal.example.org:99999",
        "https://portal.example.org/?next=1",
        "https://portal.example.org/#top",
        "https://user:pw@portal.example.org",
    ],
    "DB_POOL_SIZE": ["0", "-1", "five"],
    "DB_STATEMENT_TIMEOUT_MS": ["0", "soon", "1e3"],
    "IDEMPOTENCY_TTL_HOURS": ["0", "a day"],
    "DESIRED_RETENTION": ["0.69", "1", "0.995", "ninety", "nan", "true"],
    "NEW_WORDS_PER_DAY": ["-1", "many", "2.5"],
    # Each alone; the two credentials go together (tests/test_xapi_settings.py).
    "XAPI_ENDPOINT": [
        "lrs.example.org/xAPI",
        "ftp://lrs.example.org/xAPI/",
        "https://user:pw@lrs.example.org/xAPI/",
        "https://lrs.example.org/xAPI/?x=1",
        "https://lrs.example.org/xAPI/statements",
    ],
    "XAPI_USERNAME": ["name:with-colon", "line\nbreak"],
    "XAPI_PASSWORD": ["line\nbreak", "tab\tinside"],
}


def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env_var, raising=False)


def test_every_setting_has_bad_values_listed():
    # Derived from the table on purpose: a new setting fails here until it is tried.
    assert set(BAD_VALUES) == {setting.name for setting in SETTINGS}


@pytest.mark.parametrize(
    ("name", "value"),
    [(name, value) for name, values in BAD_VALUES.items() for value in values],
)
def test_a_bad_value_names_its_variable_in_one_line(monkeypatch, name, value):
    _clean_environment(monkeypatch)
    monkeypatch.setenv(f"LANG_PORTAL_{name}", value)
    with pytest.raises(SettingError) as failure:
        load()
    message = str(failure.value)
    assert message.startswith(f"LANG_PORTAL_{name}="), message
    assert "\n" not in message
    assert "must" in message or "cannot" in message


@pytest.mark.parametrize(
    ("name", "value"), [(name, values[0]) for name, values in BAD_VALUES.items()]
)
def test_an_override_is_checked_like_the_environment(monkeypatch, name, value):
    _clean_environment(monkeypatch)
    with pytest.raises(SettingError, match=f"^LANG_PORTAL_{name}="):
        load({name: value})


def test_the_token_is_never_repeated_in_the_message(monkeypatch):
    _clean_environment(monkeypatch)
    monkeypatch.setenv("LANG_PORTAL_API_TOKEN", "secret with a space")
    with pytest.raises(SettingError) as failure:
        load()
    assert "secret" not in str(failure.value)
    assert str(failure.value).startswith("LANG_PORTAL_API_TOKEN=(hidden): ")


def test_a_database_password_is_never_repeated_in_the_message(monkeypatch):
    _clean_environment(monkeypatch)
    monkeypatch.setenv("LANG_PORTAL_DATABASE_URL", "mysql://user:hunter2@host/db")
    with pytest.raises(SettingError) as failure:
        load()
    assert "hunter2" not in str(failure.value)


def test_defaults(monkeypatch):
    _clean_environment(monkeypatch)
    values = load()
    assert values == {
        "DATABASE_URL": "sqlite:///instance/lang-portal.db",
        "ALLOWED_HOSTS": ("localhost", "127.0.0.1", "[::1]"),
        "CORS_ORIGINS": [LOOPBACK_ORIGIN],
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "text",
        "MAX_BODY_BYTES": 65536,
        "RATE_LIMIT": "600/minute",
        "RATE_LIMIT_STORAGE": "memory://",
        "AUTH": "open",
        "API_TOKEN": "",
        "SECRET_KEY": "",
        "TRUSTED_PROXIES": 0,
        "PUBLIC_URL": "",
        "DB_POOL_SIZE": 5,
        "DB_STATEMENT_TIMEOUT_MS": 5000,
        "IDEMPOTENCY_TTL_HOURS": 24,
        "DESIRED_RETENTION": 0.9,
        "NEW_WORDS_PER_DAY": 20,
        "XAPI_ENDPOINT": "",
        "XAPI_USERNAME": "",
        "XAPI_PASSWORD": "",
    }


@pytest.mark.parametrize(
    ("name", "value", "parsed"),
    [
        ("DATABASE_URL", "postgresql+psycopg://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("DATABASE_URL", "sqlite://", "sqlite://"),
        ("ALLOWED_HOSTS", "Portal.Example.org", ("portal.example.org",)),
        (
            "ALLOWED_HOSTS",
            ".example.org, loopback",
            (".example.org", "localhost", "127.0.0.1", "[::1]"),
        ),
        ("ALLOWED_HOSTS", "[::1], 10.0.0.7", ("[::1]", "10.0.0.7")),
        ("ALLOWED_HOSTS", "*", ("*",)),
        (
            "CORS_ORIGINS",
            "http://a.test, https://b.test:8443",
            ["http://a.test", "https://b.test:8443"],
        ),
        ("CORS_ORIGINS", "loopback, https://A.test", [LOOPBACK_ORIGIN, "https://a.test"]),
        ("CORS_ORIGINS", "*", "*"),
        ("CORS_ORIGINS", "", []),
        ("LOG_LEVEL", "debug", "DEBUG"),
        ("LOG_LEVEL", " Warning ", "WARNING"),
        ("LOG_FORMAT", "JSON", "json"),
        ("MAX_BODY_BYTES", "1000", 1000),
        ("RATE_LIMIT", "10/second;600/minute", "10/second;600/minute"),
        ("RATE_LIMIT", "5 per minute", "5 per minute"),
        ("RATE_LIMIT", "OFF", "off"),
        ("RATE_LIMIT_STORAGE", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("RATE_LIMIT_STORAGE", "memcached://host:11211", "memcached://host:11211"),
        ("API_TOKEN", "s3cret-token_1.~", "s3cret-token_1.~"),
        ("SECRET_KEY", "k" * 32, "k" * 32),
        ("TRUSTED_PROXIES", "2", 2),
        ("PUBLIC_URL", "https://portal.example.org/", "https://portal.example.org"),
        ("PUBLIC_URL", "http://10.0.0.7:8000/lang/", "http://10.0.0.7:8000/lang"),
        ("DB_POOL_SIZE", "20", 20),
        ("DB_STATEMENT_TIMEOUT_MS", "250", 250),
        ("IDEMPOTENCY_TTL_HOURS", "1", 1),
    ],
)
def test_good_values_parse(monkeypatch, name, value, parsed):
    _clean_environment(monkeypatch)
    monkeypatch.setenv(f"LANG_PORTAL_{name}", value)
    assert load()[name] == parsed


@pytest.mark.parametrize(
    ("public_url", "allowed_hosts", "expected"),
    [
        (
            "https://portal.example.org",
            "loopback",
            ("localhost", "127.0.0.1", "[::1]", "portal.example.org"),
        ),
        ("http://[fd00::7]:8000", "localhost", ("localhost", "[fd00::7]")),
        ("https://portal.example.org", "portal.example.org", ("portal.example.org",)),
        ("https://portal.example.org", "*", ("*",)),
    ],
)
def test_the_public_url_host_is_always_allowed(monkeypatch, public_url, allowed_hosts, expected):
    _clean_environment(monkeypatch)
    values = load({"PUBLIC_URL": public_url, "ALLOWED_HOSTS": allowed_hosts})
    assert values["ALLOWED_HOSTS"] == expected


def test_environment_then_config_override(monkeypatch):
    _clean_environment(monkeypatch)
    monkeypatch.setenv("LANG_PORTAL_MAX_BODY_BYTES", "1000")
    assert load()["MAX_BODY_BYTES"] == 1000
    assert load({"MAX_BODY_BYTES": "2000"})["MAX_BODY_BYTES"] == 2000
    # Values that are not text were parsed already, and are still held to the rules.
    assert load({"MAX_BODY_BYTES": 3000})["MAX_BODY_BYTES"] == 3000
    with pytest.raises(SettingError, match=r"^LANG_PORTAL_MAX_BODY_BYTES=0: "):
        load({"MAX_BODY_BYTES": 0})
    # Names that are not settings (Flask's own, in create_app's config) are left alone.
    assert "TESTING" not in load({"TESTING": True})


def test_app_reads_settings_into_config(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "MAX_BODY_BYTES": "123"})
    assert app.config["MAX_BODY_BYTES"] == 123
    assert app.config["MAX_CONTENT_LENGTH"] == 123


def test_the_app_applies_log_level_and_rate_limit_from_the_environment(monkeypatch, database_url):
    """Parsing is not enough: the logger's level and the write limit follow the variables."""
    _clean_environment(monkeypatch)
    monkeypatch.setenv("LANG_PORTAL_LOG_LEVEL", "debug")
    monkeypatch.setenv("LANG_PORTAL_RATE_LIMIT", "1/minute")
    app = create_app({"DATABASE_URL": database_url, "TESTING": True})
    try:
        assert (app.config["LOG_LEVEL"], app.config["RATE_LIMIT"]) == ("DEBUG", "1/minute")
        assert logging.getLogger("lang_portal").level == logging.DEBUG
        client = app.test_client()
        session = {"group_id": 1, "study_activity_id": 1}
        assert client.post("/api/study-sessions", json=session).status_code == 201
        assert client.post("/api/study-sessions", json=session).status_code == 429
        engine = app.extensions["lang_portal.engine"]
        assert count_rows(engine, "study_sessions") == 1  # the refused write stored nothing
    finally:
        app.extensions["lang_portal.engine"].dispose()
        logging.getLogger("lang_portal").setLevel(logging.WARNING)


@pytest.mark.parametrize(
    ("name", "value"), [("LOG_LEVEL", "verbose"), ("RATE_LIMIT", "lots"), ("PUBLIC_URL", "x")]
)
def test_create_app_refuses_a_bad_value_before_it_starts(monkeypatch, tmp_path, name, value):
    monkeypatch.setenv(f"LANG_PORTAL_{name}", value)
    with pytest.raises(SettingError, match=f"^LANG_PORTAL_{name}={value!r}: must "):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})


CLI_FAILURES = [
    ("LOG_LEVEL", "verbose", "must be one of DEBUG, INFO, WARNING, ERROR"),
    (
        "RATE_LIMIT",
        "lots",
        "must be limits such as `600/minute` or `10/second;600/minute`, or `off`",
    ),
    ("DB_POOL_SIZE", "0", "must be a positive integer"),
]


@pytest.mark.parametrize("command", ["init-db", "import"])
@pytest.mark.parametrize(("name", "value", "reason"), CLI_FAILURES)
def test_the_cli_prints_one_line_and_exits_1(monkeypatch, tmp_path, command, name, value, reason):
    monkeypatch.chdir(tmp_path)
    words = tmp_path / "words.csv"
    words.write_text("kanji,romaji,english\n猫,neko,cat\n", encoding="utf-8")
    monkeypatch.setenv(f"LANG_PORTAL_{name}", value)
    arguments = [command] if command == "init-db" else [command, str(words), "--group", "Pets"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 1
    assert result.output.splitlines() == [f"Error: LANG_PORTAL_{name}={value!r}: {reason}"]
    assert [path.name for path in tmp_path.iterdir()] == ["words.csv"], "no database is made"


def test_readme_settings_table_matches_the_code():
    rows = re.findall(r"^\| `(LANG_PORTAL_\w+)` \| (.+?) \| (.+?) \|$", README.read_text(), re.M)
    documented = {name: (default, text) for name, default, text in rows}
    assert len(rows) == len(documented), "a variable is listed twice"
    assert list(documented) == [setting.env_var for setting in SETTINGS], "same rows, same order"
    for setting in SETTINGS:
        default, text = documented[setting.env_var]
        assert default == (f"`{setting.default}`" if setting.default else "(empty)")
        assert text == setting.help


def test_the_accounts_mode_parses_with_a_secret_key(monkeypatch):
    _clean_environment(monkeypatch)
    monkeypatch.setenv("LANG_PORTAL_AUTH", " Accounts ")
    monkeypatch.setenv("LANG_PORTAL_SECRET_KEY", "k" * 32)
    assert load()["AUTH"] == "accounts"


def test_the_accounts_mode_without_a_secret_key_stops_the_start(monkeypatch):
    """Cookies and launch tokens would be signed with nothing, or with a key each worker
    made up for itself: one line says what to set instead."""
    _clean_environment(monkeypatch)
    monkeypatch.setenv("LANG_PORTAL_AUTH", "accounts")
    with pytest.raises(SettingError) as failure:
        load()
    message = str(failure.value)
    assert message.startswith("LANG_PORTAL_SECRET_KEY must be set in the accounts mode")
    assert "\n" not in message


def test_a_secret_key_is_never_repeated_in_an_error(monkeypatch):
    _clean_environment(monkeypatch)
    monkeypatch.setenv("LANG_PORTAL_SECRET_KEY", "too-short-to-sign")
    with pytest.raises(SettingError) as failure:
        load()
    assert "too-short-to-sign" not in str(failure.value)
    assert str(failure.value).startswith("LANG_PORTAL_SECRET_KEY=(hidden): ")
