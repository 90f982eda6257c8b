"""The bundled vocabulary: enough of it, well formed, and loaded idempotently."""

from __future__ import annotations

from sqlalchemy import func, select

from lang_portal import db, schema, seed
from tests.conftest import count_rows


def test_bundled_data_is_large_enough_and_consistent():
    vocabulary = seed.bundled_vocabulary()
    assert len(vocabulary) >= 6
    all_words = [word for words in vocabulary.values() for word in words]
    assert len(all_words) >= 200
    for word in all_words:
        assert "".join(part["kanji"] for part in word["parts"]) == word["kanji"]
        assert "".join("".join(part["romaji"]) for part in word["parts"]) == word["romaji"]
    activities = seed.bundled_study_activities()
    assert len(activities) >= 3
    assert all(a["url"] and a["preview_url"] and a["description"] for a in activities)


def test_seeded_database_holds_the_bundled_data(engine):
    vocabulary = seed.bundled_vocabulary()
    assert count_rows(engine, "groups") == len(vocabulary)
    assert count_rows(engine, "words") == sum(len(words) for words in vocabulary.values())
    assert count_rows(engine, "study_activities") == len(seed.bundled_study_activities())


def test_loading_twice_adds_nothing_and_counters_match(engine):
    before = {name: count_rows(engine, name) for name in ("words", "groups", "word_groups")}
    with db.writing(engine) as connection:
        assert seed.load(connection) == 0
    assert {name: count_rows(engine, name) for name in before} == before
    with engine.connect() as connection:
        linked = dict(
            connection.execute(
                select(schema.word_groups.c.group_id, func.count()).group_by(
                    schema.word_groups.c.group_id
                )
            ).all()
        )
        counters = dict(
            connection.execute(select(schema.groups.c.id, schema.groups.c.words_count)).all()
        )
    assert counters == linked
