"""Words: the vocabulary with each word's review counts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection

from lang_portal import queries
from lang_portal.api.cards import Card, card_body
from lang_portal.api.lookup import found
from lang_portal.api.pagination import SortedPageQuery, legacy_page
from lang_portal.api.routing import routes
from lang_portal.identity import LAUNCH_VOCABULARY

# The whitelist's keys, in its order; they become the OpenAPI enum.
WordSortKey = Literal[tuple(queries.words.SORT_COLUMNS)]  # type: ignore[valid-type]


class WordListQuery(SortedPageQuery):
    """``?page&per_page&sort_by&order``: 50 words a page unless per_page says otherwise."""

    per_page: int = Field(50, ge=1, le=100, description="Words per page, 1 to 100.")
    sort_by: WordSortKey = "kanji"


class WordItem(BaseModel):
    """A word and how often the learner answered it right and wrong, over all their
    sessions."""

    id: int
    kanji: str
    romaji: str
    english: str
    correct_count: int
    wrong_count: int


class WordList(BaseModel):
    """A page of words, in the shape the lang-portal frontend reads."""

    words: list[WordItem]
    total_pages: int
    current_page: int
    total_words: int


class GroupName(BaseModel):
    """A group a word belongs to."""

    id: int
    name: str


class WordWithGroups(WordItem):
    """A word with the groups it belongs to, and the learner's card (null when they never
    reviewed it)."""

    groups: list[GroupName]
    card: Card | None


class WordDetail(BaseModel):
    """One word, wrapped the way the lang-portal frontend reads it."""

    word: WordWithGroups


@routes.get(
    "/words",
    query=WordListQuery,
    response=WordList,
    legacy=True,
    scoped=True,
    launch=LAUNCH_VOCABULARY,
    errors=(400,),
)
def list_words(connection: Connection, learner_id: int, query: WordListQuery) -> dict[str, Any]:
    """List words with the learner's review counts, sorted by kanji, romaji, english or a
    count."""
    total = queries.words.count(connection)
    items = queries.words.page(connection, learner_id, **query.window())
    return {**legacy_page("words", items, total, query), "total_words": total}


@routes.get(
    "/words/<id:word_id>",
    response=WordDetail,
    legacy=True,
    scoped=True,
    launch=LAUNCH_VOCABULARY,
    errors=(404,),
)
def get_word(connection: Connection, learner_id: int, word_id: int) -> dict[str, Any]:
    """Show one word, the learner's review counts and card of it, and its groups."""
    word = found(queries.words.get(connection, learner_id, word_id), "word")
    card = queries.cards.card_of(connection, learner_id, word_id)
    return {"word": {**word, "card": card_body(card, datetime.now(UTC))}}
