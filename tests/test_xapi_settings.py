"""The LRS settings: LANG_PORTAL_XAPI_ENDPOINT, _USERNAME and _PASSWORD.

The bad values of each alone are in tests/test_settings.py's table; here, what the
endpoint becomes, the rule that the credentials go together, and that the password is
never shown.
"""

from __future__ import annotations

import pytest

from lang_portal.settings import SETTINGS, SettingError, load
from lang_portal.xapi_sender import Lrs


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env_var, raising=False)


@pytest.mark.parametrize(
    ("raw", "endpoint", "statements_url"),
    [
        ("http://lrs:8100/xAPI/", "http://lrs:8100/xAPI/", "http://lrs:8100/xAPI/statements"),
        (" http://lrs:8100/xAPI ", "http://lrs:8100/xAPI/", "http://lrs:8100/xAPI/statements"),
        (
            "https://lrs.example.org/data/xAPI//",
            "https://lrs.example.org/data/xAPI/",
            "https://lrs.example.org/data/xAPI/statements",
        ),
        (
            "https://lrs.example.org",
            "https://lrs.example.org/",
            "https://lrs.example.org/statements",
        ),
    ],
)
def test_the_endpoint_is_the_xapi_base_statements_follow(
    monkeypatch, raw, endpoint, statements_url
):
    monkeypatch.setenv("LANG_PORTAL_XAPI_ENDPOINT", raw)
    config = load()
    assert config["XAPI_ENDPOINT"] == endpoint
    lrs = Lrs.from_config(config)
    assert lrs is not None and lrs.statements_url == statements_url


def test_no_endpoint_no_lrs(monkeypatch):
    monkeypatch.setenv("LANG_PORTAL_XAPI_ENDPOINT", "  ")
    config = load()
    assert config["XAPI_ENDPOINT"] == ""
    assert Lrs.from_config(config) is None


def test_the_statements_url_is_refused_with_what_to_give_instead(monkeypatch):
    monkeypatch.setenv("LANG_PORTAL_XAPI_ENDPOINT", "http://lrs:8100/xAPI/statements/")
    with pytest.raises(SettingError) as failure:
        load()
    assert str(failure.value).startswith("LANG_PORTAL_XAPI_ENDPOINT='http://lrs:8100/xAPI/")
    assert "without `statements`" in str(failure.value)


@pytest.mark.parametrize("given", ["XAPI_USERNAME", "XAPI_PASSWORD"])
def test_the_username_and_password_are_set_together(monkeypatch, given):
    monkeypatch.setenv(f"LANG_PORTAL_{given}", "hunter2-secret")
    with pytest.raises(SettingError) as failure:
        load()
    message = str(failure.value)
    assert message.startswith(
        "LANG_PORTAL_XAPI_USERNAME and LANG_PORTAL_XAPI_PASSWORD are set together"
    )
    assert "hunter2" not in message and "\n" not in message


def test_a_bad_password_is_never_repeated(monkeypatch):
    monkeypatch.setenv("LANG_PORTAL_XAPI_USERNAME", "lang-portal")
    monkeypatch.setenv("LANG_PORTAL_XAPI_PASSWORD", "hunter2\nsecret")
    with pytest.raises(SettingError) as failure:
        load()
    assert str(failure.value).startswith("LANG_PORTAL_XAPI_PASSWORD=(hidden): must be printable")
    assert "hunter2" not in str(failure.value)


def test_credentials_are_sent_utf8_and_the_password_is_not_in_the_repr(monkeypatch):
    monkeypatch.setenv("LANG_PORTAL_XAPI_ENDPOINT", "https://lrs.example.org/xAPI/")
    monkeypatch.setenv("LANG_PORTAL_XAPI_USERNAME", "école")
    monkeypatch.setenv("LANG_PORTAL_XAPI_PASSWORD", "pässwörd 日本")
    lrs = Lrs.from_config(load())
    assert lrs is not None
    assert lrs.auth() == ("école".encode(), "pässwörd 日本".encode())
    assert "pässwörd" not in repr(lrs)


def test_no_username_no_authentication(monkeypatch):
    monkeypatch.setenv("LANG_PORTAL_XAPI_ENDPOINT", "https://lrs.example.org/xAPI/")
    lrs = Lrs.from_config(load())
    assert lrs is not None and lrs.auth() is None
