"""Migration 0003 gives an existing history to the default learner, every answer kept.

Issue 15: a database the previous release wrote (revision 0002) is upgraded, and every
read of the API in the open mode answers exactly as the previous release answered
before the upgrade. The history is written, and the answers before are read, by the
previous release's own code (tests/previous_release.py runs it in a subprocess); the
answers after come from the current code, to the same requests (fields added since,
ADDED_FIELDS, aside).

Downgrading sums every learner's history back into the global counters the previous
release reads, and upgrading again gives it all to the default learner.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select

from lang_portal import db, migrate, schema
from tests import previous_release
from tests.conftest import make_app
from tests.previous_release import PREVIOUS_HEAD, read_all, summed_history, tables

# This migration, across which summed_history compares a database; the cards migration
# after it keeps every row (tests/test_cards_migration.py).
LEARNERS = "0003"

# The previous release's sort keys, pinned on purpose: what its clients ask for must
# be answered the same after the upgrade, whatever the whitelists become.
WORD_SORT_KEYS = ("kanji", "romaji", "english", "correct_count", "wrong_count")
GROUP_SORT_KEYS = ("name", "words_count", "word_count")
GROUP_SESSION_SORT_KEYS = (
    "created_at",
    "start_time",
    "startTime",
    "end_time",
    "endTime",
    "activity_name",
    "activityName",
    "group_name",
    "groupName",
    "review_items_count",
    "reviewItemsCount",
)
ORDERS = ("asc", "desc")
GROUPS = range(1, 8)  # the seeded groups
ACTIVITIES = range(1, 4)  # the seeded study activities


def _new_session(group_id: int, study_activity_id: int, path: str = "/api/study-sessions") -> dict:
    body = {"group_id": group_id, "study_activity_id": study_activity_id}
    return {"path": path, "json": body, "status": 201, "session": True}


def _batch(session: int, answers: list[tuple[int, bool]], path: str = "/api/study-sessions"):
    reviews = [{"word_id": word_id, "is_correct": correct} for word_id, correct in answers]
    return {"path": f"{path}/{{{session}}}/review", "json": {"reviews": reviews}, "status": 201}


def _single(session: int, word_id: int, correct: bool) -> dict:
    return {
        "path": f"/api/study-sessions/{{{session}}}/words/{word_id}/review",
        "json": {"correct": correct},
        "status": 201,
    }


# A history over every group and activity, written through every write route and
# spelling: batches with right and wrong answers (a word twice in one), single
# reviews, a session without reviews, a word answered often enough to be mastered,
# and Idempotency-Keyed writes, each sent twice (the second a replay).
KEYED_SESSION = {
    **_new_session(3, 3),
    "headers": {"Idempotency-Key": "session-before-the-upgrade"},
}
KEYED_SESSION_REPLAY = {**KEYED_SESSION, "session": False}
KEYED_BATCH = {
    **_batch(2, [(80, True), (81, False), (82, True)]),
    "headers": {"Idempotency-Key": "reviews-before-the-upgrade"},
}
HISTORY = [
    _new_session(1, 1),
    _batch(0, [(1, True), (2, True), (3, True), (4, False), (1, False)]),
    _single(0, 5, True),
    _new_session(2, 2, path="/api/v1/study_sessions"),
    {
        "path": "/study_sessions/{1}/review",
        "json": {"reviews": [{"word_id": w, "correct": w % 3 != 0} for w in range(40, 46)]},
        "status": 201,
    },
    KEYED_SESSION,
    KEYED_SESSION_REPLAY,
    KEYED_BATCH,
    KEYED_BATCH,
    _new_session(1, 2),
    _single(3, 1, False),
    _single(3, 6, True),
    _new_session(7, 1),  # no reviews
    _new_session(1, 1, path="/study_sessions"),
    _batch(5, [(7, True)] * 6 + [(8, True), (8, False)]),
    _new_session(4, 2),
    _batch(6, [(120, True), (121, True), (122, False)], path="/api/v1/study-sessions"),
    _new_session(5, 3),
    _single(7, 150, False),
    _new_session(6, 1),
    _batch(8, [(word_id, word_id % 2 == 0) for word_id in range(190, 200)]),
]
SESSIONS = sum(1 for write in HISTORY if write.get("session"))
REVIEWED_WORDS = (1, 2, 4, 5, 7, 8, 40, 45, 80, 81, 150, 199)


def _twins(path: str, legacy: bool = False) -> list[str]:
    """A read route under /api, /api/v1 and, for a legacy route, without a prefix."""
    return [f"/api{path}", f"/api/v1{path}", *([path] if legacy else [])]


def _reads() -> list[str]:
    """Every read route, each sort key and order, several pages, both spellings, misses."""
    reads: list[str] = []
    reads += _twins("/words", legacy=True)
    reads += [f"/api/words?sort_by={key}&order={o}" for key in WORD_SORT_KEYS for o in ORDERS]
    reads += [f"/api/words?sort_by=correct_count&order=desc&page={page}" for page in (2, 6, 7)]
    reads += ["/api/words?per_page=100&page=3", "/api/words?sort_by=nope", "/words?page=0"]
    for word_id in (*REVIEWED_WORDS, 3, 100, 263):
        reads += _twins(f"/words/{word_id}", legacy=word_id == 1)
    reads += ["/api/words/99999"]

    reads += _twins("/groups", legacy=True)
    reads += [f"/api/groups?sort_by={key}&order={o}" for key in GROUP_SORT_KEYS for o in ORDERS]
    reads += [f"/groups?per_page=3&page={page}" for page in (1, 2, 3, 4)]
    for group_id in (*GROUPS, 99):
        reads += _twins(f"/groups/{group_id}", legacy=group_id == 1)
        reads += _twins(f"/groups/{group_id}/words", legacy=group_id == 1)
        reads += _twins(f"/groups/{group_id}/words/raw", legacy=group_id == 1)
        reads += _twins(f"/groups/{group_id}/study-sessions")
        reads += _twins(f"/groups/{group_id}/study_sessions", legacy=True)
    reads += [
        f"/api/groups/1/words?sort_by={key}&order={o}&per_page=7&page={page}"
        for key in WORD_SORT_KEYS
        for o in ORDERS
        for page in (1, 2)
    ]
    reads += [
        f"/api/groups/1/study-sessions?sort_by={key}&order={o}"
        for key in GROUP_SESSION_SORT_KEYS
        for o in ORDERS
    ]
    reads += [f"/groups/1/study_sessions?per_page=2&page={page}" for page in (1, 2, 3)]

    for spelling in ("/study-activities", "/study_activities"):
        reads += _twins(spelling)
        for activity_id in (*ACTIVITIES, 99):
            for route in ("", "/sessions", "/launch"):
                reads += _twins(f"{spelling}/{activity_id}{route}")
        reads += [f"/api{spelling}/1/sessions?per_page=2&page={page}" for page in (1, 2, 3)]

    for spelling in ("/study-sessions", "/study_sessions"):
        reads += _twins(spelling)
        reads += [f"/api{spelling}?per_page=4&page={page}" for page in (1, 2, 3, 4)]
        for session in range(SESSIONS):
            reads += _twins(f"{spelling}/{{{session}}}")
        reads += [f"/api{spelling}/99999"]
    reads += [f"/api/study-sessions/{{0}}?per_page=2&page={page}" for page in (1, 2, 3, 4)]
    reads += [f"/api/study-sessions/{{8}}?per_page=3&page={page}" for page in (1, 4)]
    reads += ["/api/study-sessions?per_page=101"]

    reads += _twins("/dashboard/stats", legacy=True)
    reads += _twins("/dashboard/recent-session", legacy=True)
    return reads


READS = _reads()


@pytest.fixture(scope="session")
def previous_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The previous release's package (``src``), extracted from git."""
    return previous_release.source(tmp_path_factory.mktemp("previous-release"))


