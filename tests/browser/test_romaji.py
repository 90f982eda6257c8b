"""The Typing Tutor's answer checking (static/js/romaji.js), run in Chromium.

Over the whole seeded vocabulary: each word's own romaji is accepted, and so are its
other spellings; a near miss (a letter dropped, a vowel changed) is refused. Then a
table of spellings: case, spaces, macrons, doubled vowels and Kunrei syllables.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import ROOT

try:
    from playwright.sync_api import Browser, Page
except ImportError:
    Browser = Page = None

ROMAJI_JS = ROOT / "src" / "lang_portal" / "static" / "js" / "romaji.js"
VOCABULARY = json.loads(
    (ROOT / "src" / "lang_portal" / "seed" / "vocabulary.json").read_text(encoding="utf-8")
)
SEEDED_WORDS = [word for words in VOCABULARY.values() for word in words]
VOWELS = "aiueo"


@pytest.fixture(scope="module")
def checker(browser: Browser) -> Iterator[Page]:
    """A blank page with romaji.js loaded, as the Typing Tutor loads it."""
    page = browser.new_page()
    page.add_script_tag(content=ROMAJI_JS.read_text(encoding="utf-8"))
    yield page
    page.close()


def is_correct(page: Page, word: dict[str, Any], answer: str) -> bool:
    return page.evaluate(
        "([word, answer]) => LangPortal.romaji.isCorrect(word, answer)", [word, answer]
    )


def near_misses(romaji: str) -> list[str]:
    """The reading with its last letter dropped, and with its last vowel changed."""
    last_vowel = max(romaji.rfind(vowel) for vowel in VOWELS)
    other = {"a": "e", "i": "o", "u": "a", "e": "i", "o": "a"}[romaji[last_vowel]]
    return [romaji[:-1], romaji[:last_vowel] + other + romaji[last_vowel + 1 :]]


def test_the_seed_words_all_have_a_vowel_to_change():
    """near_misses() needs a vowel in every reading; this holds it to the seed."""
    assert all(any(vowel in word["romaji"] for vowel in VOWELS) for word in SEEDED_WORDS)


@pytest.mark.parametrize("word", SEEDED_WORDS, ids=lambda word: word["romaji"])
def test_every_seeded_word_accepts_its_own_romaji_and_refuses_a_near_miss(
    checker: Page, word: dict[str, Any]
):
    assert is_correct(checker, word, word["romaji"])
    assert is_correct(checker, word, f" {word['romaji'].upper()} ")
    refused = [miss for miss in near_misses(word["romaji"]) if is_correct(checker, word, miss)]
    assert refused == []


def word(romaji: str, *parts: tuple[str, list[str]]) -> dict[str, Any]:
    return {"romaji": romaji, "parts": [{"kanji": k, "romaji": r} for k, r in parts]}


TOUKYOU = word("toukyou", ("東", ["to", "u"]), ("京", ["kyo", "u"]))
SHINBUN = word("shinbun", ("新", ["shi", "n"]), ("聞", ["bu", "n"]))
GAKKOU = word("gakkou", ("学", ["ga", "k"]), ("校", ["ko", "u"]))
OOKII = word("ookii", ("大", ["o", "o"]), ("き", ["ki"]), ("い", ["i"]))
TSUKAU = word("tsukau", ("使", ["tsu", "ka"]), ("う", ["u"]))
NO_PARTS = word("sumimasen")


@pytest.mark.parametrize(
    ("checked", "answer", "accepted"),
    [
        (TOUKYOU, "toukyou", True),
        (TOUKYOU, "Tōkyō", True),
        (TOUKYOU, "TÔKYÔ", True),
        (TOUKYOU, "tookyoo", True),
        (TOUKYOU, "tou kyou", True),
        (TOUKYOU, "tokyo", False),
        (TOUKYOU, "toukyo", False),
        (TOUKYOU, "toukyouu", False),
        (TOUKYOU, "", False),
        (TOUKYOU, "   ", False),
        (SHINBUN, "shimbun", True),
        (SHINBUN, "sinbun", True),
        (SHINBUN, "shinnbunn", True),
        (SHINBUN, "shibun", False),
        (GAKKOU, "gakkō", True),
        (GAKKOU, "gakou", False),
        (OOKII, "ōkii", True),
        (OOKII, "oukii", True),
        (OOKII, "okii", False),
        (TSUKAU, "tukau", True),
        (TSUKAU, "tsukao", False),
        (NO_PARTS, "Sumimasen", True),
        (NO_PARTS, "sumimasn", False),
    ],
)
def test_spellings_that_count_as_the_same(
    checker: Page, checked: dict[str, Any], answer: str, accepted: bool
):
    assert is_correct(checker, checked, answer) is accepted
