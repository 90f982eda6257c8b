"""Reading word files for ``lang-portal import``: JSON in the seed format, or CSV.

Every row is checked before anything is written, and every bad row is reported
with its line number, so an import is all or nothing.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)

CSV_COLUMNS = ("kanji", "romaji", "english")


class Part(BaseModel):
    """How one character of a word is read."""

    model_config = ConfigDict(strict=True)
    kanji: str = Field(min_length=1, max_length=10)
    romaji: list[str]


class ImportedWord(BaseModel):
    """A word as files and the seed data spell it."""

    model_config = ConfigDict(strict=True, str_strip_whitespace=True)
    kanji: str = Field(min_length=1, max_length=100)
    romaji: str = Field(min_length=1, max_length=200)
    english: str = Field(min_length=1, max_length=200)
    parts: list[Part] = Field(default_factory=list)


class ImportFailed(Exception):
    """The file has bad rows; ``problems`` holds one "line N: ..." message each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} bad row(s)")
        self.problems = problems


def _check(line: int, raw: Any, problems: list[str]) -> dict[str, Any] | None:
    try:
        return ImportedWord.model_validate(raw).model_dump()
    except ValidationError as failure:
        for error in failure.errors():
            where = ".".join(str(part) for part in error["loc"]) or "row"
            problems.append(f"line {line}: {where}: {error['msg']}")
    return None


def _json_items(text: str) -> list[tuple[int, Any]]:
    """The elements of a top-level JSON array, each with the line it starts on."""
    decoder = json.JSONDecoder()
    position = len(text) - len(text.lstrip())
    if not text.startswith("[", position):
        raise ImportFailed(["line 1: the file must hold a JSON array of words"])
    position += 1
    items: list[tuple[int, Any]] = []
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text):
            raise ImportFailed([f"line {text.count(chr(10)) + 1}: the JSON array is not closed"])
        if text[position] == "]":
            return items
        line = text.count("\n", 0, position) + 1
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise ImportFailed([f"line {error.lineno}: invalid JSON: {error.msg}"]) from None
        items.append((line, value))


def _csv_items(text: str) -> list[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ImportFailed([f"line 1: the CSV header lacks {', '.join(missing)}"])
    return [(reader.line_num, {c: row[c] or "" for c in CSV_COLUMNS}) for row in reader]


def read_words(path: Path) -> list[dict[str, Any]]:
    """Every word in a .json or .csv file. Raises ImportFailed listing every bad row."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFailed(["line 1: the file is not UTF-8 text"]) from None
    items = _csv_items(text) if path.suffix.lower() == ".csv" else _json_items(text)
    problems: list[str] = []
    words = [_check(line, raw, problems) for line, raw in items]
    if problems:
        raise ImportFailed(problems)
    return [word for word in words if word is not None]
