"""The bundled vocabulary and study activities, loaded on first start.

``vocabulary.json`` maps a group name to its words; each word is
``{"kanji", "romaji", "english", "parts": [{"kanji", "romaji": [...]}]}``, the
same format ``lang-portal import`` reads. Loading is idempotent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from lang_portal import queries

SEED_DIR = Path(__file__).parent


def bundled_vocabulary() -> dict[str, list[dict[str, Any]]]:
    """Group name -> words, as shipped with the package."""
    return json.loads((SEED_DIR / "vocabulary.json").read_text(encoding="utf-8"))


def bundled_study_activities() -> list[dict[str, str]]:
    """The study activities shipped with the package."""
    return json.loads((SEED_DIR / "study_activities.json").read_text(encoding="utf-8"))


def load(connection: Connection) -> int:
    """Load the bundled data; returns how many words were newly linked to groups."""
    linked = 0
    for group_name, group_words in bundled_vocabulary().items():
        group_id = queries.vocabulary.ensure_group(connection, group_name)
        linked += queries.vocabulary.add_words(connection, group_id, group_words)
    for activity in bundled_study_activities():
        queries.vocabulary.ensure_study_activity(connection, activity)
    return linked