@pytest.fixture
def empty_database(database_url: str) -> str:
    """``database_url`` emptied (downgraded to base), for the previous release to build."""
    engine = create_engine(database_url)
    migrate.downgrade(engine, "base")
    engine.dispose()
    return database_url


@pytest.fixture
def cli_engine(database_url: str) -> Iterator[Engine]:
    """The engine `lang-portal init-db` migrates with (foreign keys on, on SQLite)."""
    engine = db.create_engine_from_settings(make_app(database_url).config)
    yield engine
    engine.dispose()


# The fields the cards release (migration 0004) added to the answers: a word's card and
# the dashboard's spaced-repetition figures. A client of the previous release never
# read them; every field it did read must answer the same.
# Issue 18 added the session lists' cursor, ``next_after``.
ADDED_FIELDS = frozenset(
    {"card", "due_now", "due_today", "mature_words", "retention_30d", "next_after"}
)


def _without_added_fields(answer: Any) -> Any:
    """``answer`` without ADDED_FIELDS, at any depth."""
    if isinstance(answer, dict):
        return {
            key: _without_added_fields(value)
            for key, value in answer.items()
            if key not in ADDED_FIELDS
        }
    if isinstance(answer, list):
        return [_without_added_fields(value) for value in answer]
    return answer


def _compare(expected: list[list[Any]], actual: list[list[Any]], reads: list[str]) -> None:
    """Every answer equal but for ADDED_FIELDS, with the differing requests named when
    some are not."""
    # The previous release had none of them: removing them hides no change.
    assert _without_added_fields(expected) == expected
    differing = [
        (path, before, after)
        for path, before, after in zip(reads, expected, _without_added_fields(actual), strict=True)
        if before != after
    ]
    changed = [path for path, _, _ in differing]
    assert not differing, f"{len(changed)} of {len(reads)} answers changed: {changed}; first: " + (
        f"before {differing[0][1]}, after {differing[0][2]}"
    )


