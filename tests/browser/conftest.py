"""Fixtures for the browser tests: Debian's Chromium driven by Playwright.

The app runs in a real threaded HTTP server on 127.0.0.1 whose PUBLIC_URL is its own
address, so the activities' launch URLs point back at it. ``start_portal(public_url=False)``
leaves PUBLIC_URL unset instead, so links follow the URL each request came in on, and
``host="localhost"`` gives the portal's URL with that name for the same server.

Chromium is the system's (/usr/bin/chromium, from ``apt-get install chromium``);
``playwright install`` is never needed. Without Chromium or without the playwright
package, every browser test skips and says why. A failing test leaves a full-page
screenshot in test-artifacts/.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, Integer, cast, func, select
from werkzeug.serving import make_server

from lang_portal import schema
from lang_portal.queries.learners import DEFAULT_LEARNER_ID
from tests.conftest import make_app
from tests.servers import free_port

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # the test extra is not installed
    sync_playwright = expect = None

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if sync_playwright is None:
        return "browser tests skipped: the playwright package is missing (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"browser tests skipped: no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole run."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@dataclass
class Portal:
    """A running lang-portal: its base URL, app and engine (to check the database)."""

    url: str
    port: int
    app: Flask
    engine: Engine
    _stop: list[Callable[[], None]] = field(default_factory=list, repr=False)


@pytest.fixture
def start_portal(database_url: str) -> Iterator[Callable[..., Portal]]:
    """Start lang-portal on 127.0.0.1 and a free port; extra settings allowed.

    ``host`` is the name the portal's ``url`` uses for that address (127.0.0.1 or
    localhost). With ``public_url`` (the default) PUBLIC_URL is the 127.0.0.1 address;
    without it PUBLIC_URL is unset, so links are built from each request's own URL.
    """
    started: list[Portal] = []

    def start(*, host: str = "127.0.0.1", public_url: bool = True, **settings: Any) -> Portal:
        port = free_port()
        settings.setdefault("PUBLIC_URL", f"http://127.0.0.1:{port}" if public_url else "")
        app = make_app(database_url, **settings)
        server = make_server("127.0.0.1", port, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        portal = Portal(f"http://{host}:{port}", port, app, app.extensions["lang_portal.engine"])
        portal._stop.append(lambda: (server.shutdown(), thread.join(timeout=5)))
        started.append(portal)
        return portal

    yield start
    for portal in started:
        for stop in portal._stop:
            stop()
        portal.engine.dispose()


@pytest.fixture
def portal(start_portal: Callable[..., Portal]) -> Portal:
    """lang-portal with the default (open, single-user) settings."""
    return start_portal()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@dataclass
class BrowserErrors:
    """What went wrong in a page: JavaScript and console errors (CSP violations among
    them) in ``messages``; requests that failed or were answered 400 or above, images
    included, in ``failed_requests``."""

    messages: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def unexpected(self, *allowed: str) -> list[str]:
        """The messages that match none of the ``allowed`` regular expressions."""
        return [m for m in self.messages if not any(re.search(a, m) for a in allowed)]


@pytest.fixture
def page_errors() -> BrowserErrors:
    return BrowserErrors()


def _open_page(
    browser: Browser,
    request: pytest.FixtureRequest,
    errors: BrowserErrors,
    viewport: dict,
    screenshot_suffix: str = "",
) -> Iterator[Page]:
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.messages.append(f"pageerror: {error}"))
    page.on(
        "console",
        lambda message: (
            errors.messages.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    page.on(
        "requestfailed",
        lambda failed: errors.failed_requests.append(
            f"{failed.method} {failed.url}: {failed.failure}"
        ),
    )
    page.on(
        "response",
        lambda response: (
            errors.failed_requests.append(
                f"{response.request.method} {response.url}: {response.status}"
            )
            if response.status >= 400
            else None
        ),
    )
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        page.screenshot(path=str(ARTIFACTS / f"{name}{screenshot_suffix}.png"), full_page=True)
    context.close()


@pytest.fixture
def page(
    browser: Browser, request: pytest.FixtureRequest, page_errors: BrowserErrors
) -> Iterator[Page]:
    """A fresh desktop-sized tab; screenshotted into test-artifacts/ if the test fails."""
    yield from _open_page(browser, request, page_errors, DESKTOP)


@pytest.fixture
def second_page(
    browser: Browser, request: pytest.FixtureRequest, page_errors: BrowserErrors
) -> Iterator[Page]:
    """A desktop tab in a browser context of its own (its own cookies), for a second
    person in the same test; its failure screenshot ends in ``-second``."""
    yield from _open_page(browser, request, page_errors, DESKTOP, "-second")


@pytest.fixture
def phone_page(
    browser: Browser, request: pytest.FixtureRequest, page_errors: BrowserErrors
) -> Iterator[Page]:
    """A fresh tab 390 px wide, like a phone."""
    yield from _open_page(browser, request, page_errors, PHONE)


# -- helpers the browser tests share ----------------------------------------------------

GROUP_ID = 3  # Food and Drink: the smallest seeded group


def session_reviews(portal: Portal, study_session_id: int) -> tuple[int, int, int]:
    """(reviews, right, distinct words) recorded for a session, from the review rows."""
    with portal.engine.connect() as connection:
        row = connection.execute(
            select(
                func.count(),
                func.coalesce(func.sum(cast(schema.word_review_items.c.correct, Integer)), 0),
                func.count(schema.word_review_items.c.word_id.distinct()),
            ).where(schema.word_review_items.c.study_session_id == study_session_id)
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


def assert_session_stored(portal: Portal, study_session_id: int, total: int, right: int) -> None:
    """One review row per word of the round, ``right`` of them correct, and the session's
    counters saying the same; the session is the default learner's (the open mode's)."""
    assert session_reviews(portal, study_session_id) == (total, right, total)
    with portal.engine.connect() as connection:
        stored = connection.execute(
            select(schema.study_sessions).where(schema.study_sessions.c.id == study_session_id)
        ).one()
    counters = (stored.review_items_count, stored.correct_count, stored.wrong_count)
    assert counters == (total, right, total - right)
    assert stored.learner_id == DEFAULT_LEARNER_ID


def answer_cards(page: Page, total: int, correct) -> tuple[int, int]:
    """Answer all ``total`` cards; ``correct(index)`` decides each. Returns (right, wrong).

    Uses the keyboard (Space, then an arrow) for most cards and the on-screen buttons
    for every fifth, so both ways are exercised.
    """
    right = wrong = 0
    for index in range(total):
        expect(page.locator("#fc-position")).to_have_text(f"Card {index + 1} of {total}")
        is_right = correct(index)
        if index % 5 == 4:
            page.get_by_role("button", name="Show answer").click()
            expect(page.locator("#fc-meaning")).to_be_visible()
            page.get_by_role("button", name="Right" if is_right else "Wrong").click()
        else:
            page.keyboard.press("Space")
            expect(page.locator("#fc-meaning")).to_be_visible()
            page.keyboard.press("ArrowRight" if is_right else "ArrowLeft")
        right += is_right
        wrong += not is_right
    return right, wrong
