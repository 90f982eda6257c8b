"""Settings: one declarative table, environment overrides, and the README matching it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lang_portal import create_app
from lang_portal.settings import SETTINGS, SettingError, load

README = Path(__file__).resolve().parent.parent / "README.md"


def test_defaults(monkeypatch):
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env_var, raising=False)
    values = load()
    assert values["DATABASE_URL"] == "sqlite:///instance/lang-portal.db"
    assert values["MAX_BODY_BYTES"] == 65536
    assert values["CORS_ORIGINS"] == "*"
    assert values["LOG_FORMAT"] == "text"
    assert values["RATE_LIMIT"] == "600/minute"
    assert values["API_TOKEN"] == ""


def test_environment_then_config_override(monkeypatch):
    monkeypatch.setenv("LANG_PORTAL_MAX_BODY_BYTES", "1000")
    monkeypatch.setenv("LANG_PORTAL_CORS_ORIGINS", "http://a.test, http://b.test")
    assert load()["MAX_BODY_BYTES"] == 1000
    assert load()["CORS_ORIGINS"] == ["http://a.test", "http://b.test"]
    assert load({"MAX_BODY_BYTES": "2000"})["MAX_BODY_BYTES"] == 2000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_BODY_BYTES", "lots"),
        ("MAX_BODY_BYTES", "0"),
        ("LOG_FORMAT", "xml"),
        ("DB_POOL_SIZE", "-1"),
    ],
)
def test_invalid_values_name_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(f"LANG_PORTAL_{name}", value)
    with pytest.raises(SettingError, match=f"LANG_PORTAL_{name}"):
        load()


def test_app_reads_settings_into_config(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "MAX_BODY_BYTES": "123"})
    assert app.config["MAX_BODY_BYTES"] == 123
    assert app.config["MAX_CONTENT_LENGTH"] == 123


def test_readme_settings_table_matches_the_code():
    rows = re.findall(r"^\| `(LANG_PORTAL_\w+)` \| (.+?) \| (.+?) \|$", README.read_text(), re.M)
    documented = {name: (default, text) for name, default, text in rows}
    assert set(documented) == {setting.env_var for setting in SETTINGS}
    for setting in SETTINGS:
        default, text = documented[setting.env_var]
        assert default == (f"`{setting.default}`" if setting.default else "(empty)")
        assert text == setting.help