def _learner_of_every_session(engine: Engine) -> set[int]:
    with engine.connect() as connection:
        return set(connection.execute(select(schema.study_sessions.c.learner_id)).scalars())


def test_upgrade_gives_the_history_to_the_default_learner_and_every_answer_stays(
    empty_database, previous_src, tmp_path, cli_engine
):
    before = previous_release.run(
        previous_src, tmp_path, empty_database, revision=PREVIOUS_HEAD, writes=HISTORY, reads=READS
    )
    sessions = before["sessions"]
    assert before["revision"] == PREVIOUS_HEAD and len(sessions) == SESSIONS
    keyed = HISTORY.index(KEYED_SESSION)
    assert before["writes"][keyed + 1] == before["writes"][keyed]  # the replay
    statuses = {status for status, _ in before["reads"]}
    assert statuses == {200, 400, 404}, statuses
    at_previous = tables(cli_engine)
    words = {row["id"]: row for row in at_previous["words"]}
    # Word 7 was answered right six times (mastered); the replayed batch counted once.
    assert [(words[w]["correct_count"], words[w]["wrong_count"]) for w in (7, 80, 81)] == [
        (6, 0),
        (1, 0),
        (0, 1),
    ]

    migrate.upgrade(cli_engine, LEARNERS)

    at_learners = tables(cli_engine)
    assert summed_history(at_learners) == at_previous
    assert [(row["id"], row["name"], row["role"]) for row in at_learners["learners"]] == [
        (1, "default", "teacher")
    ]
    assert {row["learner_id"] for row in at_learners["study_sessions"]} == {1}
    for name in ("word_progress", "group_progress", "activity_progress", "daily_activity"):
        assert at_learners[name] and {row["learner_id"] for row in at_learners[name]} == {1}, name
    # A progress row only where there was activity: none made of zeros.
    assert all(row["correct_count"] + row["wrong_count"] for row in at_learners["word_progress"])
    assert all(row["sessions_count"] for row in at_learners["group_progress"])
    assert {row["word_id"] for row in at_learners["word_progress"]} >= set(REVIEWED_WORDS)
    migrate.upgrade(cli_engine)
    at_head = tables(cli_engine)

    app = make_app(empty_database)
    try:
        client = app.test_client()
        assert app.config["AUTH"] == "open"
        _compare(before["reads"], read_all(client, READS, sessions), READS)

        # The Idempotency-Keys came along: a retry replays the answer stored before.
        replay = client.post(
            KEYED_SESSION["path"], json=KEYED_SESSION["json"], headers=KEYED_SESSION["headers"]
        )
        assert [replay.status_code, replay.get_json()] == before["writes"][keyed]
        assert tables(cli_engine)["study_sessions"] == at_head["study_sessions"]

        created = client.post("/api/study-sessions", json={"group_id": 2, "study_activity_id": 1})
        assert created.status_code == 201, created.get_json()
        assert created.get_json()["id"] > max(sessions)
        assert _learner_of_every_session(cli_engine) == {1}
    finally:
        app.extensions["lang_portal.engine"].dispose()


