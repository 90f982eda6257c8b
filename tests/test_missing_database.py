"""A SQLite file missing at start is a set-up step, said so by name; one lost later is an outage.

Issue 12: ``flask --app lang_portal run`` before ``init-db`` used to answer every page
with "the database is unavailable; try again shortly", which reads like an outage.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import make_app

NOT_SET_UP = (
    "lang-portal is not set up: its database file does not exist; run `lang-portal init-db`"
)
OUTAGE = "the database is unavailable; try again shortly"
NEW_SESSION = {"group_id": 1, "study_activity_id": 1}


@pytest.fixture
def missing_file(tmp_path: Path) -> Path:
    """Where the database should be, with no file there; relative parts show it is resolved."""
    (tmp_path / "data").mkdir()
    return tmp_path / "data" / ".." / "lang-portal.db"


@pytest.fixture
def app_without_database(missing_file: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Flask]:
    # lang_portal's loggers do not propagate to the root logger, where caplog listens.
    logger = logging.getLogger("lang_portal.db")
    logger.addHandler(caplog.handler)
    try:
        application = make_app(f"sqlite:///{missing_file}")
    finally:
        logger.removeHandler(caplog.handler)
    yield application
    application.extensions["lang_portal.engine"].dispose()


def test_the_log_names_the_missing_file_at_start(
    app_without_database: Flask, missing_file: Path, caplog: pytest.LogCaptureFixture
):
    # The line is written while the app is built, before any request (the fixture).
    records = [r for r in caplog.get_records("setup") if r.name == "lang_portal.db"]
    expected = f"database file {missing_file.resolve()} does not exist: run `lang-portal init-db`"
    assert [(r.levelno, r.getMessage()) for r in records] == [(logging.ERROR, expected)]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/groups"),
        ("GET", "/api/dashboard/stats"),
        ("POST", "/api/study-sessions"),
    ],
)
def test_an_api_request_says_the_service_is_not_set_up(
    app_without_database: Flask, missing_file: Path, tmp_path: Path, method: str, path: str
):
    client = app_without_database.test_client()
    response = client.open(path, method=method, json=NEW_SESSION if method == "POST" else None)
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["error"] == body["detail"] == NOT_SET_UP
    assert str(tmp_path) not in response.get_data(as_text=True)
    # The app never creates the database itself: that stays init-db's job.
    assert not missing_file.exists()


def test_a_page_says_the_service_is_not_set_up(
    app_without_database: Flask, missing_file: Path, tmp_path: Path
):
    response = app_without_database.test_client().get("/")
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "lang-portal is not set up: its database file does not exist." in page
    assert "Run `lang-portal init-db`" in page
    assert "unavailable" not in page
    assert str(tmp_path) not in page
    assert not missing_file.exists()


def test_once_init_db_has_run_the_same_app_serves(
    app_without_database: Flask, missing_file: Path, sqlite_template: Path
):
    client = app_without_database.test_client()
    assert client.get("/api/groups").status_code == 503
    shutil.copyfile(sqlite_template, missing_file)  # what init-db leaves behind
    response = client.get("/api/groups")
    assert response.status_code == 200
    assert response.get_json()["groups"]


@pytest.fixture
def app_whose_file_disappears(tmp_path: Path, sqlite_template: Path) -> Iterator[Flask]:
    """An app started on an existing file, which the test then removes."""
    path = tmp_path / "lang-portal.db"
    shutil.copyfile(sqlite_template, path)
    application = make_app(f"sqlite:///{path}")
    assert application.test_client().get("/api/groups").status_code == 200
    path.unlink()
    yield application
    application.extensions["lang_portal.engine"].dispose()


def test_a_file_removed_after_start_is_an_outage_on_the_api(app_whose_file_disappears: Flask):
    response = app_whose_file_disappears.test_client().get("/api/groups")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["error"] == OUTAGE


def test_a_file_removed_after_start_is_an_outage_on_a_page(app_whose_file_disappears: Flask):
    response = app_whose_file_disappears.test_client().get("/")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    page = response.get_data(as_text=True)
    assert "cannot reach its database right now" in page
    assert "not set up" not in page


def test_a_file_created_and_then_removed_is_an_outage_too(
    app_without_database: Flask, missing_file: Path, sqlite_template: Path
):
    client = app_without_database.test_client()
    shutil.copyfile(sqlite_template, missing_file)
    assert client.get("/api/groups").status_code == 200
    missing_file.unlink()
    response = client.get("/api/groups")
    assert response.status_code == 503
    assert response.get_json()["error"] == OUTAGE
