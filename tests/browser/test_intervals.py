"""The Review activity's interval labels (static/js/intervals.js), run in Chromium.

A table of lengths and the label each gets, across every unit and its edges: minutes,
hours and days are whole, months and years keep one decimal, and nothing is shorter
than "1m". Then a due time seen from a moment, and a time printed the portal's way.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.conftest import ROOT

try:
    from playwright.sync_api import Browser, Page
except ImportError:
    Browser = Page = None

INTERVALS_JS = ROOT / "src" / "lang_portal" / "static" / "js" / "intervals.js"
SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR


@pytest.fixture(scope="module")
def labeller(browser: Browser) -> Iterator[Page]:
    """A blank page with intervals.js loaded, as the Review activity loads it."""
    page = browser.new_page()
    page.add_script_tag(content=INTERVALS_JS.read_text(encoding="utf-8"))
    yield page
    page.close()


@pytest.mark.parametrize(
    ("milliseconds", "label"),
    [
        (-5 * SECOND, "1m"),  # already due
        (0, "1m"),
        (59 * SECOND, "1m"),
        (MINUTE, "1m"),
        (10 * MINUTE, "10m"),
        (59 * MINUTE, "59m"),
        (59 * MINUTE + 40 * SECOND, "1h"),
        (HOUR, "1h"),
        (5 * HOUR + 20 * MINUTE, "5h"),
        (23 * HOUR, "23h"),
        (23 * HOUR + 40 * MINUTE, "1d"),
        (3 * DAY, "3d"),
        (11 * DAY + 5 * HOUR, "11d"),
        (29 * DAY, "29d"),
        (30 * DAY, "1mo"),
        (45 * DAY, "1.5mo"),
        (61 * DAY, "2mo"),
        (300 * DAY, "9.9mo"),
        (365 * DAY, "1y"),
        (548 * DAY, "1.5y"),
        (3650 * DAY, "10y"),
    ],
)
def test_lengths_get_short_labels(labeller: Page, milliseconds: int, label: str):
    assert labeller.evaluate("ms => LangPortal.intervals.text(ms)", milliseconds) == label


def test_a_due_time_is_seen_from_a_moment_and_printed_in_utc(labeller: Page):
    now = "2026-11-22T10:15:30Z"
    assert (
        labeller.evaluate(
            "([due, now]) => LangPortal.intervals.until(due, Date.parse(now))",
            ["2026-11-25T10:15:30.5+00:00", now],
        )
        == "3d"
    )
    assert labeller.evaluate("t => LangPortal.intervals.utc(t)", "2026-11-22T19:15:30+09:00") == (
        "2026-11-22 10:15 UTC"
    )