# Two learners' history on the same words, groups, activities and day, and the same
# Idempotency-Key used by both.
def _two_learners_history(client: Any, tokens: dict[str, str]) -> None:
    for name, group_id, activity_id, answers in (
        ("teacher", 1, 1, [(1, True), (2, False), (3, True)]),
        ("aiko", 1, 1, [(1, True), (1, True), (2, True), (4, False)]),
        ("aiko", 2, 3, [(40, False)]),
        ("teacher", 2, 2, [(41, True)]),
    ):
        headers = {"Authorization": f"Bearer {tokens[name]}"}
        started = client.post(
            "/api/study-sessions",
            json={"group_id": group_id, "study_activity_id": activity_id},
            headers=headers,
        )
        assert started.status_code == 201, started.get_json()
        reviews = [{"word_id": word_id, "is_correct": right} for word_id, right in answers]
        batch = client.post(
            f"/api/study-sessions/{started.get_json()['id']}/review",
            json={"reviews": reviews},
            headers={**headers, "Idempotency-Key": f"shared-key-{group_id}"},
        )
        assert batch.status_code == 201, batch.get_json()


def test_downgrade_sums_every_learner_and_upgrading_again_gives_it_all_to_the_default(
    database_url, previous_src, tmp_path, cli_engine
):
    app = make_app(database_url, AUTH="accounts", API_TOKEN="t" * 32)
    try:
        client = app.test_client()
        teacher = {"Authorization": "Bearer " + "t" * 32}
        added = client.post("/api/learners", json={"name": "Aiko"}, headers=teacher)
        assert added.status_code == 201, added.get_json()
        _two_learners_history(client, {"teacher": "t" * 32, "aiko": added.get_json()["token"]})
    finally:
        app.extensions["lang_portal.engine"].dispose()
    migrate.downgrade(cli_engine, LEARNERS)
    at_learners = tables(cli_engine)
    assert {row["learner_id"] for row in at_learners["study_sessions"]} == {1, 2}
    assert {row["learner_id"] for row in at_learners["idempotency_keys"]} == {1, 2}

    migrate.downgrade(cli_engine, PREVIOUS_HEAD)

    at_previous = tables(cli_engine)
    assert at_previous == summed_history(at_learners)
    words = {row["id"]: row for row in at_previous["words"]}
    assert [(words[w]["correct_count"], words[w]["wrong_count"]) for w in (1, 2, 4)] == [
        (3, 0),
        (1, 1),
        (0, 1),
    ]
    assert sum(row["sessions_count"] for row in at_previous["daily_activity"]) == 4
    sessions = [row["id"] for row in at_previous["study_sessions"]]
    reads = [path for path in READS if "{" not in path]
    reads += [f"{spelling}/{{{i}}}" for spelling in _twins("/study-sessions") for i in range(4)]
    before = previous_release.run(
        previous_src, tmp_path, database_url, sessions=sessions, reads=reads
    )
    assert before["revision"] == PREVIOUS_HEAD
    answers = dict(zip(reads, before["reads"], strict=True))
    assert answers["/api/dashboard/stats"][1]["total_sessions"] == 4
    assert answers["/api/dashboard/stats"][1]["total_words_studied"] == 6
    assert answers["/api/study-sessions"][1]["total"] == 4
    assert answers["/api/words/1"][1]["word"]["correct_count"] == 3

    migrate.upgrade(cli_engine, LEARNERS)

    again = tables(cli_engine)
    assert summed_history(again) == at_previous
    assert [row["id"] for row in again["learners"]] == [1]
    assert {row["learner_id"] for row in again["study_sessions"]} == {1}
    migrate.upgrade(cli_engine)
    app = make_app(database_url)
    try:
        _compare(before["reads"], read_all(app.test_client(), reads, sessions), reads)
    finally:
        app.extensions["lang_portal.engine"].dispose()
